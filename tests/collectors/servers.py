"""Real loopback servers for collector tests: an HTTP server with a route table, and a SOCKS5
proxy that resolves `*.onion` names to a local server and records every CONNECT.

Both bind 127.0.0.1 only and run in threads, independent of the event loop under test.
"""

from __future__ import annotations

import gzip
import http.server
import socket
import socketserver
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

DATA = Path(__file__).parent / "data"


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


class _QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:
        """A client hanging up mid-body (a size cap doing its job) is expected here."""


class LocalHTTPServer:
    """`server.route("/path", handler_or_reply)`; `server.url("/path")`; `server.requests`."""

    def __init__(self) -> None:
        self.routes: dict[str, Handler] = {}
        self.requests: list[Request] = []
        self.connections: list[tuple[str, int]] = []
        outer = self

        class _H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else 40 ms delayed-ACK stalls per response

            def setup(self) -> None:
                super().setup()
                outer.connections.append(self.client_address)

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                req = Request("GET", parts.path, parse_qs(parts.query),
                              {k.lower(): v for k, v in self.headers.items()},
                              self.client_address)
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

            def log_message(self, *args) -> None:
                pass

        self._httpd = _QuietServer(("127.0.0.1", 0), _H)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.02,),
                                        daemon=True)

    def start(self) -> LocalHTTPServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def url(self, path: str = "/", host: str | None = None) -> str:
        return f"http://{host or '127.0.0.1'}:{self.port}{path}"

    def route(self, path: str, handler: Handler | Reply) -> None:
        self.routes[path] = handler if callable(handler) else (lambda _r, h=handler: h)

    def hits(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]


def gzip_reply(body: bytes, **kw) -> Reply:
    return Reply(body=gzip.compress(body), headers={"Content-Encoding": "gzip"}, **kw)


class Socks5Proxy:
    """A minimal SOCKS5 (RFC 1928, no auth, CONNECT only) proxy on 127.0.0.1.

    Domain names ending in `.onion` are "resolved" to `onion_target` (a local server); the
    literal 127.0.0.1 and `localhost` go to loopback; every other destination is refused
    (reply 0x04) so nothing can leave the machine. `connects` records (host, port) asked for;
    `upstreams` the (address, port) each relayed connection came from, so a test can check
    that every connection a server saw came from the proxy.
    """

    def __init__(self, onion_target: tuple[str, int]) -> None:
        self.onion_target = onion_target
        self.connects: list[tuple[str, int]] = []
        self.upstreams: list[tuple[str, int]] = []  # our side of each relayed connection
        outer = self

        class _H(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                outer._handle(self.request)

        self._srv = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _H)
        self._srv.daemon_threads = True
        self.port = self._srv.server_address[1]
        self._thread = threading.Thread(target=self._srv.serve_forever, args=(0.02,),
                                        daemon=True)

    @property
    def url(self) -> str:
        return f"socks5h://127.0.0.1:{self.port}"

    def start(self) -> Socks5Proxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._srv.shutdown()
        self._srv.server_close()

    @staticmethod
    def _recv(sock: socket.socket, n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("client closed")
            buf += chunk
        return buf

    def _handle(self, client: socket.socket) -> None:
        try:
            ver, nmethods = self._recv(client, 2)
            self._recv(client, nmethods)
            if ver != 5:
                return
            client.sendall(b"\x05\x00")
            ver, cmd, _rsv, atyp = self._recv(client, 4)
            if atyp == 1:
                host = socket.inet_ntoa(self._recv(client, 4))
            elif atyp == 3:
                (ln,) = self._recv(client, 1)
                host = self._recv(client, ln).decode()
            else:
                client.sendall(b"\x05\x08\x00\x01" + b"\x00" * 6)
                return
            (port,) = struct.unpack("!H", self._recv(client, 2))
            self.connects.append((host, port))
            if cmd != 1:
                client.sendall(b"\x05\x07\x00\x01" + b"\x00" * 6)
                return
            if host.endswith(".onion"):
                target = self.onion_target
            elif host in ("127.0.0.1", "localhost"):
                target = ("127.0.0.1", port)
            else:
                client.sendall(b"\x05\x04\x00\x01" + b"\x00" * 6)  # host unreachable
                return
            upstream = socket.create_connection(target, timeout=10)
            self.upstreams.append(upstream.getsockname()[:2])
            client.sendall(b"\x05\x00\x00\x01" + socket.inet_aton("127.0.0.1") +
                           struct.pack("!H", 0))
            self._pipe(client, upstream)
        except (ConnectionError, OSError):
            pass
        finally:
            client.close()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        def forward(src: socket.socket, dst: socket.socket) -> None:
            try:
                while data := src.recv(65536):
                    dst.sendall(data)
            except OSError:
                pass
            finally:
                try:
                    dst.shutdown(socket.SHUT_WR)
                except OSError:
                    pass

        t = threading.Thread(target=forward, args=(b, a), daemon=True)
        t.start()
        forward(a, b)
        t.join(timeout=10)
        b.close()


def free_port() -> int:
    """A loopback port with nothing listening on it (for 'proxy down' tests)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port
