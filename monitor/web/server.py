"""Running the console with uvicorn, standalone (`leakmon web`) or inside the daemon."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import uvicorn

from monitor.config import Config, WebConfig
from monitor.errors import ConfigError
from monitor.store import Store
from monitor.web.app import create_app


def split_listen(listen: str, where: str = "[web] listen") -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"{where}: {listen!r} is not HOST:PORT (e.g. 127.0.0.1:8080)")
    return host.strip("[]") or "127.0.0.1", int(port)


def make_server(store: Store, web: WebConfig, listen: str | None = None,
                config: Config | None = None) -> uvicorn.Server:
    """A uvicorn Server for the console; `listen` overrides `[web] listen`."""
    host, port = split_listen(listen or web.listen)
    uconfig = uvicorn.Config(create_app(store, web, config), host=host, port=port, log_level="warning",
                            access_log=False, proxy_headers=False, server_header=False)
    return uvicorn.Server(uconfig)


class BackgroundServer:
    """The console in a thread (the daemon's `web = true`, and tests): started() waits for
    uvicorn's own readiness flag, not a sleep."""

    def __init__(self, server: uvicorn.Server, *,
                 on_stop: Callable[[], None] | None = None) -> None:
        self.server = server
        self._on_stop = on_stop
        self._thread = threading.Thread(target=server.run, name="leakmon-web", daemon=True)

    def start(self, timeout: float = 30.0) -> BackgroundServer:
        self._thread.start()
        deadline = threading.Event()
        while not self.server.started:
            if not self._thread.is_alive():
                raise ConfigError("the web console failed to start (see the log)")
            deadline.wait(0.01)
            timeout -= 0.01
            if timeout <= 0:
                raise ConfigError("the web console did not start in time")
        return self

    @property
    def port(self) -> int:
        return self.server.servers[0].sockets[0].getsockname()[1]

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=30)
        if self._on_stop is not None:
            self._on_stop()


def serve_in_thread(config: Config, store: Store, *,
                    on_stop: Callable[[], None] | None = None) -> BackgroundServer:
    return BackgroundServer(make_server(store, config.web, config=config),
                            on_stop=on_stop).start()


def start_console(config: Config, state_dir: Path) -> BackgroundServer:
    """The console the daemon hosts when `[daemon] web = true` (handed to it by `leakmon run`,
    so the daemon layer never imports the web layer): its own store connection, closed when
    the server stops."""
    store = Store.from_config(config, state_dir)
    try:
        return serve_in_thread(config, store, on_stop=store.close)
    except BaseException:
        store.close()
        raise
