//! Logs in the shape runc's callers read (runwasm-log): with `--log-format json` one
//! logrus-style line per event, `{"level":"error","msg":"...","time":"..."}`; containerd's
//! runc shim and CRI-O show the last `error` line to the user when a command fails.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use runwasm_log::{line, LogrusLayer, TimePrecision};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{filter::LevelFilter, Layer};

pub use runwasm_log::LogFormat;

/// The error line for a failure before the log is set up (usage errors): clap's first line
/// without its `error: ` label.
pub fn usage_error_line(message: &str) -> String {
    let first = message.lines().next().unwrap_or_default();
    line(
        LogFormat::Text,
        TimePrecision::Seconds,
        "error",
        first.strip_prefix("error: ").unwrap_or(first),
        &[],
    )
}

/// Sends events at `level` and above to `path` (or stderr) in `format`; returns whether they
/// go to a file (then errors are also printed bare on stderr, as runc does).
pub fn init(path: Option<&Path>, format: LogFormat, level: LevelFilter) -> std::io::Result<bool> {
    let (sink, to_file): (Box<dyn Write + Send>, bool) = match path {
        Some(p) if p != Path::new("/dev/stderr") => (
            Box::new(OpenOptions::new().create(true).append(true).open(p)?),
            true,
        ),
        _ => (Box::new(std::io::stderr()), false),
    };
    let layer = LogrusLayer::new(format, TimePrecision::Seconds, sink);
    let _ = tracing_subscriber::registry()
        .with(layer.with_filter(level))
        .try_init();
    Ok(to_file)
}
