//! The JSON `runwasm state` prints: runc's shape, which containerd, CRI-O and podman parse.

use std::collections::HashMap;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use libcontainer::container::{Container, ContainerStatus};
use serde::Serialize;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuncState {
    pub oci_version: String,
    pub id: String,
    /// 0 once the container has stopped, as runc reports it.
    pub pid: i32,
    pub status: &'static str,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: DateTime<Utc>,
    pub owner: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<HashMap<String, String>>,
}

pub fn status_name(status: ContainerStatus) -> &'static str {
    match status {
        ContainerStatus::Creating => "creating",
        ContainerStatus::Created => "created",
        ContainerStatus::Running => "running",
        ContainerStatus::Stopped => "stopped",
        ContainerStatus::Paused => "paused",
    }
}

impl RuncState {
    pub fn of(container: &Container, rootfs: PathBuf) -> Self {
        let status = container.status();
        let pid = match status {
            ContainerStatus::Stopped => 0,
            _ => container.pid().map(|p| p.as_raw()).unwrap_or(0),
        };
        Self {
            oci_version: container.state.oci_version.clone(),
            id: container.id().to_string(),
            pid,
            status: status_name(status),
            bundle: container.bundle().clone(),
            rootfs,
            created: container.created().unwrap_or_else(Utc::now),
            owner: String::new(),
            annotations: container.state.annotations.clone(),
        }
    }
}
