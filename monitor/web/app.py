"""The console's ASGI app: settings, security headers, routes."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from monitor.config import Config, parse_config
from monitor.config import WebConfig as WebSettings
from monitor.store import Store
from monitor.web import api, pages
from monitor.web.auth import LoginLimiter

HERE = Path(__file__).parent
CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")


class SecurityHeaders:
    """Strict CSP and friends on every answer."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = message.setdefault("headers", [])
                headers += [(b"content-security-policy", CSP.encode()),
                            (b"x-content-type-options", b"nosniff"),
                            (b"referrer-policy", b"same-origin"),
                            (b"x-frame-options", b"DENY"),
                            (b"cache-control", b"no-store")]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(store: Store, settings: WebSettings | None = None,
               config: Config | None = None) -> Starlette:
    """The console over `store` (one connection, calls serialized by the Store's lock);
    `config` gives the sources and rules pages their sources, rule paths and sets."""
    app = Starlette(routes=[*pages.ROUTES, *api.ROUTES,
                            Mount("/static", StaticFiles(directory=HERE / "static"),
                                  name="static")],
                    middleware=[Middleware(SecurityHeaders)])
    app.state.store = store
    app.state.settings = settings or WebSettings()
    app.state.config = config or parse_config({})
    app.state.state_dir = store.state_dir
    app.state.limiter = LoginLimiter()
    app.state.templates = Environment(loader=FileSystemLoader(HERE / "templates"),
                                      autoescape=select_autoescape(default=True))
    return app
