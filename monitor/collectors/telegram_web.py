"""telegram_web: a public channel read through its web preview, `https://t.me/s/<channel>`.

No account is needed, so this is the cheap way to watch many channels; it sees what the preview
shows (text, links, attached documents' names, not their content). The page structure parsed
here (with selectolax, not regexes) is Telegram's widget markup: `.tgme_widget_message` blocks
with `data-post="channel/123"`, `.js-message_text`, `.tgme_widget_message_date time[datetime]`,
`.tgme_widget_message_views`, `.tgme_widget_message_meta` ("edited"), forwarded-from headers,
`.tgme_widget_message_document_title`, `service_message` blocks, and the "load more" link
`a.tme_messages_more[data-before]`.

Failure modes Telegram reports as HTTP 200 or redirects, recognized here: a channel without
preview (or a group/user/bot) redirects `/s/<name>` to `/<name>`; a name that does not exist
redirects the same way to a page without a title; flood limiting answers "Too Many Requests".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from selectolax.lexbor import LexborHTMLParser, LexborNode

from monitor.collectors.base import (
    Batch,
    Collector,
    CollectorDeferred,
    SourceConfig,
    dump_cursor,
    extract_links,
    load_cursor,
    merge_links,
    opt,
    require,
)
from monitor.collectors.http_client import HttpClient, make_client
from monitor.collectors.process_feed import (
    ProcessFeed,
    ReaderUnavailable,
    TaskFeed,
    prestart,
    worth_a_process,
)
from monitor.config import Config
from monitor.errors import ConfigError
from monitor.models import Document
from monitor.telegram_links import channel_name, is_username

log = logging.getLogger(__name__)

KEYS = frozenset({"channel", "base_url", "max_pages", "batch_size"})
# Elements whose content is a separate line: "dump ready<blockquote>acme.com" must not glue.
_BLOCKS = "br, p, div, blockquote, pre, code, li, tg-spoiler"
_BLOCK_TAGS = frozenset(_BLOCKS.split(", ")) - {"br"}
_BLANKS = re.compile(r"\n{3,}")
_CLASS_TAIL = re.compile(r"tgme_widget_message_(?=([a-z_]+))")  # overlapping: a lookahead


@dataclass(slots=True)
class WebPost:
    """One message block of a t.me/s page."""

    id: int
    channel: str
    text: str
    posted_at: datetime | None
    author: str | None = None
    views: int | None = None
    edited: bool = False
    service: bool = False
    forwarded_from: str | None = None
    documents: list[dict[str, str]] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    media: list[str] = field(default_factory=list)  # "[photo]", "[poll] question: a / b", ...
    reply_to: str | None = None  # the answered message's URL


@dataclass(slots=True)
class WebPage:
    posts: list[WebPost]
    before: int | None  # the "load older" anchor, None when at the start of the channel
    title: str | None = None


class PreviewUnavailable(Exception):
    """The page is not a channel preview; `reason` says what it is instead."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def parse_views(text: str) -> int | None:
    """'1.2K' -> 1200, '32.3K' -> 32300 (Decimal: float gives 32299), '3M' -> 3000000."""
    t = text.strip().upper().replace(",", "")
    mult = 1
    if t.endswith("K"):
        mult, t = 1000, t[:-1]
    elif t.endswith("M"):
        mult, t = 1_000_000, t[:-1]
    try:
        return int(Decimal(t) * mult)
    except (InvalidOperation, ValueError):
        return None


def _text_of(node: LexborNode) -> str:
    """Text with block elements on their own lines: a `br` is a line break, the content of
    the other `_BLOCKS` sits between two. One walk over the node's children (the node is not
    modified; a css query and a DOM edit per `br` cost twice as much)."""
    parts: list[str] = []

    def walk(parent: LexborNode) -> None:
        for child in parent.iter(include_text=True):
            tag = child.tag
            if tag == "-text":
                parts.append(child.text_content or "")
            elif tag == "br":
                parts.append("\n")
            elif tag in _BLOCK_TAGS:
                parts.append("\n")
                walk(child)
                parts.append("\n")
            else:
                walk(child)

    walk(node)
    text = "\n".join([ln.strip() for ln in "".join(parts).split("\n")])
    return _BLANKS.sub("\n\n", text).strip() if "\n\n\n" in text else text.strip()


def _clean(node: LexborNode | None) -> str:
    return " ".join(node.text(deep=True).split()) if node is not None else ""


class _Page:
    """Which optional classes occur anywhere in the page's HTML: a per-block query for a class
    the page does not contain cannot match, so it is not made (most posts are text only)."""

    OPTIONAL = ("photo_wrap", "video_player", "roundvideo_player", "voice_player",
                "sticker_wrap", "location_wrap", "poll", "link_preview", "document",
                "forwarded_from_name", "reply", "from_author")

    def __init__(self, html: str, edited: bool) -> None:
        # one pass for the classes present, then `c in has` iff "tgme_widget_message_<c>"
        # is in the HTML (12 searches of the page before)
        found = set(_CLASS_TAIL.findall(html))
        self.has = {c for c in self.OPTIONAL if any(f.startswith(c) for f in found)}
        self.edited = edited  # a meta says "edited" (in any case) somewhere in the page


# The metas that can say "edited": what _parse_block reads, looked for in the whole page at
# once (lexbor compares the text; lowering the page's HTML for it cost 3 times as much).
_EDITED_META = ".tgme_widget_message_meta:lexbor-contains('edited' i)"
_ALL = _Page("".join(f"tgme_widget_message_{c}" for c in _Page.OPTIONAL), edited=True)


def _media(block: LexborNode, page: _Page = _ALL) -> list[str]:
    """Attachments as text, so a post without caption is still visible and matchable."""
    out: list[str] = []
    has = page.has
    if "photo_wrap" in has:
        for _ in block.css(".tgme_widget_message_photo_wrap"):
            out.append("[photo]")
    if "video_player" in has:
        for _ in block.css(".tgme_widget_message_video_player"):
            out.append("[video]")
    if "roundvideo_player" in has:
        for _ in block.css(".tgme_widget_message_roundvideo_player"):
            out.append("[round video]")
    if "voice_player" in has:
        for node in block.css(".tgme_widget_message_voice_player"):
            duration = _clean(node.css_first(".tgme_widget_message_voice_duration"))
            out.append(f"[voice] {duration}".strip())
    if "sticker_wrap" in has:
        for _ in block.css(".tgme_widget_message_sticker_wrap"):
            out.append("[sticker]")
    if "location_wrap" in has:
        for node in block.css("a.tgme_widget_message_location_wrap"):
            href = node.attributes.get("href") or ""
            out.append(f"[location] {href}".strip())
    if "poll" in has:
        for poll in block.css(".tgme_widget_message_poll"):
            question = _clean(poll.css_first(".tgme_widget_message_poll_question"))
            options = [_clean(o) for o in poll.css(".tgme_widget_message_poll_option_text")]
            out.append(f"[poll] {question}: " + " / ".join(options))
    for prev in block.css(".tgme_widget_message_link_preview") if "link_preview" in has else ():
        parts = [_clean(prev.css_first(c)) for c in (
            ".link_preview_site_name", ".link_preview_title", ".link_preview_description")]
        href = prev.attributes.get("href") or ""
        out.append("[link preview] " + " | ".join(p for p in [*parts, href] if p))
    return out


def _hrefs(node: LexborNode | None) -> list[str]:
    if node is None:
        return []
    out = []
    for a in node.css("a[href]"):
        href = (a.attributes.get("href") or "").strip()
        if href.startswith(("http://", "https://", "tg://")):
            out.append(href)
    return out


def parse_page(html: str, channel: str) -> WebPage:
    """Parse a t.me/s/<channel> page. Raises PreviewUnavailable for rate-limit and
    not-a-preview pages served with HTTP 200."""
    tree = LexborHTMLParser(html)
    title_node = tree.css_first("title")
    page_title = title_node.text().strip() if title_node else ""
    body_text = tree.body.text() if tree.body else ""
    if "too many requests" in page_title.lower() or (
            len(body_text) < 500 and "too many requests" in body_text.lower()):
        raise PreviewUnavailable("rate_limited")
    blocks = tree.css("div.tgme_widget_message[data-post]")
    if not blocks:
        if tree.css_first(".tgme_channel_info") is None:
            raise PreviewUnavailable(_classify_non_preview(tree))
        return WebPage([], None, page_title)
    seen = _Page(html, tree.css_first(_EDITED_META) is not None)
    posts = [p for p in (_parse_block(b, channel, seen) for b in blocks) if p is not None]
    more = tree.css_first("a.tme_messages_more[data-before]")
    before = None
    if more is not None:
        try:
            before = int(more.attributes.get("data-before") or "")
        except ValueError:
            before = None
    return WebPage(posts, before, page_title)


def _classify_non_preview(tree: LexborHTMLParser) -> str:
    if tree.css_first(".tgme_page_title") is not None:
        return "no_preview"
    return "not_found"


def _parse_block(block: LexborNode, channel: str, page: _Page = _ALL) -> WebPost | None:
    attrs = block.attributes  # (a dict built at each use)
    post_ref = attrs.get("data-post") or ""
    chan, _, num = post_ref.rpartition("/")
    try:
        post_id = int(num)
    except ValueError:
        log.warning("telegram_web %s: skipping a message with data-post=%r", channel, post_ref)
        return None
    classes = (attrs.get("class") or "").split()
    service = "service_message" in classes
    text_node = block.css_first(".tgme_widget_message_text.js-message_text") or next(
        (n for n in block.css(".tgme_widget_message_text")
         if "js-message_reply_text" not in (n.attributes.get("class") or "")), None)
    links = merge_links(_hrefs(text_node))
    text = _text_of(text_node) if text_node is not None else ""
    links = merge_links(links, extract_links(text))
    time_node = block.css_first(".tgme_widget_message_date time[datetime]") or block.css_first(
        "time[datetime]")
    posted_at = None
    if time_node is not None:
        try:
            posted_at = datetime.fromisoformat(time_node.attributes.get("datetime") or "")
        except ValueError:
            posted_at = None
    # The post's signature; `.tgme_widget_message_owner_name` is the channel title, not an author.
    has = page.has
    author_node = block.css_first(".tgme_widget_message_from_author") \
        if "from_author" in has else None
    views_node = block.css_first(".tgme_widget_message_views")
    meta = block.css_first(".tgme_widget_message_meta") if page.edited else None
    fwd = block.css_first(".tgme_widget_message_forwarded_from_name") \
        if "forwarded_from_name" in has else None
    forwarded_from = None
    if fwd is not None:
        forwarded_from = fwd.text().strip() or None
        href = fwd.attributes.get("href")
        if href:
            forwarded_from = f"{forwarded_from} ({href})" if forwarded_from else href
            links = merge_links(links, [href])
        fwd_author = _clean(block.css_first(".tgme_widget_message_forwarded_from_author"))
        if fwd_author:
            forwarded_from = f"{forwarded_from}, {fwd_author}" if forwarded_from else fwd_author
    reply = block.css_first("a.tgme_widget_message_reply") if "reply" in has else None
    reply_to = (reply.attributes.get("href") or None) if reply is not None else None
    edited = False
    if meta is not None:  # "edited" is a bare text node of the meta; the signature is not
        for child in meta.iter(include_text=True):
            if child.tag == "-text" and "edited" in (child.text_content or "").lower():
                edited = True
    media = _media(block, page)
    for prev in block.css(".tgme_widget_message_link_preview") if "link_preview" in has else ():
        links = merge_links(links, [*_hrefs(prev), prev.attributes.get("href") or ""])
    documents = []
    for doc in block.css(".tgme_widget_message_document") if "document" in has else ():
        title = doc.css_first(".tgme_widget_message_document_title")
        extra = doc.css_first(".tgme_widget_message_document_extra")
        if title is not None and title.text().strip():
            documents.append({"name": title.text().strip(),
                              "size": extra.text().strip() if extra is not None else ""})
    return WebPost(
        id=post_id, channel=chan or channel, text=text, posted_at=posted_at,
        author=author_node.text().strip() if author_node is not None else None,
        views=parse_views(views_node.text()) if views_node is not None else None,
        edited=edited, service=service, forwarded_from=forwarded_from, documents=documents,
        links=[u for u in links if u], media=media, reply_to=reply_to,
    )


PAGES_AHEAD = 5  # pages read ahead of the runner: a default batch (memory: ~20 posts each)


@dataclass(slots=True)
class _Read:
    """What `_read_pages` puts for one page: its new posts as documents (oldest first; made
    by the reader, in the reader process when there is one) and, on the run's last page,
    `last` and the newest post id seen (the run's cursor)."""

    documents: list[Document]
    last: bool = False
    newest: int | None = None


@dataclass(slots=True)
class _ReadState:
    """Where a run's page reading stands, so that another reader (process) can go on: the
    saved cursor's id, the backfill posts still to take, the ids seen, the newest id, the
    next page's `before` anchor and how many pages were read."""

    last_id: int | None
    quota: int
    seen: set[int] = field(default_factory=set)
    newest: int | None = None
    before: int | None = None
    pages: int = 0


class TelegramWebCollector(Collector):
    platform = "telegram_web"

    def __init__(self, source: SourceConfig, config: Config, *,
                 client: HttpClient | None = None) -> None:
        super().__init__(source)
        where = source.where
        o = source.options
        channel = channel_name(require(o, "channel", str, where))
        if not is_username(channel):
            raise ConfigError(f"{where}: channel {channel!r} is not a public channel username")
        self.channel = channel
        self.base_url = opt(o, "base_url", str, "https://t.me", where).rstrip("/")
        self.max_pages = opt(o, "max_pages", int, 50, where)
        self.batch_size = opt(o, "batch_size", int, 100, where)
        self.config = config
        # A collector with its own client reads pages in a child process when there is a
        # second CPU (process_feed); one given a client (tests) reads them on this loop.
        self.in_child = client is None and worth_a_process()
        self.feed: ProcessFeed | TaskFeed | None = None  # the page feed of the run under way
        self.http = client or make_client(config.network, source=source.name, tor=source.tor)

    def page_url(self) -> str:
        return f"{self.base_url}/s/{self.channel}"

    async def fetch_page(self, before: int | None) -> WebPage:
        params = {"before": str(before)} if before else None
        result = await self.http.get(self.page_url(), params=params)
        final_path = urlsplit(result.url).path  # (httpx.URL parses the same, 5x slower)
        try:
            if result.history and not final_path.startswith("/s/"):
                raise PreviewUnavailable(_classify_non_preview(LexborHTMLParser(result.text)))
            return parse_page(result.text, self.channel)
        except PreviewUnavailable as e:
            raise self._unavailable(e.reason) from None

    def _unavailable(self, reason: str) -> Exception:
        if reason == "rate_limited":
            return CollectorDeferred(
                f"{self.source.where}: t.me answered 'Too Many Requests' for {self.channel}; "
                "deferring this source", 300.0)
        if reason == "no_preview":
            return self.error(
                f"t.me/{self.channel} has no public web preview (a private channel, a group, "
                "a user or a channel with the preview disabled); use a `telegram` source instead")
        return self.error(f"t.me/{self.channel} does not exist (Telegram shows its "
                          "'contact' page without a title)")

    async def collect(self, cursor: str | None) -> AsyncIterator[Batch]:
        """Newest page first, the next pages read while the runner stores the batch before.

        Pages are read from the newest post back to the saved `last_id` (or `backfill` posts);
        a batch is whole pages up to `batch_size` posts (a page's posts oldest first): one
        commit per 20 posts costs a third more per document than one per 100. Only the last
        batch of a run carries the cursor (the newest id): a run that stops or crashes after
        page k has committed pages 1..k without moving the cursor, and the next run reads them
        again, skipped there as exact repeats; nothing in between is lost.
        """
        last_id = load_cursor(cursor, self.source.where).get("last_id")
        if last_id is not None and not isinstance(last_id, int):
            raise self.error(f"saved cursor has a bad last_id {last_id!r}")
        async with contextlib.AsyncExitStack() as stack:
            # The first page is read here (a run of a watched channel is mostly one page);
            # a run that goes on continues in a reader process when there is one.
            state = _ReadState(last_id, self.source.backfill, newest=last_id)
            feed: ProcessFeed | TaskFeed = await stack.enter_async_context(TaskFeed(
                self._read_pages, (state, 1 if self.in_child else None), ahead=PAGES_AHEAD))
            self.feed = feed
            finished = False
            while not finished:
                new: list[Document] = []
                newest: int | None = None
                while len(new) < self.batch_size:
                    item = await feed.get()
                    if isinstance(item, _ReadState):  # the first page was not the last
                        feed = self.feed = await self._go_on(stack, item)
                        continue
                    if isinstance(item, Exception):
                        raise item
                    new += item.documents
                    if item.last:
                        finished, newest = True, item.newest
                        break
                done = None
                if newest is not None and (last_id is None or newest > last_id):
                    done = dump_cursor({"last_id": newest})
                    if not new:
                        yield Batch([], done, 0)
                for i in range(0, len(new), self.batch_size):
                    chunk = new[i:i + self.batch_size]
                    yield Batch(chunk,
                                done if i + self.batch_size >= len(new) else None, len(chunk))

    async def _go_on(self, stack: contextlib.AsyncExitStack,
                     state: _ReadState) -> ProcessFeed | TaskFeed:
        """The feed that reads the rest of the run from `state`: a reader process, or this
        loop when none can start."""
        try:
            return await stack.enter_async_context(ProcessFeed(
                _read_in_child, (self.source, self.config, state), ahead=PAGES_AHEAD,
                name=f"source {self.name}"))
        except ReaderUnavailable as e:
            log.warning("%s; reading its pages in this process instead", e)
            self.in_child = False
        return await stack.enter_async_context(
            TaskFeed(self._read_pages, (state, None), ahead=PAGES_AHEAD))

    async def _read_pages(self, state: _ReadState, pages: int | None,
                          out: asyncio.Queue[Any]) -> None:
        """Put each page's new posts on `out`, the last page marked; a failure is put there
        too, for `collect` to raise after the pages before it. After `pages` pages (when
        given) of a run that goes on, put the `_ReadState` to go on from instead (`out`: a
        queue, or process_feed's sender)."""
        try:
            last_id = state.last_id
            seen = state.seen
            first = state.pages
            for n in range(first, self.max_pages):
                if pages is not None and n - first == pages:
                    await out.put(state)
                    return
                before = state.before
                page = await self.fetch_page(before)
                if not page.posts:
                    break
                fresh = sorted((p for p in page.posts if p.id not in seen), key=lambda p: p.id)
                seen.update(p.id for p in fresh)
                newest = state.newest
                if fresh:
                    state.newest = max(fresh[-1].id, newest if newest is not None else fresh[-1].id)
                if last_id is not None:
                    new = [p for p in fresh if p.id > last_id]
                else:
                    quota = state.quota
                    new = fresh[len(fresh) - quota:] if quota < len(fresh) else fresh
                    state.quota -= len(new)
                oldest = min(p.id for p in page.posts)
                reached = (last_id is not None and oldest <= last_id + 1) or (
                    last_id is None and len(seen) >= self.source.backfill) or (
                    page.before is None or page.before >= (before or page.before + 1))
                if reached or n + 1 == self.max_pages:
                    if not reached and last_id is not None:
                        log.warning("source %s: more than %d pages of new posts since %s; "
                                    "older ones in between are skipped", self.name,
                                    self.max_pages, last_id)
                    await out.put(_Read([self.to_document(p) for p in new], True,
                                        state.newest))
                    return
                if new:
                    await out.put(_Read([self.to_document(p) for p in new]))
                state.before, state.pages = page.before, n + 1
            await out.put(_Read([], True, state.newest))
        except Exception as e:  # CollectorDeferred, CollectorError: raised by collect
            await out.put(e)

    def to_document(self, p: WebPost) -> Document:
        body = p.text
        if p.documents:
            body += "".join(f"\n[document] {d['name']} {d['size']}".rstrip()
                            for d in p.documents)
        if p.media:
            body += "".join(f"\n{m}" for m in p.media)
        body = body.strip()
        meta: dict[str, Any] = {"links": p.links, "channel": p.channel}
        if p.reply_to:
            meta["reply_to"] = p.reply_to
        if p.views is not None:
            meta["views"] = p.views
        if p.documents:
            meta["attachments"] = p.documents
        if p.service:
            meta["service"] = True
        if p.edited:
            meta["edited"] = True
        return Document(
            source=self.name, platform=self.platform, external_id=str(p.id),
            content=body.encode("utf-8"), url=f"https://t.me/{p.channel}/{p.id}",
            title=None, author=p.author, posted_at=p.posted_at,
            # The preview says "edited" but not when: metadata["edited"] carries the flag.
            forwarded_from=p.forwarded_from, metadata=meta,
        )

    async def aclose(self) -> None:
        await self.http.aclose()


async def _read_in_child(source: SourceConfig, config: Config, state: _ReadState,
                         out: Any) -> None:
    """The reader process's side (process_feed): the same page reading, its own client (a
    blocking one: nothing else runs on this process's loop)."""
    collector = TelegramWebCollector(source, config, client=make_client(
        config.network, source=source.name, tor=source.tor, blocking=True))
    try:
        await collector._read_pages(state, None, out)
    finally:
        await collector.aclose()


def build(source: SourceConfig, config: Config, state_dir: Path) -> TelegramWebCollector:
    collector = TelegramWebCollector(source, config)
    if collector.in_child:
        prestart()  # the daemon's start-up: the reader processes' server gets ready meanwhile
    return collector
