"""github_gists: new public gists from `GET /gists/public?since=…`, each file fetched capped.

One document per gist (its description and file list, so a dump's name matches) and one per
file (`parent_id` = the gist id). The API is paginated with the `Link` header and rate limited:
when `X-RateLimit-Remaining` reaches 0 the source is deferred until `X-RateLimit-Reset` instead
of being hammered (60 requests/hour without a token, 5000 with `token = "env:GITHUB_TOKEN"`).

Cursor: the newest `updated_at` seen and the gist ids seen at that instant; `since` is
inclusive, so those ids are skipped on the next run. The listing is newest first, so a run that
stops with pages left (`max_pages`, or the last request of the rate-limit window) keeps `since`
and records where it stopped (`resume`: the next page's URL and the newest time already read);
the next run continues there instead of jumping to the newest gists. GitHub serves at most
3,000 gists (30 pages of 100) of one listing: past that a warning says older ones are out of reach.

Rate limits, as GitHub documents them: a 403/429 with `retry-after` waits that many seconds;
else with `x-ratelimit-remaining: 0` until `x-ratelimit-reset`; else (a secondary rate limit)
at least one minute.
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
PER_PAGE = 100
LISTING_WINDOW = 3000  # GitHub lists at most this many gists of one query
SECONDARY_WAIT = 60.0


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
        """True when this response used the last request of the window. A 403/429 that is a
        rate limit defers the source as GitHub asks (retry-after, reset, else >= 1 minute)."""
        remaining = (res.headers.get("x-ratelimit-remaining") or "").strip()
        retry_after = (res.headers.get("retry-after") or "").strip()
        limited = remaining == "0" or bool(retry_after) or (
            b"rate limit" in res.content[:2000].lower())
        if res.status in (403, 429) and limited:
            reset = res.headers.get("x-ratelimit-reset", "")
            if retry_after.isdigit():
                wait, kind = max(1.0, float(retry_after)), "rate limit (retry-after)"
            elif remaining == "0" and reset.isdigit():
                wait, kind = max(1.0, float(reset) - time.time()), "rate limit exhausted"
            elif remaining == "0":
                wait, kind = 3600.0, "rate limit exhausted"
            else:
                wait, kind = SECONDARY_WAIT, "secondary rate limit"
            raise CollectorDeferred(
                f"{self.source.where}: GitHub API {kind}; next requests allowed "
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
        resume = state.get("resume") or None
        gists: dict[str, dict[str, Any]] = {}
        url: str | None = f"{self.api_url}/gists/public"
        params: dict[str, Any] | None = {"since": _iso(since), "per_page": PER_PAGE}
        page_no = 0  # pages of this listing read so far, across resumed runs
        if resume:
            url, params, page_no = resume["url"], None, int(resume.get("page", 0))
        pages = 0
        stopped = False
        while url:
            if pages >= self.max_pages:
                stopped = True
                log.warning("source %s: max_pages (%d) reached with gists left; the next run "
                            "continues from page %d", self.name, self.max_pages, page_no + 1)
                break
            if page_no * PER_PAGE >= LISTING_WINDOW:
                log.warning("source %s: GitHub lists at most %d gists; older gists updated "
                            "since %s are out of reach (poll more often)", self.name,
                            LISTING_WINDOW, _iso(since))
                url = None
                break
            res, exhausted = await self._api(url, params)
            pages += 1
            page_no += 1
            data = res.json()
            if not isinstance(data, list):
                raise self.error("GitHub /gists/public did not return a list")
            for g in data:
                if isinstance(g, dict) and g.get("id"):
                    gists.setdefault(str(g["id"]), g)
            nxt = httpx.Response(200, headers=res.headers).links.get("next", {}).get("url")
            url, params = nxt, None
            if exhausted and url:
                stopped = True
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
        if cursor is None and not stopped:
            new = new[-self.source.backfill:] if self.source.backfill else []
            if not new:
                yield Batch([], dump_cursor({"since": _iso(since), "ids": []}), 0)
                return
        # The newest time read in this listing (across resumed runs) and its ids.
        newest = _parse_time((resume or {}).get("newest")) or since
        newest_ids = set((resume or {}).get("newest_ids", [])) if resume else set(seen_ids)
        for updated, gid, _g in new:
            if updated > newest:
                newest, newest_ids = updated, set()
            if updated == newest:
                newest_ids.add(gid)
        if stopped:
            final = {"since": _iso(since), "ids": sorted(seen_ids),
                     "resume": {"url": url, "page": page_no, "newest": _iso(newest),
                                "newest_ids": sorted(newest_ids)}}
        else:
            final = {"since": _iso(newest), "ids": sorted(newest_ids)}
        if not new:
            yield Batch([], dump_cursor(final), 0)
            return
        # Until the last gist, keep the cursor the run started from: a crash re-reads these
        # pages (the store drops exact repeats) rather than skipping what was not committed.
        start = dump_cursor(state) if state else dump_cursor({"since": _iso(since), "ids": []})
        for n, (updated, gid, g) in enumerate(new, 1):
            docs = await self._documents(gid, g, updated)
            yield Batch(docs, dump_cursor(final) if n == len(new) else start, 1)

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
