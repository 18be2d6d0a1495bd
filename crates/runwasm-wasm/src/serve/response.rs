//! What the server answers with and how it knows when it is done: the count of requests in
//! flight (a request stays in it until its response body is sent, so a drain waits for
//! streamed bodies too), a finished handler's response sent whole, one still being written
//! streamed, and the server's own refusals.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Response, StatusCode};
use tokio::sync::Notify;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// Requests from their arrival until their response body is done.
#[derive(Clone, Default)]
pub(super) struct InFlightCount(Arc<Counter>);

#[derive(Default)]
struct Counter {
    requests: AtomicUsize,
    emptied: Notify,
}

/// One request in flight; it leaves the count when dropped.
pub(super) struct InFlight(InFlightCount);

impl InFlightCount {
    pub(super) fn enter(&self) -> InFlight {
        self.0.requests.fetch_add(1, Ordering::SeqCst);
        InFlight(self.clone())
    }

    pub(super) fn get(&self) -> usize {
        self.0.requests.load(Ordering::SeqCst)
    }

    pub(super) async fn none_left(&self) {
        loop {
            // registered before the check, so a drop to zero in between is not missed
            let emptied = self.0.emptied.notified();
            if self.get() == 0 {
                return;
            }
            emptied.await;
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let counter = &(self.0).0;
        if counter.requests.fetch_sub(1, Ordering::SeqCst) == 1 {
            counter.emptied.notify_waiters();
        }
    }
}

/// Polls `future` once: its output if it completes without waiting.
pub(super) fn futures_now<F: std::future::Future + Unpin>(future: &mut F) -> Option<F::Output> {
    let waker = std::task::Waker::noop();
    let mut context = std::task::Context::from_waker(waker);
    match std::pin::Pin::new(future).poll(&mut context) {
        std::task::Poll::Ready(output) => Some(output),
        std::task::Poll::Pending => None,
    }
}

/// The response of a handler that has finished: the frames its body already holds, sent
/// whole when they are all data, so that hyper writes head and body at once with a length.
pub(super) fn whole(
    response: Response<HyperOutgoingBody>,
    request: InFlight,
) -> Response<HyperOutgoingBody> {
    let (parts, mut body) = response.into_parts();
    let mut data = bytes::BytesMut::new();
    loop {
        match futures_now(&mut body.frame()) {
            Some(Some(Ok(frame))) if frame.is_data() => {
                data.extend_from_slice(&frame.into_data().unwrap_or_default())
            }
            Some(None) => {
                let body = Full::new(data.freeze())
                    .map_err(|never| match never {})
                    .boxed_unsync();
                return Response::from_parts(parts, body);
            }
            // trailers, an error or a body still being written: stream the rest as it comes
            other => {
                let first = other.and_then(|frame| frame);
                let tracked = Tracked {
                    data: Some(data.freeze()).filter(|d| !d.is_empty()),
                    frame: first,
                    ..Tracked::new(body, request)
                };
                return Response::from_parts(parts, tracked.boxed_unsync());
            }
        }
    }
}

/// A response body still being written, whose first frames may already have been read
/// (they come first, then the rest). Its request is in flight until hyper drops it.
pub(super) struct Tracked {
    data: Option<Bytes>,
    frame: Option<Result<hyper::body::Frame<Bytes>, wasmtime_wasi_http::Error>>,
    rest: HyperOutgoingBody,
    _request: InFlight,
}

impl Tracked {
    pub(super) fn new(rest: HyperOutgoingBody, request: InFlight) -> Self {
        Self {
            data: None,
            frame: None,
            rest,
            _request: request,
        }
    }
}

impl hyper::body::Body for Tracked {
    type Data = Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        if let Some(data) = self.data.take() {
            return std::task::Poll::Ready(Some(Ok(hyper::body::Frame::data(data))));
        }
        if let Some(frame) = self.frame.take() {
            return std::task::Poll::Ready(Some(frame));
        }
        std::pin::Pin::new(&mut self.rest).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none() && self.frame.is_none() && self.rest.is_end_stream()
    }
}

fn plain(status: StatusCode, text: &'static str) -> Response<HyperOutgoingBody> {
    let body = Full::new(Bytes::from_static(text.as_bytes()))
        .map_err(|never| match never {})
        .boxed_unsync();
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain"),
    );
    response
}

pub(super) fn internal_error() -> Response<HyperOutgoingBody> {
    plain(StatusCode::INTERNAL_SERVER_ERROR, "internal server error\n")
}

pub(super) fn overloaded() -> Response<HyperOutgoingBody> {
    let mut response = plain(
        StatusCode::SERVICE_UNAVAILABLE,
        "server busy, retry later\n",
    );
    response.headers_mut().insert(
        hyper::header::RETRY_AFTER,
        hyper::header::HeaderValue::from_static("1"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::body::{Body, Frame};

    fn body_of(frames: Vec<Frame<Bytes>>) -> HyperOutgoingBody {
        let frames = frames.into_iter().map(Ok::<_, wasmtime_wasi_http::Error>);
        http_body_util::StreamBody::new(futures_iter(frames)).boxed_unsync()
    }

    /// A stream whose items are all ready at once.
    fn futures_iter<I: Iterator + Unpin>(items: I) -> impl futures_core::Stream<Item = I::Item> {
        struct Ready<I>(I);
        impl<I: Iterator + Unpin> futures_core::Stream for Ready<I> {
            type Item = I::Item;
            fn poll_next(
                mut self: std::pin::Pin<&mut Self>,
                _: &mut std::task::Context<'_>,
            ) -> std::task::Poll<Option<I::Item>> {
                std::task::Poll::Ready(self.0.next())
            }
        }
        Ready(items)
    }

    fn drain(mut body: HyperOutgoingBody) -> (Vec<u8>, bool) {
        let (mut data, mut trailers) = (Vec::new(), false);
        while let Some(Some(Ok(frame))) = futures_now(&mut body.frame()) {
            match frame.into_data() {
                Ok(bytes) => data.extend_from_slice(&bytes),
                Err(frame) => trailers |= frame.is_trailers(),
            }
        }
        (data, trailers)
    }

    #[test]
    fn a_finished_body_is_sent_whole_with_its_length() {
        let count = InFlightCount::default();
        let frames = vec![
            Frame::data(Bytes::from("hello ")),
            Frame::data(Bytes::from("world")),
        ];
        let response = whole(Response::new(body_of(frames)), count.enter());
        assert_eq!(response.body().size_hint().exact(), Some(11));
        assert_eq!(count.get(), 0, "a whole body holds nothing in flight");
        assert_eq!(
            drain(response.into_body()),
            (b"hello world".to_vec(), false)
        );
    }

    #[test]
    fn trailers_keep_the_data_read_before_them_and_the_request_in_flight() {
        let count = InFlightCount::default();
        let frames = vec![
            Frame::data(Bytes::from("part")),
            Frame::trailers(http::HeaderMap::new()),
        ];
        let response = whole(Response::new(body_of(frames)), count.enter());
        assert_eq!(response.body().size_hint().exact(), None);
        assert_eq!(count.get(), 1, "in flight until the body is dropped");
        assert_eq!(drain(response.into_body()), (b"part".to_vec(), true));
        assert_eq!(count.get(), 0);
    }

    #[test]
    fn the_count_of_requests_in_flight_wakes_the_drain_at_zero() {
        let count = InFlightCount::default();
        let first = count.enter();
        let second = count.enter();
        let mut none_left = Box::pin(count.none_left());
        assert!(futures_now(&mut none_left).is_none());
        drop(first);
        assert!(futures_now(&mut none_left).is_none());
        drop(second);
        assert!(futures_now(&mut none_left).is_some());
    }

    #[test]
    fn refusals_say_why() {
        let busy = overloaded();
        assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(busy.headers()[hyper::header::RETRY_AFTER], "1");
        assert_eq!(internal_error().status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
