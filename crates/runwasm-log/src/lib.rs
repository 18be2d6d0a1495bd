//! Log lines in the shapes the runc family writes and its callers read, from `tracing`
//! events: logrus text (`time="..." level=info msg="..." key=value`) or logrus JSON
//! (`{"level":"info","msg":"...","time":"...","key":"value"}`).
//!
//! - The `runwasm` CLI writes them to `--log` as runc does: containerd's runc shim and CRI-O
//!   show the last `error` line to the user when a command fails.
//! - The shim writes them to the log fifo that containerd copies into its own log, as
//!   containerd's Go shims do, so the container layer's events and spans reach it.
//!
//! An event's fields, and those of the spans it happened in (outermost first), become the
//! line's fields after `msg`.

use std::fmt::Write as _;
use std::io::Write;
use std::sync::Mutex;

use chrono::SecondsFormat;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

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

/// How the `time` field is written: runc writes whole seconds, containerd's shims
/// nanoseconds (`RFC3339NanoFixed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimePrecision {
    Seconds,
    Nanos,
}

/// The fields of an event or span, in the order they were recorded; `message` is kept apart.
#[derive(Default)]
struct Fields {
    message: String,
    pairs: Vec<(&'static str, String)>,
}

impl Fields {
    fn push(&mut self, field: &Field, value: String) {
        match field.name() {
            "message" => self.message = value,
            // tracing-log's copy of a `log` record's metadata (target, file, line): not a field
            // of the event, and what the Go shims never print
            name if name.starts_with("log.") => {}
            name => self.pairs.push((name, value)),
        }
    }
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.push(field, format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.push(field, value.to_string());
    }
}

/// A span's fields, kept in its extensions until an event inside it is written.
struct SpanFields(Vec<(&'static str, String)>);

/// One logrus level name.
fn level_name(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "error",
        Level::WARN => "warning",
        Level::INFO => "info",
        Level::DEBUG => "debug",
        Level::TRACE => "trace",
    }
}

/// Whether logrus's text formatter writes `value` bare: only these characters need no quotes.
fn bare(value: &str) -> bool {
    !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._/@^+".contains(c))
}

/// One log line (no newline) as logrus formats it.
pub fn line(
    format: LogFormat,
    precision: TimePrecision,
    level: &str,
    msg: &str,
    fields: &[(&str, String)],
) -> String {
    let time = chrono::Utc::now().to_rfc3339_opts(
        match precision {
            TimePrecision::Seconds => SecondsFormat::Secs,
            TimePrecision::Nanos => SecondsFormat::Nanos,
        },
        true,
    );
    match format {
        LogFormat::Json => {
            let mut object = serde_json::Map::new();
            for (key, value) in fields {
                object.insert(key.to_string(), value.clone().into());
            }
            object.insert("level".into(), level.into());
            object.insert("msg".into(), msg.into());
            object.insert("time".into(), time.into());
            serde_json::Value::Object(object).to_string()
        }
        LogFormat::Text => {
            let mut out = format!("time={time:?} level={level} msg={msg:?}");
            for (key, value) in fields {
                if bare(value) {
                    let _ = write!(out, " {key}={value}");
                } else {
                    let _ = write!(out, " {key}={value:?}");
                }
            }
            out
        }
    }
}

/// A `tracing` layer that writes each event as one logrus line to a sink.
pub struct LogrusLayer {
    format: LogFormat,
    precision: TimePrecision,
    sink: Mutex<Box<dyn Write + Send>>,
    /// fields on every line, such as containerd's `runtime=...`
    constant: Vec<(&'static str, String)>,
}

impl LogrusLayer {
    pub fn new(format: LogFormat, precision: TimePrecision, sink: Box<dyn Write + Send>) -> Self {
        Self {
            format,
            precision,
            sink: Mutex::new(sink),
            constant: Vec::new(),
        }
    }

    /// Adds a field written on every line.
    pub fn with_field(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.constant.push((key, value.into()));
        self
    }
}

impl<S> Layer<S> for LogrusLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(SpanFields(fields.pairs));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let mut pairs: Vec<(&str, String)> = Vec::new();
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                if let Some(SpanFields(span_fields)) = span.extensions().get::<SpanFields>() {
                    pairs.extend(span_fields.iter().cloned());
                }
            }
        }
        pairs.extend(fields.pairs);
        pairs.extend(self.constant.iter().cloned());
        let level = level_name(event.metadata().level());
        let line = line(self.format, self.precision, level, &fields.message, &pairs);
        // a log that cannot be written (containerd gone, disk full) must not fail the work
        if let Ok(mut sink) = self.sink.lock() {
            let _ = writeln!(sink, "{line}");
            let _ = sink.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use tracing_subscriber::layer::SubscriberExt;

    /// A sink the test reads back.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn capture(format: LogFormat, emit: impl FnOnce()) -> String {
        let sink = Shared::default();
        let layer = LogrusLayer::new(format, TimePrecision::Nanos, Box::new(sink.clone()))
            .with_field("runtime", "io.containerd.runwasm.v1");
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, emit);
        let bytes = sink.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn text_lines_as_logrus_writes_them() {
        let out = capture(LogFormat::Text, || {
            let span = tracing::info_span!("delete", id = "c1");
            let _entered = span.enter();
            tracing::warn!(pid = 42, path = "/run/a b", "cannot \"kill\"");
        });
        let line = out.strip_suffix('\n').unwrap();
        assert!(!line.contains('\n'), "one line: {out}");
        let (time, rest) = line.split_once(' ').unwrap();
        let time = time
            .strip_prefix("time=\"")
            .unwrap()
            .strip_suffix('"')
            .unwrap();
        assert!(
            chrono::DateTime::parse_from_rfc3339(time).is_ok() && time.len() == 30,
            "RFC3339 with 9 fraction digits: {time}"
        );
        assert_eq!(
            rest,
            r#"level=warning msg="cannot \"kill\"" id=c1 pid=42 path="/run/a b" runtime=io.containerd.runwasm.v1"#
        );
    }

    #[test]
    fn json_lines_hold_fields_as_keys() {
        let out = capture(LogFormat::Json, || tracing::error!(id = "c1", "bad wasm"));
        let value: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(value["level"], "error");
        assert_eq!(value["msg"], "bad wasm");
        assert_eq!(value["id"], "c1");
        assert_eq!(value["runtime"], "io.containerd.runwasm.v1");
        assert!(value["time"].is_string());
    }

    #[test]
    fn log_records_metadata_is_not_a_field() {
        let out = capture(LogFormat::Text, || {
            tracing::info!(log.target = "ttrpc", log.line = 3, id = "c1", "closed")
        });
        assert!(out.contains(r#"msg="closed" id=c1 runtime="#), "{out}");
        assert!(!out.contains("log."), "{out}");
    }

    #[test]
    fn values_are_quoted_only_when_logrus_would() {
        for (value, quoted) in [
            ("abc-1.2/x@y", false),
            ("", true),
            ("a b", true),
            ("a=b", true),
        ] {
            assert_eq!(!bare(value), quoted, "{value:?}");
        }
    }

    #[test]
    fn seconds_for_runc() {
        let l = line(LogFormat::Text, TimePrecision::Seconds, "error", "x", &[]);
        let time = l.split('"').nth(1).unwrap();
        assert!(time.ends_with('Z') && !time.contains('.'), "{time}");
    }
}
