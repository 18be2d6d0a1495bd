//! The native floor of the wasi:http benchmark (`scripts/bench.py`, docs/benchmarks.md): what a
//! plain hyper server on tokio's multi-threaded runtime serves on this machine, with no Wasm.
//! HTTP/1.1 with keep-alive; every request gets 200 `hello from native\n`.
//!
//! usage: http-floor ADDRESS   (e.g. 127.0.0.1:18090)

use std::convert::Infallible;
use std::net::SocketAddr;

use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

const HELLO: &[u8] = b"hello from native\n";

/// A body of one chunk, known length (hyper sends `content-length`, not chunked).
struct Hello(Option<Bytes>);

impl hyper::body::Body for Hello {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Infallible>>> {
        std::task::Poll::Ready(self.0.take().map(|b| Ok(hyper::body::Frame::data(b))))
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_none()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        hyper::body::SizeHint::with_exact(self.0.as_ref().map_or(0, |b| b.len() as u64))
    }
}

async fn hello(_: Request<Incoming>) -> Result<Response<Hello>, Infallible> {
    let mut response = Response::new(Hello(Some(Bytes::from_static(HELLO))));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    Ok(response)
}

#[tokio::main]
async fn main() {
    let address: SocketAddr = match std::env::args().nth(1).map(|a| a.parse()) {
        Some(Ok(address)) => address,
        _ => {
            eprintln!("usage: http-floor ADDRESS (e.g. 127.0.0.1:18090)");
            std::process::exit(2);
        }
    };
    let listener = match TcpListener::bind(address).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("http-floor: bind {address}: {e}");
            std::process::exit(1);
        }
    };
    eprintln!("http-floor: serving on http://{address}");
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            // out of descriptors and the like: go on with the next connection
            Err(_) => continue,
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            // keep-alive is hyper's default for HTTP/1.1
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service_fn(hello))
                .await;
        });
    }
}
