"""pastebin: the scraping API, the only sanctioned way to read new public pastes in bulk.

`api_scraping.php?limit=N` lists the newest pastes (JSON: key, date, title, size, syntax,
scrape_url, full_url, user); `api_scrape_item.php?i=KEY` returns a paste body. Both need a
Pastebin PRO account whose IP address is whitelisted; anything else gets a plain-text
"YOUR IP: x.x.x.x DOES NOT HAVE ACCESS" answer (with HTTP 200), recognized here.

The item endpoint also answers with short plain-text notices instead of a body, with HTTP 200:
"File is not ready for scraping yet. Try again in 1 minute." (a paste listed seconds after it
was created) and "Error, we cannot find this paste." (not yet, or no longer, served). Those are
not content: the paste is kept in the cursor's `pending` map and fetched again on the next run,
at most `max_attempts` runs. Item fetches are paced (`item_interval`, 1 s by default), as
Pastebin asks scrapers not to hammer the item endpoint.

Cursor: the newest paste date seen, the keys seen at that date (dates are one-second
resolution, so several pastes share one), and the pending pastes with their attempt counts.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from monitor.collectors.base import (
    Batch,
    Collector,
    SourceConfig,
    dump_cursor,
    extract_links,
    load_cursor,
    max_item_bytes,
    opt,
)
from monitor.collectors.http_client import HttpClient, make_client
from monitor.config import Config
from monitor.errors import ConfigError
from monitor.models import Document

log = logging.getLogger(__name__)

KEYS = frozenset({"base_url", "limit", "batch_size", "item_interval", "max_attempts"})
NO_ACCESS = "DOES NOT HAVE ACCESS"
# Notices api_scrape_item.php sends instead of a body (HTTP 200, plain text, short).
NOT_CONTENT = ("FILE IS NOT READY FOR SCRAPING YET", "ERROR, WE CANNOT FIND THIS PASTE",
               "PLEASE SLOW DOWN")
NOTICE_MAX_BYTES = 200


def scrape_notice(body: bytes) -> str | None:
    """The notice text when `body` is one of the item endpoint's non-content answers."""
    if len(body) > NOTICE_MAX_BYTES:
        return None
    text = body.decode("utf-8", "replace").strip()
    return text if text.upper().startswith(NOT_CONTENT) else None


class PastebinCollector(Collector):
    platform = "pastebin"

    def __init__(self, source: SourceConfig, config: Config, *,
                 client: HttpClient | None = None) -> None:
        super().__init__(source)
        o, where = source.options, source.where
        self.base_url = opt(o, "base_url", str, "https://scrape.pastebin.com", where).rstrip("/")
        self.limit = opt(o, "limit", int, 100, where)
        if not 1 <= self.limit <= 250:
            raise ConfigError(f"{where}: limit must be between 1 and 250 (the API's maximum)")
        self.batch_size = opt(o, "batch_size", int, 50, where)
        self.item_interval = float(opt(o, "item_interval", float, 1.0, where))
        self.max_attempts = opt(o, "max_attempts", int, 5, where)
        if self.item_interval < 0 or self.max_attempts < 1:
            raise ConfigError(f"{where}: item_interval must be >= 0 and max_attempts >= 1")
        self._sleep = asyncio.sleep
        self._fetched = 0
        self.max_bytes = max_item_bytes(source, config.network.max_response_mb)
        self.http = client or make_client(config.network, source=source.name, tor=source.tor)

    def _check_access(self, text: str) -> None:
        if NO_ACCESS in text[:300].upper():
            ip = text.split("YOUR IP:", 1)[-1].split()[0] if "YOUR IP:" in text else "?"
            raise self.error(
                f"Pastebin refused the scraping API to this host (it says: YOUR IP {ip} "
                "DOES NOT HAVE ACCESS). The scraping API needs a Pastebin PRO account with "
                "this IP address whitelisted at https://pastebin.com/doc_scraping_api"
            )

    async def listing(self, limit: int) -> list[dict[str, Any]]:
        res = await self.http.get(f"{self.base_url}/api_scraping.php", params={"limit": limit})
        text = res.text
        self._check_access(text)
        try:
            data = json.loads(text)
        except ValueError:
            raise self.error(f"scraping API listing is not JSON: {text[:120]!r}") from None
        if not isinstance(data, list):
            raise self.error("scraping API listing is not a JSON list")
        items = []
        for item in data:
            try:
                items.append({**item, "key": str(item["key"]), "date": int(item["date"])})
            except (KeyError, TypeError, ValueError):
                log.warning("source %s: skipping malformed listing entry", self.name)
        return items

    async def collect(self, cursor: str | None) -> AsyncIterator[Batch]:
        state = load_cursor(cursor, self.source.where)
        last_date = int(state.get("date", 0))
        seen_keys = set(state.get("keys", []))
        first_run = cursor is None
        items = await self.listing(min(self.limit, self.source.backfill or 1)
                                   if first_run else self.limit)
        new = [i for i in items
               if i["date"] > last_date or (i["date"] == last_date and i["key"] not in seen_keys)]
        new.sort(key=lambda i: (i["date"], i["key"]))
        if first_run and not self.source.backfill:
            new = []
            if items:
                top = max(i["date"] for i in items)
                state = {"date": top, "keys": sorted(i["key"] for i in items if i["date"] == top)}
                yield Batch([], dump_cursor(state), 0)
            return
        if not first_run and len(items) >= self.limit and new and len(new) == len(items):
            log.warning("source %s: every listed paste is new; pastes older than the listing "
                        "window were missed (raise `limit` or poll more often)", self.name)
        pending: dict[str, dict[str, Any]] = dict(state.get("pending", {}))
        retry = [p["item"] for p in pending.values() if p["item"]["key"] not in
                 {i["key"] for i in new}]
        work = [*retry, *new]
        for i in range(0, len(work), self.batch_size):
            chunk = work[i:i + self.batch_size]
            docs = []
            for item in chunk:
                doc = await self._paste(item)
                if doc is not None:
                    docs.append(doc)
                    pending.pop(item["key"], None)
                    continue
                attempts = pending.get(item["key"], {}).get("attempts", 0) + 1
                if attempts >= self.max_attempts:
                    log.warning("source %s: paste %s still not served after %d runs; giving up",
                                self.name, item["key"], attempts)
                    pending.pop(item["key"], None)
                else:
                    pending[item["key"]] = {"item": item, "attempts": attempts}
            for item in chunk:
                if item["date"] > last_date:
                    last_date, seen_keys = item["date"], set()
                if item["date"] == last_date:
                    seen_keys.add(item["key"])
            out = {"date": last_date, "keys": sorted(seen_keys)}
            if pending:
                out["pending"] = pending
            yield Batch(docs, dump_cursor(out), len(chunk))

    async def _paste(self, item: dict[str, Any]) -> Document | None:
        """The paste as a Document, or None when Pastebin answered a notice instead."""
        key = item["key"]
        if self._fetched and self.item_interval:
            await self._sleep(self.item_interval)
        self._fetched += 1
        res = await self.http.get(f"{self.base_url}/api_scrape_item.php", params={"i": key},
                                  max_bytes=self.max_bytes, allow_truncated=True)
        self._check_access(res.content[:300].decode("utf-8", "replace"))
        notice = scrape_notice(res.content)
        if notice is not None:
            log.info("source %s: paste %s not served yet (%s); retrying next run",
                     self.name, key, notice[:80])
            return None
        text = res.content.decode("utf-8", "replace")
        meta: dict[str, Any] = {"links": extract_links(text), "syntax": item.get("syntax"),
                                "size": item.get("size")}
        if res.truncated:
            meta["truncated"] = True
        return Document(
            source=self.name, platform=self.platform, external_id=key, content=res.content,
            url=item.get("full_url") or f"https://pastebin.com/{key}",
            title=item.get("title") or None, author=item.get("user") or None,
            posted_at=datetime.fromtimestamp(item["date"], UTC), metadata=meta,
        )

    async def aclose(self) -> None:
        await self.http.aclose()


def build(source: SourceConfig, config: Config, state_dir: Path) -> PastebinCollector:
    return PastebinCollector(source, config)
