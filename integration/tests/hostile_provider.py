"""A provider that misbehaves on purpose, at the byte level, for the hostile-network tests.

The mock provider (hyper) speaks correct HTTP; a hostile network does not. This one is a raw
HTTP/1.1 server on a loopback socket, run in a thread of the test process: it reads a request
(content-length or chunked), answers as an OpenAI-compatible provider, and misbehaves as the
request's `x-hostile` header asks (the gateway passes it on like any client header):

| x-hostile | what the provider does |
| --- | --- |
| (none) | a correct answer: JSON, or an SSE stream with usage when the request asks for it |
| reset-mid-stream | the head and two events, then a TCP reset (SO_LINGER 0) |
| drip | the whole stream, one byte per write, a write every `x-hostile-drip-ms` (default 100) ms |
| never-end | the head and one event, then nothing, holding the connection until the peer goes |
| huge-event | one SSE event of `x-hostile-event-bytes` bytes of content, then usage and [DONE] |
| long-content-length | JSON declared 4096 bytes longer than sent, then the connection closes |
| short-content-length | JSON declared 20 bytes shorter than sent (the rest is garbage on the connection) |
| close-before-headers | reads the request, closes the connection without a byte |
| slow-stream | `x-hostile-events` events (default 50), one every 100 ms |

Every request is recorded (`requests()`), and every connection that the peer closed while this
provider was still writing (`gone`), so a test can tell a client disconnect reached the provider.
The usage it reports is known exactly: prompt `PROMPT_TOKENS`, completion one token per event.
"""
from __future__ import annotations

import json
import socket
import socketserver
import struct
import threading
import time

PROMPT_TOKENS = 7
WORD = "tok "


def chat_chunk(content: str) -> bytes:
    body = {"id": "chatcmpl-hostile", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-2024-08-06",
            "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": None}]}
    return b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"


def finish_chunk() -> bytes:
    body = {"id": "chatcmpl-hostile", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-2024-08-06",
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    return b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"


def usage_chunk(completion: int) -> bytes:
    body = {"id": "chatcmpl-hostile", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-2024-08-06",
            "choices": [], "usage": {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": completion,
                                     "total_tokens": PROMPT_TOKENS + completion}}
    return b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"


def stream_body(events: list[str], include_usage: bool) -> bytes:
    out = b"".join(chat_chunk(e) for e in events) + finish_chunk()
    if include_usage:
        out += usage_chunk(len(events))
    return out + b"data: [DONE]\n\n"


def json_body(completion: int = 3) -> bytes:
    body = {"id": "chatcmpl-hostile", "object": "chat.completion", "created": 1, "model": "gpt-4o-2024-08-06",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": WORD * completion},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": completion,
                      "total_tokens": PROMPT_TOKENS + completion}}
    return json.dumps(body).encode()


SSE_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n" \
           b"transfer-encoding: chunked\r\n\r\n"


def chunk(data: bytes) -> bytes:
    return b"%x\r\n" % len(data) + data + b"\r\n"


class _Closed(Exception):
    pass


class _Handler(socketserver.BaseRequestHandler):
    server: "_Server"

    def setup(self):
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def _read(self, n: int = 65536) -> bytes:
        data = self.request.recv(n)
        if not data:
            raise _Closed
        return data

    def _until(self, sep: bytes) -> bytes:
        while sep not in self.buf:
            self.buf += self._read()
        head, _, self.buf = self.buf.partition(sep)
        return head

    def _exactly(self, n: int) -> bytes:
        while len(self.buf) < n:
            self.buf += self._read()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_request(self) -> dict:
        head = self._until(b"\r\n\r\n").decode("latin-1")
        line, *lines = head.split("\r\n")
        method, path, _ = line.split(" ", 2)
        headers = {}
        for h in lines:
            k, _, v = h.partition(":")
            headers[k.strip().lower()] = v.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int(self._until(b"\r\n").split(b";")[0], 16)
                if size == 0:
                    self._until(b"\r\n")
                    break
                body += self._exactly(size)
                self._exactly(2)
        else:
            body = self._exactly(int(headers.get("content-length", "0")))
        return {"method": method, "path": path, "headers": headers, "body": body}

    def send(self, data: bytes) -> None:
        try:
            self.request.sendall(data)
        except OSError as e:
            self.server.note_gone(e)
            raise _Closed from e

    def handle(self):
        try:
            while True:
                req = self.read_request()
                self.server.record(req)
                if not self.answer(req):
                    return
        except _Closed:
            return
        except OSError as e:
            self.server.note_gone(e)

    def answer(self, req: dict) -> bool:
        """Answers one request; False when the connection must not be reused."""
        mode = req["headers"].get("x-hostile", "")
        try:
            payload = json.loads(req["body"] or b"{}")
        except ValueError:
            payload = {}
        streamed = bool(payload.get("stream"))
        include_usage = bool((payload.get("stream_options") or {}).get("include_usage"))
        h = req["headers"]

        if mode == "close-before-headers":
            self.request.shutdown(socket.SHUT_RDWR)
            return False
        if mode == "long-content-length":
            body = json_body()
            self.send(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"
                      % (len(body) + 4096) + body)
            time.sleep(0.2)
            return False
        if mode == "short-content-length":
            body = json_body()
            self.send(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"
                      % (len(body) - 20) + body)
            time.sleep(0.5)
            return False
        if not streamed:
            body = json_body()
            self.send(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"
                      % len(body) + body)
            return True

        if mode == "reset-mid-stream":
            self.send(SSE_HEAD + chunk(chat_chunk("one ")) + chunk(chat_chunk("two ")))
            time.sleep(0.2)
            self.request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.request.close()
            return False
        if mode == "never-end":
            self.send(SSE_HEAD + chunk(chat_chunk("one ")))
            # Hold until the peer gives up (Envoy's route timeout, or the client).
            self.request.settimeout(120)
            try:
                while self.request.recv(1024):
                    pass
            except OSError:
                pass
            self.server.note_gone(None)
            return False
        if mode == "drip":
            delay = int(h.get("x-hostile-drip-ms", "100")) / 1000
            # The smallest stream the SDK accepts, so 100 ms a byte stays about 16 s.
            body = b'data: {"choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\n'
            if include_usage:
                body += (b'data: {"choices":[],"usage":{"prompt_tokens":%d,"completion_tokens":1,'
                         b'"total_tokens":%d}}\n\n' % (PROMPT_TOKENS, PROMPT_TOKENS + 1))
            body += b"data: [DONE]\n\n"
            self.send(SSE_HEAD)
            for i in range(len(body)):
                time.sleep(delay)
                self.send(chunk(body[i:i + 1]))
            self.send(b"0\r\n\r\n")
            return True
        if mode == "huge-event":
            size = int(h.get("x-hostile-event-bytes", str(8 << 20)))
            body = stream_body(["x" * size, "end"], include_usage)
            self.send(SSE_HEAD)
            step = 1 << 16
            for i in range(0, len(body), step):
                self.send(chunk(body[i:i + step]))
            self.send(b"0\r\n\r\n")
            return True
        if mode == "slow-stream":
            n = int(h.get("x-hostile-events", "50"))
            self.send(SSE_HEAD)
            for i in range(n):
                self.send(chunk(chat_chunk(WORD)))
                time.sleep(0.1)
            tail = finish_chunk() + (usage_chunk(n) if include_usage else b"") + b"data: [DONE]\n\n"
            self.send(chunk(tail) + b"0\r\n\r\n")
            return True
        # A correct stream of three events.
        self.send(SSE_HEAD + chunk(stream_body(["a ", "b ", "c "], include_usage)) + b"0\r\n\r\n")
        return True


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int):
        super().__init__(("127.0.0.1", port), _Handler)
        self.lock = threading.Lock()
        self.received: list[dict] = []
        self.gone: list[str] = []

    def record(self, req: dict) -> None:
        with self.lock:
            self.received.append(req)

    def note_gone(self, err) -> None:
        with self.lock:
            self.gone.append(repr(err))


class HostileProvider:
    """Same interface as harness.Mock (start, stop, requests, clear), on `port`."""

    def __init__(self, port: int):
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.server: _Server | None = None

    def start(self) -> None:
        self.server = _Server(self.port)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def requests(self) -> list[dict]:
        with self.server.lock:
            return list(self.server.received)

    def gone(self) -> list[str]:
        with self.server.lock:
            return list(self.server.gone)

    def clear(self) -> None:
        with self.server.lock:
            self.server.received.clear()
            self.server.gone.clear()

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()
