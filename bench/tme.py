"""The benches' loopback HTTP server and the t.me/s channel pages it serves (127.0.0.1 only).

`bench.collect_bench` and `bench.small_bench` both feed the telegram_web collector from here:
`channel_page(posts, before)` pages a list of post blocks as t.me/s does (20 a page, the newest
first, `?before=N` for older ones, the "load more" link while there are any), and
`LoopbackServer` serves such pages (and any other route) from a forked process, so that its
threads do not compete for the GIL with the collector and the pipeline being measured;
`channel_route` renders a channel's pages before the fork, so the server's CPU per request
(reported by `cpu_s()`) is little more than http.server's own.
"""

from __future__ import annotations

import html
import http.server
import multiprocessing
import os
from collections.abc import Callable, Sequence
from urllib.parse import parse_qs, urlsplit

PAGE = 20  # posts per t.me/s page
CHANNEL = "benchchan"

# One `.tgme_widget_message` block as t.me/s writes it (author, text with a link, views, date).
POST = """<div class="tgme_widget_message_wrap js-widget_message_wrap"><div class="tgme_widget_message \
text_not_supported_wrap js-widget_message" data-post="benchchan/{id}"><div class="tgme_widget_message_bubble">\
<div class="tgme_widget_message_author accent_color"><a class="tgme_widget_message_owner_name" \
href="https://t.me/benchchan"><span dir="auto">Bench</span></a></div>\
<div class="tgme_widget_message_text js-message_text" dir="auto">{text}</div>\
<div class="tgme_widget_message_footer compact js-message_footer"><div class="tgme_widget_message_info short \
js-message_info"><span class="tgme_widget_message_views">{n}K</span><span class="tgme_widget_message_meta">\
<a class="tgme_widget_message_date" href="https://t.me/benchchan/{id}"><time \
datetime="2024-05-24T09:{mm:02d}:00+00:00" class="time">09:00</time></a></span></div></div></div></div></div>
"""


def post_html(post_id: int, text_html: str) -> str:
    """Post `post_id` of the bench channel with `text_html` as its message text."""
    return POST.format(id=post_id, text=text_html, n=post_id % 97, mm=post_id % 60)


def message_posts(messages: Sequence[str]) -> list[str]:
    """Posts 1..N carrying the given plain-text messages (lines become `<br/>`)."""
    return [post_html(i + 1, html.escape(m).replace("\n", "<br/>"))
            for i, m in enumerate(messages)]


def channel_page(posts: Sequence[str], before: int | None) -> bytes:
    """The t.me/s page of the posts below `before` (None: the newest), as Telegram pages them."""
    total = len(posts)
    top = min(total, (before - 1) if before else total)
    lo = max(1, top - PAGE + 1)
    more = (f'<a href="/s/{CHANNEL}?before={lo}" class="tme_messages_more js-messages_more" '
            f'data-before="{lo}"></a>') if lo > 1 else ""
    return (f"<html><head><title>Bench – Telegram</title></head><body><main><section>{more}"
            f"{''.join(posts[lo - 1:top])}</section></main><div class=\"tgme_channel_info\">"
            f"</div></body></html>").encode()


def channel_route(posts: Sequence[str]) -> Callable[[str, dict[str, list[str]]], bytes]:
    """A `LoopbackServer` route serving `posts` as the pages of t.me/s/benchchan.

    The pages a reader walks (the newest, then each "load more" anchor) are rendered here,
    before the server forks: Telegram's servers are not on the measured machine, so its
    server does as little as it can per request (a lookup); other anchors are rendered on
    demand."""
    pages: dict[int | None, bytes] = {}
    before: int | None = None
    while True:
        pages[before] = channel_page(posts, before)
        top = min(len(posts), (before - 1) if before else len(posts))
        lo = max(1, top - PAGE + 1)
        if lo <= 1:
            break
        before = lo

    def serve(_path: str, query: dict[str, list[str]]) -> bytes:
        value = query.get("before", [None])[0]
        anchor = int(value) if value else None
        page = pages.get(anchor)
        return page if page is not None else channel_page(posts, anchor)
    return serve


Route = Callable[[str, dict[str, list[str]]], bytes]


class LoopbackServer:
    """HTTP/1.1 on 127.0.0.1 (keep-alive, no Nagle delay), served from a forked process.

    `routes` maps a path, or a prefix ending in "/", to `fn(path, query) -> HTML bytes`; any
    other path is a 404. `url(path)` gives the address; `close()` stops the server process.
    """

    def __init__(self, routes: dict[str, Route]) -> None:
        def route_for(path: str) -> Route | None:
            if path in routes:
                return routes[path]
            return next((fn for p, fn in routes.items()
                         if p.endswith("/") and path.startswith(p)), None)

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else 40 ms delayed-ACK stalls per response

            def do_GET(self) -> None:
                u = urlsplit(self.path)
                fn = route_for(u.path)
                if fn is None:
                    self.send_error(404)
                    return
                body = fn(u.path, parse_qs(u.query))
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.proc = multiprocessing.get_context("fork").Process(
            target=self.httpd.serve_forever, daemon=True)
        self.proc.start()

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def cpu_s(self) -> float | None:
        """CPU seconds (user + system) the server process used so far; None off Linux."""
        try:
            with open(f"/proc/{self.proc.pid}/stat") as fh:
                fields = fh.read().rpartition(")")[2].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def close(self) -> None:
        self.proc.terminate()
        self.proc.join()
        self.httpd.server_close()
