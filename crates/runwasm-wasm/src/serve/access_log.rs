//! The request log on the container's stdout, so `kubectl logs`, `ctr` and `docker logs`
//! show it. One line per request (docs/wasi-http.md):
//!
//! `2026-11-30T14:02:03.123Z GET /echo?x=1 200 412us`
//!
//! time (UTC, when the response head was ready), method, path and query, status, and the time
//! from the request's arrival to its response head. Lines are batched and written by a thread
//! of their own every [`FLUSH_INTERVAL`]: a write per request would cost more than serving it,
//! and a slow log reader must never stall a request. Past [`MAX_PENDING`] bytes lines are
//! dropped and counted.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;

pub const FLUSH_INTERVAL: Duration = Duration::from_millis(50);
const MAX_PENDING: usize = 4 << 20;
/// What a batch starts with: a second of lines at about 1,000 requests a second.
const BATCH_CAPACITY: usize = 64 << 10;

#[derive(Clone)]
pub struct AccessLog {
    shared: Arc<Shared>,
}

struct Shared {
    pending: Mutex<Pending>,
    dropped: AtomicU64,
}

/// The lines not yet written, and the time stamp of the current second (formatted once a
/// second, not once a request).
struct Pending {
    lines: Vec<u8>,
    second: i64,
    stamp: String,
}

impl AccessLog {
    /// Starts the writer thread; it lives as long as the process.
    pub fn start() -> std::io::Result<Self> {
        let log = Self::with_pending(Vec::with_capacity(BATCH_CAPACITY));
        let writer = log.clone();
        std::thread::Builder::new()
            .name("access-log".into())
            .spawn(move || loop {
                std::thread::sleep(FLUSH_INTERVAL);
                writer.flush();
            })?;
        Ok(log)
    }

    fn with_pending(lines: Vec<u8>) -> Self {
        Self {
            shared: Arc::new(Shared {
                pending: Mutex::new(Pending {
                    lines,
                    // no second yet: the first line formats its stamp
                    second: i64::MIN,
                    stamp: String::new(),
                }),
                dropped: AtomicU64::new(0),
            }),
        }
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.shared
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    pub fn record(&self, method: &str, target: &str, status: u16, elapsed: Duration) {
        let now = Utc::now();
        let mut pending = self.pending();
        if pending.second != now.timestamp() {
            pending.second = now.timestamp();
            pending.stamp = now.format("%Y-%m-%dT%H:%M:%S").to_string();
        }
        let Pending { lines, stamp, .. } = &mut *pending;
        let before = lines.len();
        let line = Line {
            stamp,
            millis: now.timestamp_subsec_millis(),
            method,
            target,
            status,
            elapsed,
        };
        let _ = line.write_to(lines);
        if lines.len() > MAX_PENDING {
            lines.truncate(before);
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Writes what is pending to stdout (also called once more before the server exits).
    pub fn flush(&self) {
        let batch = {
            let mut pending = self.pending();
            std::mem::replace(&mut pending.lines, Vec::with_capacity(BATCH_CAPACITY))
        };
        let dropped = self.shared.dropped.swap(0, Ordering::Relaxed);
        if batch.is_empty() && dropped == 0 {
            return;
        }
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(&batch);
        if dropped > 0 {
            let _ = writeln!(
                out,
                "runwasm: {dropped} access-log lines dropped (log reader too slow)"
            );
        }
        let _ = out.flush();
    }
}

struct Line<'a> {
    /// `YYYY-MM-DDTHH:MM:SS` in UTC
    stamp: &'a str,
    millis: u32,
    method: &'a str,
    target: &'a str,
    status: u16,
    elapsed: Duration,
}

impl Line<'_> {
    fn write_to(&self, out: &mut Vec<u8>) -> std::io::Result<()> {
        writeln!(
            out,
            "{}.{:03}Z {} {} {} {}us",
            self.stamp,
            self.millis,
            self.method,
            self.target,
            self.status,
            self.elapsed.as_micros()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_has_the_documented_fields() {
        let mut out = Vec::new();
        let line = Line {
            stamp: "2026-11-30T14:02:03",
            millis: 23,
            method: "GET",
            target: "/echo?x=1",
            status: 200,
            elapsed: Duration::from_micros(412),
        };
        line.write_to(&mut out).unwrap();
        assert_eq!(out, b"2026-11-30T14:02:03.023Z GET /echo?x=1 200 412us\n");
    }

    #[test]
    fn a_recorded_line_is_stamped_with_the_current_time() {
        let log = AccessLog::with_pending(Vec::new());
        let before = Utc::now();
        log.record("POST", "/a", 503, Duration::from_micros(7));
        let lines = String::from_utf8(log.pending().lines.clone()).unwrap();
        let (time, rest) = lines.split_once(' ').unwrap();
        assert_eq!(rest, "POST /a 503 7us\n");
        let time = chrono::DateTime::parse_from_rfc3339(time).unwrap();
        let since = time.with_timezone(&Utc) - before;
        // the line's time is taken after `before`, to the millisecond
        assert!(since >= chrono::TimeDelta::milliseconds(-1), "{since}");
        assert!(since < chrono::TimeDelta::seconds(5), "{since}");
    }

    #[test]
    fn past_the_bound_lines_are_counted_not_kept() {
        let log = AccessLog::with_pending(vec![b'x'; MAX_PENDING - 10]);
        log.record("GET", "/", 200, Duration::from_micros(1));
        assert_eq!(log.shared.dropped.load(Ordering::Relaxed), 1);
        assert_eq!(log.pending().lines.len(), MAX_PENDING - 10);
    }
}
