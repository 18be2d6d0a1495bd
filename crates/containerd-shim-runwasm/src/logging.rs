//! The shim's log, as containerd's Go shims write theirs: logrus text lines with nanosecond
//! times and `runtime=io.containerd.runwasm.v1`, into the `log` fifo of the bundle that
//! containerd copies into its own log (stderr for the `start` and `delete` actions, which
//! containerd reads). Everything logs through `tracing`: the shim, the container layer
//! (runwasm-container, libcontainer, libcgroups, with their spans' fields) and the
//! containerd-shim crate's `log` records.

use std::fs::OpenOptions;
use std::io::Write;

use runwasm_log::{LogFormat, LogrusLayer, TimePrecision};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

/// containerd-shim's variable for the level, read the same way.
const LEVEL_ENV: &str = "RUST_LOG";

/// The level: `-debug` (containerd's own level is debug) lowers it to debug, as for the Go
/// shims; else RUST_LOG, else info.
pub fn level(debug: bool, env: Option<&str>) -> LevelFilter {
    let configured = env
        .and_then(|value| value.parse().ok())
        .unwrap_or(LevelFilter::INFO);
    if debug {
        configured.max(LevelFilter::DEBUG)
    } else {
        configured
    }
}

/// Installs the shim's subscriber for `action` ("" is the daemon serving the task API).
pub fn init(action: &str, debug: bool, runtime_id: &'static str) {
    let sink: Box<dyn Write + Send> = match action {
        // the fifo containerd opened before starting the daemon, in its working directory
        "" => match OpenOptions::new().write(true).open("log") {
            Ok(fifo) => Box::new(fifo),
            Err(_) => Box::new(std::io::stderr()),
        },
        _ => Box::new(std::io::stderr()),
    };
    let env = std::env::var(LEVEL_ENV).ok();
    let layer = LogrusLayer::new(LogFormat::Text, TimePrecision::Nanos, sink)
        .with_field("runtime", runtime_id);
    let _ = tracing_subscriber::registry()
        .with(layer.with_filter(targets(level(debug, env.as_deref()))))
        .try_init();
}

/// Below debug, two libraries are quieted: ttrpc narrates every server shutdown at info, and
/// libcgroups warns at each cgroup v1 manager it makes on a host without some controller
/// (`cgroup net_cls not supported on this system`, four lines per delete on a hybrid host).
pub fn targets(level: LevelFilter) -> Targets {
    let quiet = |floor: LevelFilter| {
        if level >= LevelFilter::DEBUG {
            level
        } else {
            level.min(floor)
        }
    };
    Targets::new()
        .with_default(level)
        .with_target("ttrpc", quiet(LevelFilter::WARN))
        .with_target("libcgroups", quiet(LevelFilter::ERROR))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_flag_lowers_the_level_never_raises_it() {
        assert_eq!(level(false, None), LevelFilter::INFO);
        assert_eq!(level(true, None), LevelFilter::DEBUG);
        assert_eq!(level(false, Some("warn")), LevelFilter::WARN);
        assert_eq!(level(true, Some("trace")), LevelFilter::TRACE);
        assert_eq!(level(false, Some("nonsense")), LevelFilter::INFO);
    }

    #[test]
    fn chatty_libraries_are_quieted_below_debug() {
        use tracing::Level;
        let info = targets(LevelFilter::INFO);
        assert!(info.would_enable("runwasm_container::runtime", &Level::INFO));
        assert!(!info.would_enable("ttrpc::sync::server", &Level::INFO));
        assert!(info.would_enable("ttrpc::sync::server", &Level::WARN));
        assert!(!info.would_enable("libcgroups::v1::manager", &Level::WARN));
        assert!(info.would_enable("libcgroups::v1::manager", &Level::ERROR));
        let debug = targets(LevelFilter::DEBUG);
        assert!(debug.would_enable("libcgroups::v1::manager", &Level::DEBUG));
        assert!(debug.would_enable("ttrpc::sync::server", &Level::INFO));
        let error = targets(LevelFilter::ERROR);
        assert!(!error.would_enable("ttrpc::sync::server", &Level::WARN));
    }
}
