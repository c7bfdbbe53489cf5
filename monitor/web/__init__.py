"""The analysts' console and HTTP API (Starlette, Jinja2, uvicorn); see docs/web.md."""

from monitor.web.app import WebSettings, create_app

__all__ = ["WebSettings", "create_app"]
