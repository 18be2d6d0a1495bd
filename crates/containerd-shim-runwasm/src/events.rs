//! Task events to containerd, in order, from one thread: publishing never blocks a request or
//! holds the task lock, and a containerd restart (which breaks the ttrpc connection) is
//! followed by a reconnect instead of losing every later event.

use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use containerd_shim::protos::protobuf::MessageDyn;
use containerd_shim::protos::ttrpc::context;
use containerd_shim::publisher::RemotePublisher;

use crate::task::{self, EventSink};

/// How long one publish may take before containerd is considered gone.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(5);
/// Attempts per event across reconnects (containerd may still be starting).
const ATTEMPTS: u32 = 20;

struct Event {
    topic: &'static str,
    body: Box<dyn MessageDyn>,
}

pub struct ContainerdEvents {
    queue: Sender<Event>,
    pending: Pending,
}

/// The events queued and not yet delivered. The shim waits for none before it exits: an exit
/// in the middle of a publish cuts a ttrpc message short, which loses the event (TaskDelete,
/// the last one) and leaves containerd 1.6 holding the connection's fd for good (the stress
/// soak saw containerd's fds grow by one per cut).
#[derive(Clone, Default)]
pub struct Pending(Arc<(Mutex<usize>, Condvar)>);

impl Pending {
    fn add(&self, delta: isize) {
        let (count, changed) = &*self.0;
        let mut count = count.lock().unwrap_or_else(|e| e.into_inner());
        *count = count.saturating_add_signed(delta);
        changed.notify_all();
    }

    /// Blocks until every queued event is delivered (or given up), at most `limit`.
    pub fn wait_delivered(&self, limit: Duration) {
        let (count, changed) = &*self.0;
        let count = count.lock().unwrap_or_else(|e| e.into_inner());
        let _ = changed.wait_timeout_while(count, limit, |count| *count > 0);
    }
}

impl ContainerdEvents {
    /// Publishes to containerd's ttrpc `address` through `publisher`, reconnecting there.
    pub fn new(publisher: RemotePublisher, address: String, namespace: String) -> Self {
        let (queue, events) = channel::<Event>();
        let pending = Pending::default();
        let delivered = pending.clone();
        std::thread::spawn(move || {
            let mut publisher = Some(publisher);
            for event in events {
                deliver(&mut publisher, &address, &namespace, event);
                delivered.add(-1);
            }
        });
        Self { queue, pending }
    }

    /// What the shim waits on before it exits.
    pub fn pending(&self) -> Pending {
        self.pending.clone()
    }
}

impl EventSink for ContainerdEvents {
    fn publish(&self, event: task::Event) {
        let topic = event.topic();
        let body = event.into_message();
        self.pending.add(1);
        if self.queue.send(Event { topic, body }).is_err() {
            self.pending.add(-1);
            tracing::warn!("event thread gone: {topic} dropped");
        }
    }
}

fn deliver(publisher: &mut Option<RemotePublisher>, address: &str, namespace: &str, event: Event) {
    for attempt in 0..ATTEMPTS {
        if publisher.is_none() {
            *publisher = RemotePublisher::new(address).ok();
        }
        if let Some(client) = publisher.as_ref() {
            let ctx = context::with_timeout(PUBLISH_TIMEOUT.as_nanos() as i64);
            match client.publish(ctx, event.topic, namespace, event.body.clone_box()) {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!("publish {} (attempt {}): {e}", event.topic, attempt + 1);
                    *publisher = None;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    tracing::error!("{} not delivered to containerd at {address}", event.topic);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn waiting_ends_when_the_last_event_is_delivered_or_at_the_limit() {
        let pending = Pending::default();
        pending.wait_delivered(Duration::from_secs(5)); // none queued: at once
        pending.add(1);
        let start = Instant::now();
        pending.wait_delivered(Duration::from_millis(100));
        assert!(
            start.elapsed() >= Duration::from_millis(100),
            "bounded by the limit"
        );
        let delivering = pending.clone();
        let thread = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            delivering.add(-1);
        });
        let start = Instant::now();
        pending.wait_delivered(Duration::from_secs(5));
        assert!(
            start.elapsed() < Duration::from_secs(4),
            "woken by the delivery"
        );
        thread.join().unwrap();
    }
}
