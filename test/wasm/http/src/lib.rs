//! A wasi:http component for runwasm's end-to-end tests (test/e2e/http.sh): it exports
//! wasi:http/incoming-handler and nothing else, one behaviour per route:
//!   GET /                    200 `hello from wasi:http\n`
//!   /echo                    200: `<METHOD> <path?query>\n`, one `<name>: <value>\n` per
//!                            request header, an empty line, then the request body
//!   /stream?n=N&delay_ms=D   200: N chunks `chunk i\n` (i = 1..=N), each flushed on its own,
//!                            after sleeping D ms (a monotonic-clock pollable) before each;
//!                            returns early (no trap) once a write fails (the client left)
//!   /count                   200 `count N\n`: N counts the requests this instance has seen,
//!                            so it is 1 whenever every request gets a fresh instance
//!   /grow?mb=N               200 `grew N MiB\n` after filling N MiB of its memory (an
//!                            instance that cannot grow that far traps)
//!   /trap                    panics: a trap
//!   /forget                  returns without setting a response
//!   /call?url=URL            an outgoing GET of URL: 200 `upstream <status>\n<body>`, or 502
//!                            `call failed: <error-code, Debug>\n`
//!   anything else            404 `not found\n`
use std::sync::atomic::{AtomicU32, Ordering};

use wasi::clocks::monotonic_clock;
use wasi::http::outgoing_handler;
use wasi::http::types::{
    ErrorCode, Fields, IncomingBody, IncomingRequest, Method, OutgoingBody, OutgoingRequest,
    OutgoingResponse, ResponseOutparam, Scheme,
};
use wasi::io::streams::{InputStream, OutputStream, StreamError};

struct Probe;

/// Lives in the instance's linear memory: what one request leaves here, the next sees only
/// if it runs in the same instance.
static REQUESTS_SEEN: AtomicU32 = AtomicU32::new(0);

wasi::http::proxy::export!(Probe);

impl wasi::exports::http::incoming_handler::Guest for Probe {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let target = request.path_with_query().unwrap_or_else(|| "/".into());
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p.to_string(), q.to_string()),
            None => (target.clone(), String::new()),
        };
        match path.as_str() {
            "/" => respond(out, 200, b"hello from wasi:http\n"),
            "/echo" => echo(request, &target, out),
            "/stream" => {
                let n = param(&query, "n")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(3u32);
                let delay = param(&query, "delay_ms")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0u64);
                stream(out, n, delay);
            }
            "/count" => {
                let n = REQUESTS_SEEN.fetch_add(1, Ordering::Relaxed) + 1;
                respond(out, 200, format!("count {n}\n").as_bytes());
            }
            "/grow" => {
                let mb: usize = param(&query, "mb")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(1);
                // every byte written (and kept from the optimizer), so the pages are really used
                let block = std::hint::black_box(vec![1u8; mb << 20]);
                respond(out, 200, format!("grew {} MiB\n", block.len() >> 20).as_bytes());
            }
            "/trap" => panic!("trap requested by GET /trap"),
            "/forget" => drop(out),
            "/call" => match param(&query, "url") {
                Some(url) => call(out, &url),
                None => respond(out, 400, b"call: no url= in the query\n"),
            },
            _ => respond(out, 404, b"not found\n"),
        }
    }
}

/// Sends a whole response with a text/plain body.
fn respond(out: ResponseOutparam, status: u16, body: &[u8]) {
    let (response, outgoing) = start(status);
    ResponseOutparam::set(out, Ok(response));
    let stream = outgoing.write().expect("response body stream");
    write_all(&stream, body).expect("write response body");
    drop(stream);
    OutgoingBody::finish(outgoing, None).expect("finish response body");
}

/// A response with STATUS and a text/plain content type, and its body (not yet sent).
fn start(status: u16) -> (OutgoingResponse, OutgoingBody) {
    let headers = Fields::new();
    headers
        .set("content-type", &[b"text/plain; charset=utf-8".to_vec()])
        .expect("content-type header");
    let response = OutgoingResponse::new(headers);
    response.set_status_code(status).expect("status code");
    let body = response.body().expect("response body");
    (response, body)
}

/// Writes DATA to STREAM, at most 4096 bytes per blocking-write-and-flush (its limit).
fn write_all(stream: &OutputStream, data: &[u8]) -> Result<(), StreamError> {
    for chunk in data.chunks(4096) {
        stream.blocking_write_and_flush(chunk)?;
    }
    Ok(())
}

/// Reads STREAM to its end.
fn read_all(stream: &InputStream) -> Vec<u8> {
    let mut data = Vec::new();
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(bytes) => data.extend_from_slice(&bytes),
            Err(StreamError::Closed) => return data,
            Err(StreamError::LastOperationFailed(e)) => {
                panic!("reading a body: {}", e.to_debug_string())
            }
        }
    }
}

fn echo(request: IncomingRequest, target: &str, out: ResponseOutparam) {
    let mut text = format!("{} {}\n", method_name(&request.method()), target).into_bytes();
    for (name, value) in request.headers().entries() {
        text.extend_from_slice(name.as_bytes());
        text.extend_from_slice(b": ");
        text.extend_from_slice(&value);
        text.push(b'\n');
    }
    text.push(b'\n');
    let body = request.consume().expect("request body");
    let stream = body.stream().expect("request body stream");
    text.extend_from_slice(&read_all(&stream));
    drop(stream);
    drop(IncomingBody::finish(body));
    respond(out, 200, &text);
}

fn stream(out: ResponseOutparam, n: u32, delay_ms: u64) {
    let (response, outgoing) = start(200);
    ResponseOutparam::set(out, Ok(response));
    let stream = outgoing.write().expect("response body stream");
    for i in 1..=n {
        if delay_ms > 0 {
            monotonic_clock::subscribe_duration(delay_ms * 1_000_000).block();
        }
        if write_all(&stream, format!("chunk {i}\n").as_bytes()).is_err() {
            return; // the client went away
        }
    }
    drop(stream);
    OutgoingBody::finish(outgoing, None).expect("finish response body");
}

fn call(out: ResponseOutparam, url: &str) {
    match fetch(url) {
        Ok((status, body)) => {
            let mut text = format!("upstream {status}\n").into_bytes();
            text.extend_from_slice(&body);
            respond(out, 200, &text);
        }
        Err(e) => respond(out, 502, format!("call failed: {e}\n").as_bytes()),
    }
}

/// An outgoing GET of URL (http:// or https://): its status and body, or the error.
fn fetch(url: &str) -> Result<(u16, Vec<u8>), String> {
    let (scheme, rest) = if let Some(rest) = url.strip_prefix("http://") {
        (Scheme::Http, rest)
    } else if let Some(rest) = url.strip_prefix("https://") {
        (Scheme::Https, rest)
    } else {
        return Err(format!("not an http(s) URL: {url}"));
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let request = OutgoingRequest::new(Fields::new());
    request.set_method(&Method::Get).map_err(|()| "method")?;
    request.set_scheme(Some(&scheme)).map_err(|()| "scheme")?;
    request
        .set_authority(Some(authority))
        .map_err(|()| format!("authority {authority}"))?;
    request
        .set_path_with_query(Some(path))
        .map_err(|()| format!("path {path}"))?;
    let future =
        outgoing_handler::handle(request, None).map_err(|e: ErrorCode| format!("{e:?}"))?;
    let response = loop {
        match future.get() {
            Some(Ok(Ok(response))) => break response,
            Some(Ok(Err(e))) => return Err(format!("{e:?}")),
            Some(Err(())) => return Err("response already taken".into()),
            None => future.subscribe().block(),
        }
    };
    let status = response.status();
    let body = response.consume().map_err(|()| "response body")?;
    let stream = body.stream().map_err(|()| "response body stream")?;
    let data = read_all(&stream);
    drop(stream);
    drop(IncomingBody::finish(body));
    Ok((status, data))
}

fn method_name(method: &Method) -> String {
    match method {
        Method::Get => "GET".into(),
        Method::Head => "HEAD".into(),
        Method::Post => "POST".into(),
        Method::Put => "PUT".into(),
        Method::Delete => "DELETE".into(),
        Method::Connect => "CONNECT".into(),
        Method::Options => "OPTIONS".into(),
        Method::Trace => "TRACE".into(),
        Method::Patch => "PATCH".into(),
        Method::Other(other) => other.clone(),
    }
}

/// The value of NAME in a query string `a=1&b=2`, percent-decoded.
fn param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == name).then(|| percent_decode(value))
    })
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(hi), Some(lo)) => {
                decoded.push((hi * 16 + lo) as u8);
                i += 3;
            }
            (b'+', _, _) => {
                decoded.push(b' ');
                i += 1;
            }
            (b, _, _) => {
                decoded.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}
