"""pastebin: the scraping API, the only sanctioned way to read new public pastes in bulk.

`api_scraping.php?limit=N` lists the newest pastes (JSON: key, date, title, size, syntax,
scrape_url, full_url, user); `api_scrape_item.php?i=KEY` returns a paste body. Both need a
Pastebin PRO account whose IP address is whitelisted; anything else gets a plain-text
"YOUR IP: x.x.x.x DOES NOT HAVE ACCESS" answer (with HTTP 200), recognized here.

Cursor: the newest paste date seen and the keys seen at that date (dates are one-second
resolution, so several pastes share one).
"""

from __future__ import annotations

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

KEYS = frozenset({"base_url", "limit", "batch_size"})
NO_ACCESS = "DOES NOT HAVE ACCESS"


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
        for i in range(0, len(new), self.batch_size):
            chunk = new[i:i + self.batch_size]
            docs = [await self._paste(item) for item in chunk]
            for item in chunk:
                if item["date"] > last_date:
                    last_date, seen_keys = item["date"], set()
                seen_keys.add(item["key"])
            yield Batch(docs, dump_cursor({"date": last_date, "keys": sorted(seen_keys)}),
                        len(chunk))

    async def _paste(self, item: dict[str, Any]) -> Document:
        key = item["key"]
        res = await self.http.get(f"{self.base_url}/api_scrape_item.php", params={"i": key},
                                  max_bytes=self.max_bytes, allow_truncated=True)
        self._check_access(res.content[:300].decode("utf-8", "replace"))
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
