//! How a `wasi:http` component is served, read once from its container's spec (before any
//! process is forked, so a bad value fails `create` naming the setting).
//!
//! The address comes from the process environment as runwasi reads it
//! (`WASMTIME_HTTP_PROXY_SOCKET_ADDR`), so images move between the two; the rest are
//! annotations (docs/wasi-http.md).

use std::net::SocketAddr;
use std::time::Duration;

use oci_spec::runtime::Spec;

pub const ADDRESS_ENV: &str = "WASMTIME_HTTP_PROXY_SOCKET_ADDR";
pub const ANNOTATION_ADDRESS: &str = "run.runwasm.http.address";
pub const ANNOTATION_MAX_CONCURRENCY: &str = "run.runwasm.http.max-concurrency";
pub const ANNOTATION_QUEUE_TIMEOUT: &str = "run.runwasm.http.queue-timeout-ms";
pub const ANNOTATION_GRACE_PERIOD: &str = "run.runwasm.http.grace-period";
pub const ANNOTATION_ACCESS_LOG: &str = "run.runwasm.http.access-log";

/// Every annotation read here, for `runwasm features`.
pub const ANNOTATIONS: [&str; 5] = [
    ANNOTATION_ADDRESS,
    ANNOTATION_MAX_CONCURRENCY,
    ANNOTATION_QUEUE_TIMEOUT,
    ANNOTATION_GRACE_PERIOD,
    ANNOTATION_ACCESS_LOG,
];

pub const DEFAULT_ADDRESS: &str = "0.0.0.0:8080";
pub const DEFAULT_MAX_CONCURRENCY: u32 = 64;
/// Each request in flight holds a pooled instance slot; past this the pool's address-space
/// reservation stops being cheap.
pub const MAX_CONCURRENCY_LIMIT: u32 = 4096;
pub const DEFAULT_QUEUE_TIMEOUT: Duration = Duration::from_millis(1000);
pub const DEFAULT_GRACE_PERIOD: Duration = Duration::from_secs(10);
const MAX_QUEUE_TIMEOUT_MS: u64 = 600_000;
const MAX_GRACE_PERIOD_SECS: u64 = 3600;

/// Whether the handler may send requests (`wasi:http/outgoing-handler`), decided by
/// [`Outgoing::of_this_network`] in the serving process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outgoing {
    /// The container has a network: the host's, a pod's, a bridge's.
    Allowed,
    /// Its network namespace holds nothing but loopback: a request is refused with
    /// `HTTP-request-denied` rather than failing to connect.
    Denied,
}

impl Outgoing {
    /// Looks at this process's network namespace. It is read when the server starts, not
    /// from the spec: a new namespace may be set up between create and start (Docker 28's
    /// libnetwork does so without a hook). If the interfaces cannot be listed, connects
    /// decide.
    pub fn of_this_network() -> Self {
        // SAFETY: if_nameindex returns an array ended by a zero entry, freed just below.
        unsafe {
            let list = nix::libc::if_nameindex();
            if list.is_null() {
                return Self::Allowed;
            }
            let mut entry = list;
            let mut beyond_loopback = false;
            while (*entry).if_index != 0 {
                beyond_loopback |= std::ffi::CStr::from_ptr((*entry).if_name).to_bytes() != b"lo";
                entry = entry.add(1);
            }
            nix::libc::if_freenameindex(list);
            if beyond_loopback {
                Self::Allowed
            } else {
                Self::Denied
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeSettings {
    pub address: SocketAddr,
    /// Requests handled at once (each in its own instance).
    pub max_concurrency: u32,
    /// How long a request past `max_concurrency` waits for a slot before a 503.
    pub queue_timeout: Duration,
    /// After SIGTERM, how long requests in flight may take before the server exits anyway.
    pub grace_period: Duration,
    pub access_log: bool,
    pub outgoing: Outgoing,
    /// The container's memory limit: no single instance's linear memory may grow past it.
    pub memory_limit: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
#[error("invalid {name} {value:?}: {reason}")]
pub struct SettingError {
    pub name: String,
    pub value: String,
    pub reason: String,
}

impl Default for ServeSettings {
    fn default() -> Self {
        Self {
            address: DEFAULT_ADDRESS.parse().expect("the default address parses"),
            max_concurrency: DEFAULT_MAX_CONCURRENCY,
            queue_timeout: DEFAULT_QUEUE_TIMEOUT,
            grace_period: DEFAULT_GRACE_PERIOD,
            access_log: true,
            outgoing: Outgoing::Allowed,
            memory_limit: None,
        }
    }
}

impl ServeSettings {
    pub fn from_spec(spec: &Spec) -> Result<Self, SettingError> {
        let mut settings = Self::default();
        let annotation = |key: &str| {
            spec.annotations()
                .as_ref()
                .and_then(|a| a.get(key))
                .map(|v| v.trim().to_string())
        };
        let env_address = spec
            .process()
            .as_ref()
            .and_then(|p| p.env().as_ref())
            .and_then(|env| {
                env.iter()
                    .rev()
                    .find_map(|kv| kv.strip_prefix(ADDRESS_ENV)?.strip_prefix('='))
            })
            .map(|v| (ADDRESS_ENV, v.trim().to_string()));
        if let Some((name, value)) =
            env_address.or_else(|| Some((ANNOTATION_ADDRESS, annotation(ANNOTATION_ADDRESS)?)))
        {
            settings.address = value
                .parse()
                .map_err(|_| invalid(name, &value, "expected IP:PORT, e.g. 0.0.0.0:8080"))?;
        }
        if let Some(value) = annotation(ANNOTATION_MAX_CONCURRENCY) {
            settings.max_concurrency = number(
                ANNOTATION_MAX_CONCURRENCY,
                &value,
                1,
                MAX_CONCURRENCY_LIMIT.into(),
            )? as u32;
        }
        if let Some(value) = annotation(ANNOTATION_QUEUE_TIMEOUT) {
            let ms = number(ANNOTATION_QUEUE_TIMEOUT, &value, 0, MAX_QUEUE_TIMEOUT_MS)?;
            settings.queue_timeout = Duration::from_millis(ms);
        }
        if let Some(value) = annotation(ANNOTATION_GRACE_PERIOD) {
            let secs = number(ANNOTATION_GRACE_PERIOD, &value, 0, MAX_GRACE_PERIOD_SECS)?;
            settings.grace_period = Duration::from_secs(secs);
        }
        if let Some(value) = annotation(ANNOTATION_ACCESS_LOG) {
            settings.access_log = match value.as_str() {
                "on" => true,
                "off" => false,
                _ => return Err(invalid(ANNOTATION_ACCESS_LOG, &value, "expected on or off")),
            };
        }
        settings.memory_limit = crate::limits::container_memory_limit(spec);
        Ok(settings)
    }
}

fn invalid(name: &str, value: &str, reason: &str) -> SettingError {
    SettingError {
        name: name.to_string(),
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

fn number(name: &str, value: &str, min: u64, max: u64) -> Result<u64, SettingError> {
    value
        .parse::<u64>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| {
            invalid(
                name,
                value,
                &format!("expected a whole number from {min} to {max}"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(annotations: &str, env: &str) -> Spec {
        serde_json::from_str(&format!(
            r#"{{"ociVersion":"1.0.2","root":{{"path":"rootfs"}},
            "annotations":{{{annotations}}},
            "process":{{"cwd":"/","args":["/http.wasm"],"env":[{env}],"user":{{"uid":0,"gid":0}}}},
            "linux":{{"namespaces":[{{"type":"network"}}],
                      "resources":{{"memory":{{"limit":268435456}}}}}}}}"#
        ))
        .unwrap()
    }

    #[test]
    fn defaults_follow_runwasi() {
        let s = ServeSettings::from_spec(&spec("", "")).unwrap();
        assert_eq!(s.address, "0.0.0.0:8080".parse().unwrap());
        assert_eq!(s.max_concurrency, DEFAULT_MAX_CONCURRENCY);
        assert!(s.access_log);
        assert_eq!(
            s.outgoing,
            Outgoing::Allowed,
            "until the serving process looks"
        );
        assert_eq!(s.memory_limit, Some(256 << 20));
    }

    #[test]
    fn the_environment_names_the_address_before_the_annotation() {
        let s = ServeSettings::from_spec(&spec(
            r#""run.runwasm.http.address":"127.0.0.1:9000""#,
            r#""WASMTIME_HTTP_PROXY_SOCKET_ADDR=127.0.0.1:7000""#,
        ))
        .unwrap();
        assert_eq!(s.address, "127.0.0.1:7000".parse().unwrap());
        let s = ServeSettings::from_spec(&spec(
            r#""run.runwasm.http.address":"[::1]:9000""#,
            r#""PATH=/bin""#,
        ))
        .unwrap();
        assert_eq!(s.address, "[::1]:9000".parse().unwrap());
    }

    #[test]
    fn annotations_set_the_bounds_and_bad_values_name_the_setting() {
        let s = ServeSettings::from_spec(&spec(
            r#""run.runwasm.http.max-concurrency":"2","run.runwasm.http.queue-timeout-ms":"0",
               "run.runwasm.http.grace-period":"3","run.runwasm.http.access-log":"off""#,
            "",
        ))
        .unwrap();
        assert_eq!(s.max_concurrency, 2);
        assert_eq!(s.queue_timeout, Duration::ZERO);
        assert_eq!(s.grace_period, Duration::from_secs(3));
        assert!(!s.access_log);
        for (annotations, env, named) in [
            (
                r#""run.runwasm.http.max-concurrency":"0""#,
                "",
                ANNOTATION_MAX_CONCURRENCY,
            ),
            (
                r#""run.runwasm.http.max-concurrency":"99999""#,
                "",
                ANNOTATION_MAX_CONCURRENCY,
            ),
            (
                r#""run.runwasm.http.grace-period":"-1""#,
                "",
                ANNOTATION_GRACE_PERIOD,
            ),
            (
                r#""run.runwasm.http.access-log":"yes""#,
                "",
                ANNOTATION_ACCESS_LOG,
            ),
            (
                "",
                r#""WASMTIME_HTTP_PROXY_SOCKET_ADDR=localhost""#,
                ADDRESS_ENV,
            ),
        ] {
            let err = ServeSettings::from_spec(&spec(annotations, env)).unwrap_err();
            assert_eq!(err.name, named, "{err}");
            assert!(
                err.to_string().starts_with(&format!("invalid {named} ")),
                "{err}"
            );
        }
    }
}
