"""A SOCKS5 proxy on 127.0.0.1 standing in for Tor: it resolves `*.onion` names to a local
server and records every CONNECT, so tests can check that onion traffic went through it."""

from __future__ import annotations

import socket
import socketserver
import struct
import threading

from tests.support.net import LOOPBACK


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

        self._srv = socketserver.ThreadingTCPServer((LOOPBACK, 0), _H)
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
