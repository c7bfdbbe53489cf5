"""Linked files (txt, csv, json, sql, zip, gz …) become documents of their own.

A leak post usually links its sample; matching needs the sample's bytes, not the post. The file
is streamed and cut at the source's size cap (flagged `truncated`), so a huge or hostile archive
costs at most the cap; unpacking it safely is matching's job (`extract.iter_parts` caps).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable
from urllib.parse import unquote, urlsplit

from monitor.collectors.base import is_attachment_name
from monitor.collectors.http_client import HttpClient
from monitor.errors import CollectorError
from monitor.models import Document

CAPTION_CHARS = 4096  # of the post kept with each file it carries, for archive passwords


def archive_context(parent: Document, configured: Iterable[str] = ()) -> dict:
    """Metadata a file inherits from the post that carries it, so that extraction can try the
    passwords the post announces ("pass: x"), the source's `archive_passwords` and the channel
    name (see monitor.matching.readers.passwords). Kept in memory only: metadata other than
    links is not written to the store."""
    caption = parent.content[:CAPTION_CHARS * 4].decode("utf-8", errors="replace")
    out: dict = {"caption": caption[:CAPTION_CHARS]}
    channel = (parent.metadata or {}).get("channel")
    if channel:
        out["channel"] = channel
    if configured:
        out["archive_passwords"] = list(configured)
    return out

log = logging.getLogger(__name__)


def attachment_links(links: Iterable[str]) -> list[str]:
    """The links whose path ends with a watched file extension."""
    out = []
    for link in links:
        try:
            path = urlsplit(link).path
        except ValueError:  # hostile markup: "http://[broken"
            continue
        if is_attachment_name(path) and link not in out:
            out.append(link)
    return out


def host_of(url: str) -> str:
    """Host and port of a URL, lower-cased: the unit `allowed_hosts` speaks in."""
    try:
        return (urlsplit(url).netloc.rsplit("@", 1)[-1]).lower()
    except ValueError:
        return ""


def filename_of(url: str) -> str:
    return unquote(urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]) or "download"


async def fetch_linked_files(
    http: HttpClient,
    links: Iterable[str],
    *,
    parent: Document,
    max_bytes: int,
    limit: int = 5,
    allowed_hosts: Collection[str] | None = None,
    archive_passwords: Iterable[str] = (),
) -> list[Document]:
    """Download up to `limit` linked files of `parent`, each capped at `max_bytes`.

    `allowed_hosts` (None: any) keeps a hostile post from making the monitor fetch arbitrary
    URLs, internal ones included (SSRF); "*" in it allows any host. A file that fails to
    download is logged and skipped: the post itself still counts.
    """
    docs: list[Document] = []
    wanted = attachment_links(links)
    if allowed_hosts is not None and "*" not in allowed_hosts:
        refused = [u for u in wanted if host_of(u) not in allowed_hosts]
        if refused:
            log.info("%s: %d linked file(s) on other hosts not fetched (allowed_hosts)",
                     parent.source, len(refused))
        wanted = [u for u in wanted if host_of(u) in allowed_hosts]
    for url in wanted[:limit]:
        try:
            res = await http.get(url, max_bytes=max_bytes, allow_truncated=True)
        except CollectorError as e:
            log.warning("%s: linked file skipped: %s", parent.source, e)
            continue
        name = filename_of(res.url)
        meta = {"links": [], "content_type": res.headers.get("content-type", ""),
                **archive_context(parent, archive_passwords)}
        if res.truncated:
            meta["truncated"] = True
            meta["cap_bytes"] = max_bytes
        docs.append(Document(
            source=parent.source, platform=parent.platform,
            external_id=f"{parent.external_id}/file/{name}", content=res.content, url=url,
            title=parent.title, author=parent.author, filename=name,
            posted_at=parent.posted_at, parent_id=parent.external_id, metadata=meta,
        ))
    return docs
