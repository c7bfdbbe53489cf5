"""github_gists: new public gists from `GET /gists/public?since=…`, each file fetched capped.

One document per gist (its description and file list, so a dump's name matches) and one per
file (`parent_id` = the gist id). The API is paginated with the `Link` header and rate limited:
when `X-RateLimit-Remaining` reaches 0 the source is deferred until `X-RateLimit-Reset` instead
of being hammered (60 requests/hour without a token, 5000 with `token = "env:GITHUB_TOKEN"`).

Cursor: the newest `updated_at` seen and the gist ids seen at that instant; `since` is
inclusive, so those ids are skipped on the next run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from monitor.collectors.base import (
    Batch,
    Collector,
    CollectorDeferred,
    SourceConfig,
    dump_cursor,
    extract_links,
    load_cursor,
    max_item_bytes,
    opt,
)
from monitor.collectors.http_client import FetchResult, HttpClient, make_client
from monitor.config import Config, parse_duration, resolve_secret
from monitor.models import Document

log = logging.getLogger(__name__)

KEYS = frozenset({"api_url", "token", "max_pages", "max_files", "initial_window"})


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class GistsCollector(Collector):
    platform = "github_gists"

    def __init__(self, source: SourceConfig, config: Config, *,
                 client: HttpClient | None = None, now: Any = None) -> None:
        super().__init__(source)
        o, where = source.options, source.where
        self.api_url = opt(o, "api_url", str, "https://api.github.com", where).rstrip("/")
        token = opt(o, "token", str, None, where)
        token = resolve_secret(token, where=f"{where}: token") if token else None
        self.max_pages = opt(o, "max_pages", int, 10, where)
        self.max_files = opt(o, "max_files", int, 10, where)
        self.initial_window = parse_duration(opt(o, "initial_window", str, "1h", where),
                                             where=f"{where}: initial_window")
        self.max_bytes = max_item_bytes(source, config.network.max_response_mb)
        self._api_headers = {"Accept": "application/vnd.github+json",
                             "X-GitHub-Api-Version": "2022-11-28"}
        if token:
            self._api_headers["Authorization"] = f"Bearer {token}"
        self._now = now or (lambda: datetime.now(UTC))
        self.http = client or make_client(config.network, source=source.name, tor=source.tor)

    def _rate_exhausted(self, res: FetchResult) -> bool:
        """True when this response used the last request of the window. A 403/429 with
        rate-limit headers defers the source until `X-RateLimit-Reset`."""
        remaining = (res.headers.get("x-ratelimit-remaining") or "").strip()
        if res.status in (403, 429) and (remaining == "0" or "retry-after" in res.headers):
            reset = res.headers.get("x-ratelimit-reset", "")
            wait = max(1.0, float(reset) - time.time()) if reset.isdigit() else 3600.0
            raise CollectorDeferred(
                f"{self.source.where}: GitHub API rate limit exhausted; next requests allowed "
                f"in {wait:.0f}s (set token = \"env:GITHUB_TOKEN\" for a higher limit)", wait)
        return remaining == "0"

    async def _api(self, url: str, params: dict[str, Any] | None) -> tuple[FetchResult, bool]:
        res = await self.http.get(url, params=params, headers=self._api_headers,
                                  raise_for_status=False)
        exhausted = self._rate_exhausted(res)
        if res.status >= 400:
            raise self.error(f"GitHub API {url} answered HTTP {res.status}")
        return res, exhausted

    async def collect(self, cursor: str | None) -> AsyncIterator[Batch]:
        state = load_cursor(cursor, self.source.where)
        since = _parse_time(state.get("since")) or (
            self._now() - timedelta(seconds=self.initial_window))
        seen_ids = set(state.get("ids", []))
        gists: dict[str, dict[str, Any]] = {}
        url: str | None = f"{self.api_url}/gists/public"
        params: dict[str, Any] | None = {"since": _iso(since), "per_page": 100}
        pages = 0
        while url and pages < self.max_pages:
            res, exhausted = await self._api(url, params)
            pages += 1
            data = res.json()
            if not isinstance(data, list):
                raise self.error("GitHub /gists/public did not return a list")
            for g in data:
                if isinstance(g, dict) and g.get("id"):
                    gists.setdefault(str(g["id"]), g)
            nxt = httpx.Response(200, headers=res.headers).links.get("next", {}).get("url")
            url, params = nxt, None
            if exhausted and url:
                log.warning("source %s: GitHub rate limit used up after %d page(s); the rest "
                            "waits for the next run", self.name, pages)
                break
        new = []
        for gid, g in gists.items():
            updated = _parse_time(g.get("updated_at"))
            if updated is None:
                continue
            if updated < since or (updated == since and gid in seen_ids):
                continue
            new.append((updated, gid, g))
        new.sort(key=lambda t: (t[0], t[1]))
        if cursor is None:
            new = new[-self.source.backfill:] if self.source.backfill else []
            if not new:
                yield Batch([], dump_cursor({"since": _iso(since), "ids": []}), 0)
                return
        last, ids = since, set(seen_ids)
        for updated, gid, g in new:
            docs = await self._documents(gid, g, updated)
            if updated > last:
                last, ids = updated, set()
            ids.add(gid)
            yield Batch(docs, dump_cursor({"since": _iso(last), "ids": sorted(ids)}), 1)

    async def _documents(self, gid: str, g: dict[str, Any], updated: datetime) -> list[Document]:
        files = g.get("files") or {}
        owner = (g.get("owner") or {}).get("login")
        desc = g.get("description") or ""
        names = list(files)
        body = desc + "".join(f"\n[file] {n}" for n in names)
        parent = Document(
            source=self.name, platform=self.platform, external_id=gid,
            content=body.encode("utf-8"), url=g.get("html_url"), title=desc or None,
            author=owner, posted_at=_parse_time(g.get("created_at")),
            edited_at=updated if g.get("created_at") != g.get("updated_at") else None,
            metadata={"links": extract_links(desc), "files": names},
        )
        docs = [parent]
        for name in names[: self.max_files]:
            f = files[name] or {}
            raw = f.get("raw_url")
            if not raw:
                continue
            res = await self.http.get(raw, max_bytes=self.max_bytes, allow_truncated=True)
            meta: dict[str, Any] = {"links": extract_links(res.content[:1_000_000].decode(
                "utf-8", "replace")), "language": f.get("language")}
            if res.truncated:
                meta["truncated"] = True
            docs.append(Document(
                source=self.name, platform=self.platform, external_id=f"{gid}/{name}",
                content=res.content, url=raw, title=desc or None, author=owner, filename=name,
                posted_at=parent.posted_at, parent_id=gid, metadata=meta,
            ))
        return docs

    async def aclose(self) -> None:
        await self.http.aclose()


def build(source: SourceConfig, config: Config, state_dir: Path) -> GistsCollector:
    return GistsCollector(source, config)
