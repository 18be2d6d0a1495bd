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

use chrono::{SecondsFormat, Utc};

pub const FLUSH_INTERVAL: Duration = Duration::from_millis(50);
const MAX_PENDING: usize = 4 << 20;

#[derive(Clone)]
pub struct AccessLog {
    shared: Arc<Shared>,
}

struct Shared {
    pending: Mutex<Vec<u8>>,
    dropped: AtomicU64,
}

impl AccessLog {
    /// Starts the writer thread; it lives as long as the process.
    pub fn start() -> std::io::Result<Self> {
        let log = Self {
            shared: Arc::new(Shared {
                pending: Mutex::new(Vec::with_capacity(64 << 10)),
                dropped: AtomicU64::new(0),
            }),
        };
        let writer = log.clone();
        std::thread::Builder::new()
            .name("access-log".into())
            .spawn(move || loop {
                std::thread::sleep(FLUSH_INTERVAL);
                writer.flush();
            })?;
        Ok(log)
    }

    pub fn record(&self, method: &str, target: &str, status: u16, elapsed: Duration) {
        let line = format_line(
            &Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
            method,
            target,
            status,
            elapsed,
        );
        let mut pending = self
            .shared
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if pending.len() + line.len() > MAX_PENDING {
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
        } else {
            pending.extend_from_slice(line.as_bytes());
        }
    }

    /// Writes what is pending to stdout (also called once more before the server exits).
    pub fn flush(&self) {
        let batch = {
            let mut pending = self
                .shared
                .pending
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            std::mem::take(&mut *pending)
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

fn format_line(time: &str, method: &str, target: &str, status: u16, elapsed: Duration) -> String {
    format!(
        "{time} {method} {target} {status} {}us\n",
        elapsed.as_micros()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_has_the_documented_fields() {
        let line = format_line(
            "2026-11-30T14:02:03.123Z",
            "GET",
            "/echo?x=1",
            200,
            Duration::from_micros(412),
        );
        assert_eq!(line, "2026-11-30T14:02:03.123Z GET /echo?x=1 200 412us\n");
    }

    #[test]
    fn past_the_bound_lines_are_counted_not_kept() {
        let log = AccessLog {
            shared: Arc::new(Shared {
                pending: Mutex::new(vec![b'x'; MAX_PENDING - 10]),
                dropped: AtomicU64::new(0),
            }),
        };
        log.record("GET", "/", 200, Duration::from_micros(1));
        assert_eq!(log.shared.dropped.load(Ordering::Relaxed), 1);
        assert_eq!(log.shared.pending.lock().unwrap().len(), MAX_PENDING - 10);
    }
}
