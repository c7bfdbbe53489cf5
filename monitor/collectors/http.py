"""http: one configurable collector for the long tail of sources.

`format = "rss"` reads RSS/Atom with feedparser; `format = "json"` reads a JSON API (a dotted
`items_path` to the list, and a `fields` table mapping id/url/title/text/date/author to dotted
paths inside each item); `format = "html"` reads a listing page with CSS selectors (`items`,
`link`, `title`, `text`, `date`) and, with `follow = true`, fetches each item's own page (its
text from `follow_text`). Each item becomes a document; linked files (txt, csv, sql, zip …)
become documents of their own. With `tor = true` (or an .onion URL) everything goes through
the Tor proxy: this is how ransomware leak sites are watched (each victim post is an item).

Cursor: the ids (or URLs) of recent items, bounded by `remember`, and the newest item date;
an item not remembered but older than `newest - max_age` is taken as already seen, so an old
item falling out of the bounded window is not reported again.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import logging
from calendar import timegm
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urljoin

import feedparser
from dateutil import parser as dateparser
from selectolax.lexbor import LexborHTMLParser, LexborNode

from monitor.collectors.attachments import fetch_linked_files, host_of
from monitor.collectors.base import (
    Batch,
    Collector,
    SourceConfig,
    dump_cursor,
    extract_links,
    load_cursor,
    max_item_bytes,
    merge_links,
    opt,
    require,
)
from monitor.collectors.http_client import HttpClient, is_onion, make_client
from monitor.config import Config, parse_duration
from monitor.errors import ConfigError
from monitor.models import Document

log = logging.getLogger(__name__)

KEYS = frozenset({
    "url", "format", "items_path", "fields", "items", "link", "title", "text", "date", "author",
    "follow", "follow_text", "attachments", "max_attachments", "allowed_hosts", "remember",
    "max_age", "batch_size", "next_path", "page_param", "page_start", "max_pages",
})
FORMATS = ("rss", "json", "html")
FIELD_NAMES = ("id", "url", "title", "text", "date", "author")


@dataclass(slots=True)
class Item:
    id: str
    url: str | None
    title: str | None
    text: str
    date: datetime | None
    author: str | None = None
    links: list[str] = field(default_factory=list)


class _DateInfo(dateparser.parserinfo):
    """dateutil's English names plus French month and weekday names (leak sites are often
    French): "28 novembre 2026", "mardi 3 févr. 2026 à 14:00".

    The class lists override parserinfo's; its stubs type them as instance variables of
    fixed-length tuples, where parserinfo reads any number of names per entry."""

    MONTHS: ClassVar[list[tuple[str, ...]]] = [  # type: ignore[assignment, misc]
        (*en, *fr) for en, fr in zip(dateparser.parserinfo.MONTHS, [
        ("janvier", "janv"), ("février", "fevrier", "févr", "fevr"), ("mars",),
        ("avril", "avr"), ("mai",), ("juin",), ("juillet", "juil"), ("août", "aout"),
        ("septembre",), ("octobre",), ("novembre",), ("décembre", "decembre", "déc", "dec"),
    ], strict=True)]
    WEEKDAYS: ClassVar[list[tuple[str, ...]]] = [  # type: ignore[assignment, misc]
        (*en, *fr) for en, fr in zip(dateparser.parserinfo.WEEKDAYS, [
        ("lundi", "lun"), ("mardi",), ("mercredi", "mer"), ("jeudi", "jeu"),
        ("vendredi", "ven"), ("samedi", "sam"), ("dimanche", "dim"),
    ], strict=True)]
    JUMP: ClassVar[list[str]] = [*dateparser.parserinfo.JUMP, "à", "le"]  # type: ignore[misc]

    def __init__(self) -> None:
        super().__init__(dayfirst=True)


_DATE_INFO = _DateInfo()
EPOCH_MS_ABOVE = 100_000_000_000  # as seconds that is year 5138: such a number is milliseconds


def _epoch(number: float) -> datetime:
    if abs(number) >= EPOCH_MS_ABOVE:
        number /= 1000.0
    return datetime.fromtimestamp(number, UTC)


def parse_date(value: Any) -> datetime | None:
    """ISO 8601, epoch seconds or milliseconds, RFC 2822, and what dateutil reads day-first
    with English and French names ("28/11/2026", "28.11.2026 14:00", "Nov 28, 2026",
    "28 novembre 2026"); None when unreadable (the caller warns, the item is kept)."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        if isinstance(value, int | float):
            return _epoch(float(value))
        s = str(value).strip()
        if s.isdigit():
            return _epoch(int(s))
        try:
            dt = datetime.fromisoformat(s.replace("Z", "+00:00"))
        except ValueError:
            try:
                dt = email.utils.parsedate_to_datetime(s)
            except (TypeError, ValueError, IndexError):
                dt = dateparser.parse(s.replace(".", " ") if _has_month_name(s) else s,
                                      parserinfo=_DATE_INFO)
    except (ValueError, OverflowError, OSError, dateparser.ParserError):
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _has_month_name(s: str) -> bool:
    """'févr. 2026' needs the abbreviation's dot dropped; '28.11.2026' must keep its dots."""
    return any(c.isalpha() for c in s)


def dotted(obj: Any, path: str) -> Any:
    """`a.b.0.c` into nested dicts and lists; None when any step is missing."""
    if not path:
        return obj
    for part in path.split("."):
        if isinstance(obj, dict):
            obj = obj.get(part)
        elif isinstance(obj, list) and part.lstrip("-").isdigit():
            idx = int(part)
            obj = obj[idx] if -len(obj) <= idx < len(obj) else None
        else:
            return None
        if obj is None:
            return None
    return obj


def _node_text(node: LexborNode | None) -> str:
    if node is None:
        return ""
    for br in node.css("br"):
        br.replace_with("\n")
    return node.text(deep=True).strip()


def _join(base: str, href: str | None) -> str | None:
    """`href` made absolute; None for an empty or malformed one (hostile pages have both)."""
    if not href:
        return None
    try:
        return urljoin(base, href.strip())
    except ValueError:
        return None


def _anchors(node: LexborNode | None, base: str) -> list[str]:
    if node is None:
        return []
    out = []
    for a in node.css("a[href]"):
        href = (a.attributes.get("href") or "").strip()
        if href and not href.startswith(("#", "javascript:", "mailto:")) and \
                (url := _join(base, href)):
            out.append(url)
    return merge_links(out)


def _fallback_id(*parts: str | None) -> str:
    return "sha256:" + hashlib.sha256("\x00".join(p or "" for p in parts).encode()).hexdigest()


class HttpCollector(Collector):
    def __init__(self, source: SourceConfig, config: Config, *,
                 client: HttpClient | None = None) -> None:
        super().__init__(source)
        o, w = source.options, source.where
        self.url = require(o, "url", str, w)
        self.format = opt(o, "format", str, "rss", w)
        if self.format not in FORMATS:
            raise ConfigError(f"{w}: format must be one of {', '.join(FORMATS)}, "
                              f"got {self.format!r}")
        self.items_path = opt(o, "items_path", str, "", w)
        # JSON paging: a dotted path to the next page's URL in the answer, or a page number
        # query parameter; bounded by max_pages and stopped at a page of already-seen items.
        self.next_path = opt(o, "next_path", str, None, w)
        self.page_param = opt(o, "page_param", str, None, w)
        self.page_start = opt(o, "page_start", int, 1, w)
        self.max_pages = opt(o, "max_pages", int, 5, w)
        if (self.next_path or self.page_param) and self.format != "json":
            raise ConfigError(f"{w}: next_path and page_param apply to format = \"json\" only")
        if self.next_path and self.page_param:
            raise ConfigError(f"{w}: give next_path or page_param, not both")
        if self.max_pages < 1:
            raise ConfigError(f"{w}: max_pages must be at least 1")
        self.fields: dict[str, str] = opt(o, "fields", dict, {}, w)
        bad = sorted(set(self.fields) - set(FIELD_NAMES))
        if bad:
            raise ConfigError(f"{w}: fields: unknown name(s) {', '.join(bad)}; "
                              f"known: {', '.join(FIELD_NAMES)}")
        self.sel = {k: opt(o, k, str, None, w) for k in ("items", "link", "title", "text",
                                                         "date", "author")}
        if self.format == "html" and not self.sel["items"]:
            raise ConfigError(f"{w}: format = \"html\" needs an `items` CSS selector")
        self.follow = opt(o, "follow", bool, False, w)
        self.follow_text = opt(o, "follow_text", str, "body", w)
        self.attachments = opt(o, "attachments", bool, True, w)
        self.max_attachments = opt(o, "max_attachments", int, 5, w)
        extra_hosts = opt(o, "allowed_hosts", list, [], w)
        if not all(isinstance(h, str) for h in extra_hosts):
            raise ConfigError(f"{w}: allowed_hosts must be a list of host names")
        # Hosts this source may fetch besides the listing's own (follow and linked files).
        self.allowed_hosts = {host_of(self.url), *(h.lower() for h in extra_hosts)}
        self.remember = opt(o, "remember", int, 2000, w)
        self.max_age = parse_duration(opt(o, "max_age", str, "30d", w), where=f"{w}: max_age")
        self.batch_size = opt(o, "batch_size", int, 50, w)
        self.max_bytes = max_item_bytes(source, config.network.max_response_mb)
        self.platform = "tor" if (source.tor or is_onion(self.url)) else "http"
        self.http = client or make_client(config.network, source=source.name, tor=source.tor)

    # -- listing parsers ------------------------------------------------------------------

    def parse_listing(self, body: bytes, base_url: str) -> list[Item]:
        if self.format == "rss":
            return self._parse_feed(body)
        if self.format == "json":
            return self._parse_json(body)
        return self._parse_html(body.decode("utf-8", "replace"), base_url)

    def _parse_feed(self, body: bytes) -> list[Item]:
        feed = feedparser.parse(body)
        if feed.bozo and not feed.entries:
            raise self.error(f"{self.url} is not a readable RSS/Atom feed "
                             f"({type(feed.bozo_exception).__name__})")
        items = []
        for e in feed.entries:
            link = e.get("link")
            content = " ".join(c.get("value", "") for c in e.get("content", []))
            html = content or e.get("summary", "")
            tree = LexborHTMLParser(f"<div>{html}</div>")
            root = tree.css_first("div")
            links = merge_links([link] if link else [], _anchors(root, link or self.url))
            text = _node_text(root)
            struct = e.get("published_parsed") or e.get("updated_parsed")
            date = datetime.fromtimestamp(timegm(struct), UTC) if struct else None
            items.append(Item(
                id=e.get("id") or link or _fallback_id(e.get("title"), text),
                url=link, title=e.get("title"), text=text, date=date,
                author=e.get("author"), links=merge_links(links, extract_links(text)),
            ))
        return items

    def _parse_json(self, body: bytes) -> list[Item]:
        try:
            data = json.loads(body)
        except ValueError:
            raise self.error(f"{self.url} did not return JSON") from None
        rows = dotted(data, self.items_path)
        if not isinstance(rows, list):
            raise self.error(f"items_path {self.items_path!r} does not lead to a list in the "
                             f"answer of {self.url} (page layout changed?)")
        f = {"id": "id", "url": "url", "title": "title", "text": "text", "date": "date",
             "author": "author", **self.fields}
        items = []
        for row in rows:
            if not isinstance(row, dict):
                continue
            url = _join(self.url, str(u)) if (u := dotted(row, f["url"])) else None
            title = dotted(row, f["title"])
            text = dotted(row, f["text"])
            text = text if isinstance(text, str) else (json.dumps(text) if text else "")
            rid = dotted(row, f["id"])
            items.append(Item(
                id=str(rid) if rid is not None else (str(url) if url else _fallback_id(
                    str(title), text)),
                url=url,
                title=str(title) if title is not None else None, text=text,
                date=self._date(dotted(row, f["date"]), rid if rid is not None else url),
                author=str(a) if (a := dotted(row, f["author"])) is not None else None,
                links=merge_links([url] if url else [], extract_links(text)),
            ))
        return items

    def _date(self, value: Any, item: Any) -> datetime | None:
        """parse_date, with a warning naming the item when a date is present but unreadable:
        the item is kept (undated), the run does not fail."""
        date = parse_date(value)
        if date is None and value not in (None, ""):
            log.warning("source %s: item %s: unreadable date %r; kept without a date",
                        self.name, item, str(value)[:80])
        return date

    def _parse_html(self, html: str, base_url: str) -> list[Item]:
        tree = LexborHTMLParser(html)
        nodes = tree.css(self.sel["items"])
        items = []
        for node in nodes:
            link_node = node.css_first(self.sel["link"]) if self.sel["link"] else (
                node if node.tag == "a" else node.css_first("a[href]"))
            href = link_node.attributes.get("href") if link_node is not None else None
            url = _join(base_url, href)
            title_node = node.css_first(self.sel["title"]) if self.sel["title"] else link_node
            title = _node_text(title_node) or None
            text = _node_text(node.css_first(self.sel["text"]) if self.sel["text"] else node)
            date = None
            if self.sel["date"] and (dn := node.css_first(self.sel["date"])) is not None:
                date = self._date(dn.attributes.get("datetime") or dn.attributes.get("title")
                                  or _node_text(dn), url)
            author = None
            if self.sel["author"] and (an := node.css_first(self.sel["author"])) is not None:
                author = _node_text(an) or None
            items.append(Item(
                id=url or _fallback_id(title, text), url=url, title=title, text=text,
                date=date, author=author,
                links=merge_links(_anchors(node, base_url), extract_links(text)),
            ))
        if not items:
            log.warning("source %s: selector %r matched nothing on %s (layout changed?)",
                        self.name, self.sel["items"], self.url)
        return items

    # -- collecting -----------------------------------------------------------------------

    async def collect(self, cursor: str | None) -> AsyncIterator[Batch]:
        state = load_cursor(cursor, self.source.where)
        seen: list[str] = list(state.get("seen", []))
        seen_set = set(seen)
        newest = parse_date(state.get("newest"))
        items = await self._listing(seen_set)
        # Oldest first: by date when every item has one, else listings are newest first.
        if items and all(i.date for i in items):
            items.sort(key=lambda i: i.date)  # type: ignore[arg-type, return-value]
        else:
            items.reverse()
        unique: dict[str, Item] = {}
        for i in items:
            unique.setdefault(i.id, i)
        items = list(unique.values())
        if cursor is None:
            keep = items[-self.source.backfill:] if self.source.backfill else []
            skipped = items[: len(items) - len(keep)]
            for i in skipped:
                seen.append(i.id)
                seen_set.add(i.id)
                if i.date and (newest is None or i.date > newest):
                    newest = i.date
            items = keep
            if not items:
                yield Batch([], self._cursor(seen, newest), len(skipped))
                return
        floor = newest - timedelta(seconds=self.max_age) if newest else None
        new = [i for i in items if i.id not in seen_set
               and not (floor and i.date and i.date < floor)]
        for start in range(0, len(new), self.batch_size):
            chunk = new[start:start + self.batch_size]
            docs: list[Document] = []
            for item in chunk:
                docs.extend(await self._documents(item))
                seen.append(item.id)
                seen_set.add(item.id)
                if item.date and (newest is None or item.date > newest):
                    newest = item.date
            yield Batch(docs, self._cursor(seen, newest), len(chunk))

    async def _listing(self, seen: set[str]) -> list[Item]:
        """The listing's items, newest page first; JSON APIs followed over pages when
        `next_path` or `page_param` is set."""
        res = await self.http.get(self.url)
        items = self.parse_listing(res.content, res.url)
        if not (self.next_path or self.page_param):
            return items
        url, page, body, last_page = res.url, self.page_start, res.content, items
        for _ in range(self.max_pages - 1):
            if not last_page or all(i.id in seen for i in last_page):
                break  # an empty page or one already read: nothing new further back
            if self.next_path:
                try:
                    nxt = dotted(json.loads(body), self.next_path)
                except ValueError:
                    nxt = None
                if not nxt or not isinstance(nxt, str):
                    break
                target, params = _join(url, nxt), None
            else:
                page += 1
                target, params = self.url, {self.page_param: str(page)}
            if not target:
                break
            res = await self.http.get(target, params=params)
            more = self.parse_listing(res.content, res.url)
            if not more:
                break
            url, body, last_page = res.url, res.content, more
            known = {x.id for x in items}
            fresh = [i for i in more if i.id not in known]
            if not fresh:
                break  # the API repeats its last page instead of ending
            items += fresh
        else:
            if last_page and not all(i.id in seen for i in last_page):
                log.warning("source %s: max_pages (%d) reached; older pages were not read "
                            "(raise max_pages or poll more often)", self.name, self.max_pages)
        return items

    def _cursor(self, seen: list[str], newest: datetime | None) -> str:
        return dump_cursor({"seen": seen[-self.remember:],
                            "newest": newest.isoformat() if newest else None})

    async def _documents(self, item: Item) -> list[Document]:
        text, links = item.text, item.links
        if self.follow and item.url and not self._allowed(item.url):
            log.warning("source %s: not following %s: host not in allowed_hosts", self.name,
                        host_of(item.url))
        elif self.follow and item.url:
            page = await self.http.get(item.url)
            tree = LexborHTMLParser(page.text)
            node = tree.css_first(self.follow_text)
            if node is None:
                log.warning("source %s: follow_text %r matched nothing on %s",
                            self.name, self.follow_text, item.url)
            else:
                body = _node_text(node)
                text = f"{text}\n\n{body}" if text and body != text else body
                links = merge_links(links, _anchors(node, page.url), extract_links(body))
        content = "\n".join(p for p in (item.title, text) if p)
        doc = Document(
            source=self.name, platform=self.platform, external_id=item.id,
            content=content.encode("utf-8"), url=item.url, title=item.title,
            author=item.author, posted_at=item.date, metadata={"links": links},
        )
        docs = [doc]
        if self.attachments:
            docs.extend(await fetch_linked_files(self.http, links, parent=doc,
                                                 max_bytes=self.max_bytes,
                                                 limit=self.max_attachments,
                                                 allowed_hosts=self._hosts_for(item),
                                                 archive_passwords=self.source.archive_passwords))
        return docs

    def _allowed(self, url: str) -> bool:
        return "*" in self.allowed_hosts or host_of(url) in self.allowed_hosts

    def _hosts_for(self, item: Item) -> set[str]:
        """Linked files may come from the listing's host, the item's own host, or
        `allowed_hosts`."""
        return self.allowed_hosts | ({host_of(item.url)} if item.url else set())

    async def aclose(self) -> None:
        await self.http.aclose()


def build(source: SourceConfig, config: Config, state_dir: Path) -> HttpCollector:
    return HttpCollector(source, config)
