#!/usr/bin/env python3
"""A minimal HTTP/2 cleartext client (prior knowledge) for test/e2e/http.sh: several GETs as
concurrent streams of ONE connection, which curl 7.88 cannot do over h2c (its second request on a
reused prior-knowledge connection fails, against any server).

  http-h2c.py multiplex HOST:PORT PATH N EXPECTED_BODY
      N GETs of PATH at once, streams 1, 3, 5, ... of one connection: `streams N`, `ok K`
      (a 200 and EXPECTED_BODY), `total_ms MS`, then `goaway CODE` if the server sent one
  http-h2c.py idle HOST:PORT SECONDS READY_FILE
      one GET of /, then the connection stays open, idle; READY_FILE is created once the answer
      came; waits up to SECONDS for the server to end the connection: `status S`, then
      `goaway CODE` and `closed` as they happen (or `still-open`)

Request headers are HPACK literals (no Huffman, no indexing); of a response only whether
:status is 200 is read (the static table's index 8, which every encoder uses for it).
"""
import socket
import struct
import sys
import time

DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = 0, 1, 3, 4, 6, 7, 8, 9
END_STREAM, ACK, END_HEADERS, PADDED, PRIORITY = 0x1, 0x1, 0x4, 0x8, 0x20
STATUS_200 = b"\x88"  # HPACK: the static table's entry 8, `:status: 200`


def frame(ftype, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", stream) + payload


def literal(index, value):
    """A literal header field without indexing, its name from the static table."""
    v = value.encode()
    assert index < 15 and len(v) < 127
    return bytes([index]) + bytes([len(v)]) + v


def request(stream, authority, path):
    block = b"\x82\x86" + literal(4, path) + literal(1, authority)  # GET, http, :path, :authority
    return frame(HEADERS, END_STREAM | END_HEADERS, stream, block)


class Conn:
    def __init__(self, hostport, timeout):
        host, port = hostport.rsplit(":", 1)
        self.authority = hostport
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        self.buf = b""
        self.sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(SETTINGS, 0, 0))

    def read_frame(self):
        """(type, flags, stream, payload), or None once the server closed the connection."""
        while True:
            if len(self.buf) >= 9:
                length = int.from_bytes(self.buf[:3], "big")
                if len(self.buf) >= 9 + length:
                    head, self.buf = self.buf[: 9 + length], self.buf[9 + length :]
                    ftype, flags = head[3], head[4]
                    stream = int.from_bytes(head[5:9], "big") & 0x7FFFFFFF
                    payload = head[9:]
                    if ftype in (DATA, HEADERS) and flags & PADDED:
                        pad = payload[0]
                        payload = payload[1 : len(payload) - pad]
                    if ftype == HEADERS and flags & PRIORITY:
                        payload = payload[5:]
                    self.answer(ftype, flags, payload)
                    return ftype, flags, stream, payload
            try:
                data = self.sock.recv(65536)
            except (ConnectionResetError, socket.timeout):
                return None
            if not data:
                return None
            self.buf += data

    def answer(self, ftype, flags, payload):
        if ftype == SETTINGS and not flags & ACK:
            self.sock.sendall(frame(SETTINGS, ACK, 0))
        elif ftype == PING and not flags & ACK:
            self.sock.sendall(frame(PING, ACK, 0, payload))


def multiplex(hostport, path, n, expected):
    start = time.monotonic()
    conn = Conn(hostport, 30)
    streams = [1 + 2 * i for i in range(n)]
    conn.sock.sendall(b"".join(request(s, hostport, path) for s in streams))
    status, body, done, goaway = {}, {s: b"" for s in streams}, set(), None
    while len(done) < n:
        f = conn.read_frame()
        if f is None:
            break
        ftype, flags, stream, payload = f
        if ftype == HEADERS and stream in body:
            status.setdefault(stream, payload[:1] == STATUS_200)
        elif ftype == DATA and stream in body:
            body[stream] += payload
            if payload:  # give the window back (bodies here stay far below 64 kB anyway)
                inc = struct.pack(">I", len(payload))
                conn.sock.sendall(frame(WINDOW_UPDATE, 0, 0, inc) + frame(WINDOW_UPDATE, 0, stream, inc))
        elif ftype == RST_STREAM:
            done.add(stream)
        elif ftype == GOAWAY:
            goaway = int.from_bytes(payload[4:8], "big")
        if ftype in (DATA, HEADERS) and flags & END_STREAM:
            done.add(stream)
    ok = sum(1 for s in streams if status.get(s) and s in done and body[s] == expected.encode())
    print(f"streams {n}\nok {ok}\ntotal_ms {int((time.monotonic() - start) * 1000)}")
    if goaway is not None:
        print(f"goaway {goaway}")


def idle(hostport, seconds, ready):
    conn = Conn(hostport, seconds)
    conn.sock.sendall(request(1, hostport, "/"))
    answered = False
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        f = conn.read_frame()
        if f is None:
            print("closed", flush=True)
            return
        ftype, flags, stream, payload = f
        if ftype == HEADERS and stream == 1:
            print("status", 200 if payload[:1] == STATUS_200 else "other", flush=True)
        if stream == 1 and flags & END_STREAM and not answered:
            answered = True
            open(ready, "w").close()
        if ftype == GOAWAY:
            print(f"goaway {int.from_bytes(payload[4:8], 'big')}", flush=True)
    print("still-open")


def main(argv):
    if len(argv) == 6 and argv[1] == "multiplex":
        multiplex(argv[2], argv[3], int(argv[4]), argv[5])
    elif len(argv) == 5 and argv[1] == "idle":
        idle(argv[2], float(argv[3]), argv[4])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
