//! Bounds on the host work a container can cause, each settable in the environment of the
//! runtime (containerd's, CRI-O's, podman's, which `runwasm` and the shim inherit).

/// The largest module `runwasm` reads (bytes; `K`, `M`, `G` suffixes are binary multiples).
pub const MODULE_MAX_ENV: &str = "RUNWASM_MODULE_MAX";
pub const DEFAULT_MODULE_MAX: u64 = 256 << 20;

/// The compile cache's size on disk, past which the least recently used artifacts go.
pub const CACHE_MAX_ENV: &str = "RUNWASM_CACHE_MAX";
pub const DEFAULT_CACHE_MAX: u64 = 2 << 30;

/// The memory a compile may use when the container sets no memory limit.
pub const COMPILE_MEMORY_MAX_ENV: &str = "RUNWASM_COMPILE_MEMORY_MAX";
pub const DEFAULT_COMPILE_MEMORY_MAX: u64 = 2 << 30;

/// How long a compile may take, in seconds.
pub const COMPILE_TIMEOUT_ENV: &str = "RUNWASM_COMPILE_TIMEOUT";
pub const DEFAULT_COMPILE_TIMEOUT_SECS: u64 = 120;

pub fn max_module_bytes() -> u64 {
    bytes_from_env(MODULE_MAX_ENV, DEFAULT_MODULE_MAX)
}

pub fn max_cache_bytes() -> u64 {
    bytes_from_env(CACHE_MAX_ENV, DEFAULT_CACHE_MAX)
}

pub fn max_compile_memory() -> u64 {
    bytes_from_env(COMPILE_MEMORY_MAX_ENV, DEFAULT_COMPILE_MEMORY_MAX)
}

pub fn compile_timeout() -> std::time::Duration {
    std::time::Duration::from_secs(
        std::env::var(COMPILE_TIMEOUT_ENV)
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .filter(|secs| *secs > 0)
            .unwrap_or(DEFAULT_COMPILE_TIMEOUT_SECS),
    )
}

/// The value of `name` as a size, or `default` (with a warning when it does not parse).
fn bytes_from_env(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(value) => parse_size(&value).unwrap_or_else(|| {
            tracing::warn!("{name}={value:?} is not a size; using {default}");
            default
        }),
        Err(_) => default,
    }
}

/// `1048576`, `512K`, `64M`, `2G`, `1T` (binary multiples; an optional trailing `B`/`iB`).
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let text = text
        .strip_suffix("iB")
        .or_else(|| text.strip_suffix('B'))
        .unwrap_or(text);
    let (digits, shift) = match text.chars().last()? {
        'k' | 'K' => (&text[..text.len() - 1], 10),
        'm' | 'M' => (&text[..text.len() - 1], 20),
        'g' | 'G' => (&text[..text.len() - 1], 30),
        't' | 'T' => (&text[..text.len() - 1], 40),
        _ => (text, 0),
    };
    digits.trim().parse::<u64>().ok()?.checked_mul(1 << shift)
}

/// The container's memory limit from its spec, if it sets one.
pub fn container_memory_limit(spec: &oci_spec::runtime::Spec) -> Option<u64> {
    spec.linux()
        .as_ref()
        .and_then(|l| l.resources().as_ref())
        .and_then(|r| r.memory().as_ref())
        .and_then(|m| m.limit())
        .filter(|limit| *limit > 0)
        .map(|limit| limit as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_suffixes() {
        assert_eq!(parse_size("1048576"), Some(1 << 20));
        assert_eq!(parse_size("512K"), Some(512 << 10));
        assert_eq!(parse_size("64M"), Some(64 << 20));
        assert_eq!(parse_size("2GiB"), Some(2 << 30));
        assert_eq!(parse_size(" 3g "), Some(3 << 30));
        assert_eq!(parse_size("1T"), Some(1 << 40));
        assert_eq!(parse_size("lots"), None);
        assert_eq!(parse_size(""), None);
        assert_eq!(parse_size("99999999999T"), None);
    }
}
