//! Cgroup metrics of a task for `ctr task metrics` and the kubelet.

use containerd_shim::cgroup::{collect_metrics, get_cgroup};
use containerd_shim::protos::protobuf::well_known_types::any::Any;
use containerd_shim::protos::protobuf::Message;

use crate::service::to_any;

pub fn collect(pid: u32) -> Result<Any, containerd_shim::Error> {
    let metrics = collect_metrics(&get_cgroup(pid)?)?;
    let bytes = metrics.write_to_bytes()?;
    Ok(to_any("io.containerd.cgroups.v1.Metrics", &bytes))
}
