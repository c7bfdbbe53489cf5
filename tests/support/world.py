"""Loopback stand-ins for the outside world of an end-to-end run: a Pastebin scraping API and a
t.me/s web preview (the SOC's webhook is `tests.support.sinks.WebhookReceiver`).

All bind 127.0.0.1 on ephemeral ports and run in daemon threads of the test process.
"""

from __future__ import annotations

import html
import json
import threading
import time
from collections import Counter
from urllib.parse import parse_qs, urlsplit

from tests.support.http import LoopbackServer, QuietHandler


class _GetHandler(QuietHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        status, ctype, body = self.server.owner.get(  # type: ignore[attr-defined]
            parts.path, parse_qs(parts.query))
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Server(LoopbackServer):
    """A loopback server answering GETs from `get(path, query)`; serving from the start."""

    handler = _GetHandler

    def __init__(self) -> None:
        self.lock = threading.Lock()
        super().__init__()
        self.start()

    def get(self, path: str, query: dict[str, list[str]]) -> tuple[int, str, bytes]:
        return 404, "text/plain", b"not found"


class PasteFeed(_Server):
    """Pastebin's scraping API: `api_scraping.php?limit=N` and `api_scrape_item.php?i=KEY`."""

    def __init__(self) -> None:
        self.pastes: list[dict] = []
        self.bodies: dict[str, bytes] = {}
        self.item_fetches: Counter[str] = Counter()
        self.item_delay = 0.0
        self._date = int(time.time()) - 3600
        super().__init__()

    def add(self, key: str, body: str, title: str = "") -> None:
        with self.lock:
            self._date += 1
            self.pastes.append({
                "scrape_url": f"{self.base}/api_scrape_item.php?i={key}",
                "full_url": f"https://pastebin.com/{key}", "date": str(self._date), "key": key,
                "size": str(len(body)), "expire": "0", "title": title, "syntax": "text",
                "user": "dumper", "hits": "1"})
            self.bodies[key] = body.encode()

    def get(self, path, query):
        if path.endswith("/api_scraping.php"):
            limit = int(query.get("limit", ["50"])[0])
            with self.lock:
                newest = sorted(self.pastes, key=lambda p: -int(p["date"]))[:limit]
            return 200, "application/json", json.dumps(newest).encode()
        if path.endswith("/api_scrape_item.php"):
            key = query.get("i", [""])[0]
            with self.lock:
                self.item_fetches[key] += 1
                body = self.bodies.get(key)
            if self.item_delay:
                time.sleep(self.item_delay)
            if body is None:
                return 200, "text/plain", b"Error, we cannot find this paste."
            return 200, "text/plain; charset=utf-8", body
        return super().get(path, query)


class TelegramPreview(_Server):
    """`/s/<channel>`: the t.me web preview markup (newest posts last, no pagination)."""

    def __init__(self) -> None:
        self.channels: dict[str, list[tuple[int, str]]] = {}
        super().__init__()

    def post_message(self, channel: str, text: str) -> int:
        with self.lock:
            posts = self.channels.setdefault(channel, [])
            msg_id = len(posts) + 1
            posts.append((msg_id, text))
            return msg_id

    def get(self, path, query):
        if not path.startswith("/s/"):
            return super().get(path, query)
        channel = path[3:].strip("/")
        with self.lock:
            posts = list(self.channels.get(channel, []))
        blocks = "".join(_tme_block(channel, i, text) for i, text in posts)
        page = (
            "<!DOCTYPE html><html><head><meta charset=\"utf-8\">"
            f"<title>{channel} – Telegram</title></head>"
            "<body class=\"widget_frame_base tgme_webpreview\"><main class=\"tgme_main\">"
            f"<div class=\"tgme_channel_info\"><div class=\"tgme_channel_info_header_title\">"
            f"<span>{channel}</span></div></div>"
            "<section class=\"tgme_channel_history js-message_history\">"
            f"{blocks}</section></main></body></html>")
        return 200, "text/html; charset=utf-8", page.encode()


def _tme_block(channel: str, msg_id: int, text: str) -> str:
    body = html.escape(text).replace("\n", "<br/>")
    return (
        "<div class=\"tgme_widget_message_wrap js-widget_message_wrap\">"
        f"<div class=\"tgme_widget_message js-widget_message\" data-post=\"{channel}/{msg_id}\">"
        "<div class=\"tgme_widget_message_bubble\">"
        f"<div class=\"tgme_widget_message_text js-message_text\" dir=\"auto\">{body}</div>"
        "<div class=\"tgme_widget_message_footer\"><div class=\"tgme_widget_message_info\">"
        "<span class=\"tgme_widget_message_views\">1.2K</span>"
        "<span class=\"tgme_widget_message_meta\">"
        f"<a class=\"tgme_widget_message_date\" href=\"https://t.me/{channel}/{msg_id}\">"
        "<time datetime=\"2026-11-28T10:00:00+00:00\" class=\"time\">10:00</time></a>"
        "</span></div></div></div></div></div>")
