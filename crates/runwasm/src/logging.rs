//! Logs in the shape runc's callers read: with `--log-format json` one logrus-style line per
//! event, `{"level":"error","msg":"...","time":"..."}`; containerd's runc shim and CRI-O show
//! the last `error` line to the user when a command fails.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{filter::LevelFilter, Layer};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            other => Err(format!("invalid log format {other:?}: use text or json")),
        }
    }
}

enum Sink {
    Stderr,
    File(Mutex<File>),
}

struct RuncLogLayer {
    format: LogFormat,
    sink: Sink,
}

#[derive(Default)]
struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0.insert_str(0, &format!("{value:?}"));
        } else {
            self.0.push_str(&format!(" {}={value:?}", field.name()));
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.insert_str(0, value);
        } else {
            self.0.push_str(&format!(" {}={value:?}", field.name()));
        }
    }
}

impl<S: Subscriber> Layer<S> for RuncLogLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut msg = Message::default();
        event.record(&mut msg);
        let level = match *event.metadata().level() {
            Level::ERROR => "error",
            Level::WARN => "warning",
            Level::INFO => "info",
            Level::DEBUG => "debug",
            Level::TRACE => "trace",
        };
        let line = line(self.format, level, &msg.0);
        match &self.sink {
            Sink::Stderr => eprintln!("{line}"),
            Sink::File(file) => {
                if let Ok(mut f) = file.lock() {
                    let _ = writeln!(f, "{line}");
                }
            }
        }
    }
}

/// One logrus line as runc writes it (seconds, UTC): `time="..." level=error msg="..."` or
/// `{"level":"error","msg":"...","time":"..."}`.
fn line(format: LogFormat, level: &str, msg: &str) -> String {
    let time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    match format {
        LogFormat::Json => {
            serde_json::json!({"level": level, "msg": msg, "time": time}).to_string()
        }
        LogFormat::Text => format!("time={time:?} level={level} msg={msg:?}"),
    }
}

/// The error line for a failure before the log is set up (usage errors): clap's first line
/// without its `error: ` label.
pub fn usage_error_line(message: &str) -> String {
    let first = message.lines().next().unwrap_or_default();
    line(
        LogFormat::Text,
        "error",
        first.strip_prefix("error: ").unwrap_or(first),
    )
}

/// Sends events at `level` and above to `path` (or stderr) in `format`; returns whether they
/// go to a file (then errors are also printed bare on stderr, as runc does).
pub fn init(path: Option<&Path>, format: LogFormat, level: LevelFilter) -> std::io::Result<bool> {
    let sink = match path {
        Some(p) if p != Path::new("/dev/stderr") => Sink::File(Mutex::new(
            OpenOptions::new().create(true).append(true).open(p)?,
        )),
        _ => Sink::Stderr,
    };
    let to_file = matches!(sink, Sink::File(_));
    let _ = tracing_subscriber::registry()
        .with(RuncLogLayer { format, sink }.with_filter(level))
        .try_init();
    Ok(to_file)
}
