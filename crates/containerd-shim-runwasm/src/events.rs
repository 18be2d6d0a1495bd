//! Task events to containerd, in order, from one thread: publishing never blocks a request or
//! holds the task lock, and a containerd restart (which breaks the ttrpc connection) is
//! followed by a reconnect instead of losing every later event.

use std::sync::mpsc::{channel, Sender};
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
}

impl ContainerdEvents {
    /// Publishes to containerd's ttrpc `address` through `publisher`, reconnecting there.
    pub fn new(publisher: RemotePublisher, address: String, namespace: String) -> Self {
        let (queue, events) = channel::<Event>();
        std::thread::spawn(move || {
            let mut publisher = Some(publisher);
            for event in events {
                deliver(&mut publisher, &address, &namespace, event);
            }
        });
        Self { queue }
    }
}

impl EventSink for ContainerdEvents {
    fn publish(&self, event: task::Event) {
        let topic = event.topic();
        let body = event.into_message();
        if self.queue.send(Event { topic, body }).is_err() {
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
