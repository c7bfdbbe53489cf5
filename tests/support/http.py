"""The loopback HTTP server every HTTP stand-in in the tests is built on, and a route-table
server for the collectors.

`LoopbackServer` binds 127.0.0.1 (an ephemeral port unless told), serves from a daemon thread
independent of any event loop under test, keeps quiet about clients that hang up mid-body (a
size cap doing its job), and gives its handler `self.server.owner`. Use it as a context
manager or with start()/stop().
"""

from __future__ import annotations

import gzip
import http.server
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.support.net import LOOPBACK


class QuietHandler(http.server.BaseHTTPRequestHandler):
    """A request handler that logs nothing, with JSON reply and body helpers."""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _reply(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if data:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))


class _ThreadingServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    owner: Any = None  # the LoopbackServer, for the handlers

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client hanging up mid-body (a size cap doing its job) is expected here."""


class LoopbackServer:
    """An HTTP server on 127.0.0.1 running `handler` (a class attribute or argument)."""

    handler: type[http.server.BaseHTTPRequestHandler]

    def __init__(self, port: int = 0,
                 handler: type[http.server.BaseHTTPRequestHandler] | None = None) -> None:
        self.httpd = _ThreadingServer((LOOPBACK, port), handler or self.handler)
        self.httpd.owner = self
        self.port: int = self.httpd.server_address[1]
        self.base = f"http://{LOOPBACK}:{self.port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,),
                                        daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class JsonApiServer(LoopbackServer):
    """A LoopbackServer whose `url` is its base URL (the API stand-ins of the sinks)."""

    def __init__(self, port: int = 0) -> None:
        super().__init__(port)
        self.url = self.base


# -- a route table with scripted replies (collectors) ----------------------------------------


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    client: tuple[str, int]

    def q(self, key: str, default: str | None = None) -> str | None:
        return self.query.get(key, [default])[0]


@dataclass
class Reply:
    status: int = 200
    body: bytes | str = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "text/html; charset=utf-8"

    def encoded(self) -> bytes:
        return self.body.encode() if isinstance(self.body, str) else self.body


Handler = Callable[[Request], Reply]


class _RouteHandler(QuietHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else 40 ms delayed-ACK stalls per response

    def setup(self) -> None:
        super().setup()
        self.server.owner.connections.append(self.client_address)  # type: ignore[attr-defined]

    def do_GET(self) -> None:
        outer: LocalHTTPServer = self.server.owner  # type: ignore[attr-defined]
        parts = urlsplit(self.path)
        req = Request("GET", parts.path, parse_qs(parts.query),
                      {k.lower(): v for k, v in self.headers.items()}, self.client_address)
        outer.requests.append(req)
        handler = outer.routes.get(parts.path)
        reply = handler(req) if handler else Reply(404, "not found")
        body = reply.encoded()
        self.send_response(reply.status)
        headers = {"Content-Type": reply.content_type, **reply.headers}
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class LocalHTTPServer(LoopbackServer):
    """`server.route("/path", handler_or_reply)`; `server.url("/path")`; `server.requests`."""

    handler = _RouteHandler

    def __init__(self) -> None:
        self.routes: dict[str, Handler] = {}
        self.requests: list[Request] = []
        self.connections: list[tuple[str, int]] = []
        super().__init__()

    def url(self, path: str = "/", host: str | None = None) -> str:
        return f"http://{host or LOOPBACK}:{self.port}{path}"

    def route(self, path: str, handler: Handler | Reply) -> None:
        self.routes[path] = handler if callable(handler) else (lambda _r, h=handler: h)

    def hits(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]


def gzip_reply(body: bytes, **kw: Any) -> Reply:
    return Reply(body=gzip.compress(body), headers={"Content-Encoding": "gzip"}, **kw)
