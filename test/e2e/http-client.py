#!/usr/bin/env python3
"""HTTP client of test/e2e/http.sh (http.client only), printing `key value` lines for the suite.

  http-client.py free-port
      a TCP port of 127.0.0.1 nothing listens on now
  http-client.py load N URL [--expect-body TEXT]
      N GETs of URL over one keep-alive connection (reconnecting after an error):
      `ok K` (200 with a body, equal to TEXT if given), `errors E` (other statuses, other
      bodies and exceptions), `connections C`
  http-client.py concurrent N URL [--expect-body TEXT] [--ready FILE] [--ready-count K]
      N GETs of URL at once, one connection each: `count N`, `status S K` per status,
      `retry-after V K` per Retry-After value, `ms S MIN MAX` (durations of the requests
      answered with status S), `matched K` (bodies equal to TEXT), `errors E`
      (exceptions, such as a connection closed mid-body); --ready: FILE is created once every
      request (or K of them) has its status line (accepted and being answered)
  http-client.py disconnect URL
      one GET; after the first piece of the body the client closes its connection: `status S`
  http-client.py idle URL SECONDS READY_FILE
      one GET over a keep-alive connection, which then stays open, idle; READY_FILE is created
      once the answer came; waits up to SECONDS for the server to close it: `status S`, then
      `closed` (or `still-open`)
  http-client.py partial URL SECONDS READY_FILE
      sends the first line and one header of a GET, never the end of its head (READY_FILE once
      sent); waits up to SECONDS for the server to close the connection: `closed` (or
      `still-open`)
  http-client.py stream URL BODY_FILE
      one GET, read as it arrives: `status S`, `reads R` (pieces of body received),
      `spread_ms MS` (time from the first piece to the last); the body goes to BODY_FILE
"""
import http.client
import socket
import sys
import threading
import time
import urllib.parse
from collections import Counter


def connect(url, timeout=30):
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=timeout)
    target = u.path or "/"
    if u.query:
        target += "?" + u.query
    return conn, target


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    print(s.getsockname()[1])
    s.close()


def load(n, url, expect=None):
    conn, target = connect(url)
    ok = errors = connections = 0
    sock = None
    first_error = None
    for _ in range(n):
        try:
            conn.request("GET", target)
            resp = conn.getresponse()
            body = resp.read()
            if conn.sock is not None and conn.sock is not sock:
                connections += 1
                sock = conn.sock
            if resp.status == 200 and body and (expect is None or body == expect.encode()):
                ok += 1
            else:
                errors += 1
                first_error = first_error or f"status {resp.status}, body {body[:100]!r}"
        except Exception as e:  # noqa: BLE001 - every failure counts
            errors += 1
            first_error = first_error or repr(e)
            conn.close()
            sock = None
    print(f"ok {ok}\nerrors {errors}\nconnections {connections}")
    if first_error:
        print(f"first-error {first_error}")


def concurrent(n, url, expect=None, ready=None, ready_count=None):
    statuses, retry_after, results, durations = Counter(), Counter(), [], {}
    lock = threading.Lock()
    answered = [0]
    go = threading.Barrier(n)

    def one():
        conn, target = connect(url)
        try:
            try:
                conn.connect()
            except Exception:
                go.abort()  # the others do not wait for this one
                raise
            go.wait(timeout=30)
            start = time.monotonic()
            conn.request("GET", target)
            resp = conn.getresponse()
            with lock:
                answered[0] += 1
                if ready and answered[0] == (ready_count or n):
                    open(ready, "w").close()
            body = resp.read()
            ms = int((time.monotonic() - start) * 1000)
            with lock:
                durations.setdefault(resp.status, []).append(ms)
                statuses[resp.status] += 1
                retry_after[resp.getheader("Retry-After", "-")] += 1
                results.append(body)
        except Exception as e:  # noqa: BLE001
            with lock:
                results.append(e)
        finally:
            conn.close()

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(f"count {n}")
    for status, k in sorted(statuses.items()):
        print(f"status {status} {k}")
    for value, k in sorted(retry_after.items()):
        print(f"retry-after {value} {k}")
    for status, ms in sorted(durations.items()):
        print(f"ms {status} {min(ms)} {max(ms)}")
    errors = [r for r in results if isinstance(r, Exception)]
    if expect is not None:
        print(f"matched {sum(1 for r in results if r == expect.encode())}")
    print(f"errors {len(errors)}")
    for e in errors[:3]:
        print(f"error {e!r}")


def disconnect(url):
    conn, target = connect(url)
    conn.request("GET", target)
    resp = conn.getresponse()
    resp.read1(65536)
    conn.sock.shutdown(socket.SHUT_RDWR)
    conn.close()
    print(f"status {resp.status}")


def idle(url, seconds, ready):
    conn, target = connect(url, timeout=seconds)
    conn.request("GET", target)
    resp = conn.getresponse()
    resp.read()
    print(f"status {resp.status}", flush=True)
    open(ready, "w").close()
    try:
        closed = conn.sock.recv(1) == b""
    except ConnectionResetError:
        closed = True
    except socket.timeout:
        closed = False
    print("closed" if closed else "still-open")


def partial(url, seconds, ready):
    u = urllib.parse.urlsplit(url)
    sock = socket.create_connection((u.hostname, u.port or 80), timeout=seconds)
    sock.sendall(f"GET {u.path or '/'} HTTP/1.1\r\nHost: {u.netloc}\r\n".encode())
    open(ready, "w").close()
    try:
        closed = sock.recv(65536) == b""
    except ConnectionResetError:
        closed = True
    except socket.timeout:
        closed = False
    print("closed" if closed else "still-open")


def stream(url, body_file):
    conn, target = connect(url)
    start = time.monotonic()
    conn.request("GET", target)
    resp = conn.getresponse()
    times, body = [], b""
    while True:
        piece = resp.read1(65536)
        if not piece:
            break
        times.append(time.monotonic())
        body += piece
    open(body_file, "wb").write(body)
    spread = int((times[-1] - times[0]) * 1000) if times else 0
    print(f"status {resp.status}\nreads {len(times)}\nspread_ms {spread}")
    print(f"total_ms {int((time.monotonic() - start) * 1000)}")


def main(argv):
    cmd = argv[1] if len(argv) > 1 else ""
    if cmd == "free-port":
        free_port()
    elif cmd == "load":
        opts = dict(zip(argv[4::2], argv[5::2]))
        load(int(argv[2]), argv[3], opts.get("--expect-body"))
    elif cmd == "concurrent":
        opts = dict(zip(argv[4::2], argv[5::2]))
        ready_count = opts.get("--ready-count")
        concurrent(int(argv[2]), argv[3], opts.get("--expect-body"), opts.get("--ready"),
                   int(ready_count) if ready_count else None)
    elif cmd == "disconnect":
        disconnect(argv[2])
    elif cmd == "idle":
        idle(argv[2], float(argv[3]), argv[4])
    elif cmd == "partial":
        partial(argv[2], float(argv[3]), argv[4])
    elif cmd == "stream":
        stream(argv[2], argv[3])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
