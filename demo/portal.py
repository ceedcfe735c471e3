"""A small local portal server on 127.0.0.1: recorded catalogue shapes, served with real HTTP.

The demo serves its example catalogues with it; tests and benchmarks serve corpus files, generated
catalogues and injected faults. Every response carries an ETag and honours If-None-Match, like the
portals fedcat harvests, and every request is logged so that tests can check what fedcat asked for.
"""

from __future__ import annotations

import hashlib
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Reply:
    body: bytes = b""
    content_type: str = "text/plain"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering (latency injection)
    # fault injection: `chunks()` streams the body without a Content-Length (the connection closes after
    # it), `chunk_delay` seconds apart (a slow drip); with `raw` they are the whole response, status line
    # and headers included; `reset_after` sends that many bytes of `body` and then resets the connection
    chunks: Callable[[], Iterable[bytes]] | None = None
    chunk_delay: float = 0.0
    raw: bool = False
    reset_after: int | None = None


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]


Handler = Callable[[Request], Reply | None]


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # a client that hung up (a link checker reading only the headers): nothing to report
        super().handle_error(request, client_address)


class PortalServer:
    """`routes` answer exact paths (with query string); `handlers` answer path prefixes dynamically."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.routes: dict[str, Reply] = {}
        self.handlers: list[tuple[str, Handler]] = []
        self.log: list[Request] = []
        self._lock = threading.Lock()
        self.active = 0
        self.max_active = 0
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # headers and body go out as two writes: with Nagle's algorithm on, the body then waits for
            # the client's delayed ACK (~40 ms a response on loopback)
            disable_nagle_algorithm = True

            def do_GET(self) -> None:
                server._answer(self)

            def do_HEAD(self) -> None:
                server._answer(self, head=True)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = _Server((host, port), _Handler)
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def add(self, path: str, body: bytes | str, content_type: str = "text/turtle", **kwargs) -> str:
        """Serve `body` at `path` (which may include a query string); returns the full URL."""
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.routes[path] = Reply(data, content_type, **kwargs)
        return self.url(path)

    def handle(self, prefix: str, handler: Handler) -> str:
        self.handlers.append((prefix, handler))
        return self.url(prefix)

    def requests_to(self, path: str) -> list[Request]:
        return [r for r in self.log if r.path == path.split("?")[0]]

    def start(self) -> PortalServer:
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> PortalServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _reply_for(self, request: Request, raw_path: str) -> Reply:
        reply = self.routes.get(raw_path)
        if reply is None:
            for prefix, handler in self.handlers:
                if request.path.startswith(prefix) and (reply := handler(request)) is not None:
                    break
        return reply or Reply(b"not found", status=404)

    def _answer(self, http: BaseHTTPRequestHandler, head: bool = False) -> None:
        parts = urlsplit(http.path)
        request = Request(http.command, parts.path, parse_qs(parts.query), dict(http.headers.items()))
        with self._lock:
            self.log.append(request)
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            reply = self._reply_for(request, http.path)
            if reply.delay:
                time.sleep(reply.delay)
            if reply.chunks is not None or reply.reset_after is not None:
                self._fault(http, reply, head)
                return
            etag = '"' + hashlib.blake2b(reply.body, digest_size=8).hexdigest() + '"'
            if reply.status == 200 and request.headers.get("If-None-Match") == etag:
                http.send_response(304)
                http.send_header("ETag", etag)
                http.send_header("Content-Length", "0")
                http.end_headers()
                return
            http.send_response(reply.status)
            http.send_header("Content-Type", reply.content_type)
            http.send_header("Content-Length", str(len(reply.body)))
            if reply.status == 200:
                http.send_header("ETag", etag)
            for key, value in reply.headers.items():
                http.send_header(key, value)
            http.end_headers()
            if not head:
                http.wfile.write(reply.body)
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            with self._lock:
                self.active -= 1

    def _fault(self, http: BaseHTTPRequestHandler, reply: Reply, head: bool) -> None:
        http.close_connection = True
        if not reply.raw:
            http.send_response(reply.status)
            http.send_header("Content-Type", reply.content_type)
            if reply.reset_after is not None:
                http.send_header("Content-Length", str(len(reply.body)))
            else:
                http.send_header("Connection", "close")
            for key, value in reply.headers.items():
                http.send_header(key, value)
            http.end_headers()
        if head:
            return
        if reply.reset_after is not None:
            http.wfile.write(reply.body[: reply.reset_after])
            http.wfile.flush()
            # SO_LINGER 0: close() sends a TCP reset, not an orderly end of stream
            http.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            http.connection.close()
            return
        assert reply.chunks is not None
        for chunk in reply.chunks():
            http.wfile.write(chunk)
            http.wfile.flush()
            if reply.chunk_delay:
                time.sleep(reply.chunk_delay)
