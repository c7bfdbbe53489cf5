"""What every collector shares: the common source keys, `Batch`, the `Collector` ABC.

A collector turns one configured source into batches of `Document`s. Each `Batch` carries the
cursor that is true once its documents are committed; the runner saves it in the same
transaction, so a crash or restart neither loses nor repeats anything. Cursors are opaque
strings (JSON here) that only the collector that wrote them reads back.
"""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any

from monitor.config import parse_duration
from monitor.errors import CollectorError, ConfigError
from monitor.models import Document
from monitor.tables import Table, TypeSpec
from monitor.telegram_links import HOSTS as TELEGRAM_HOSTS
from monitor.telegram_links import is_telegram_link

COMMON_KEYS = frozenset({
    "name", "type", "every", "jitter", "enabled", "tor", "backfill", "expected_silence",
    "alert_after_failures", "max_item_mb", "archive_passwords", "worker_label",
})

# File kinds that become documents of their own when attached to or linked from a post.
ATTACHMENT_EXTENSIONS = (".txt", ".csv", ".json", ".sql", ".zip", ".gz", ".tsv", ".log", ".xml",
                         ".7z", ".rar", ".zst", ".tar", ".tgz", ".bz2", ".xz", ".cpio", ".iso",
                         ".xlsx", ".xls", ".ods", ".docx", ".odt", ".pdf", ".db", ".sqlite",
                         ".sqlite3")


class CollectorDeferred(CollectorError):
    """The source asked us to wait (flood wait, rate limit): retry THIS source after
    `retry_after` seconds. Not a failure of the source; the daemon goes on with the others."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = max(0.0, float(retry_after))

    def __reduce__(self) -> tuple:  # pickled by a reader process (process_feed)
        return (type(self), (str(self), self.retry_after))


@dataclass(slots=True)
class Batch:
    """Documents to commit together, and the cursor that is valid once they are committed.

    `items` counts the source items this batch covers (service messages and skipped entries
    included), for the runner's per-run health figures.
    """

    documents: list[Document]
    cursor: str | None
    items: int = 0


@dataclass(slots=True)
class SourceConfig:
    """The `[[sources]]` keys every collector understands; the rest stay in `options`."""

    name: str
    type: str
    every: float = 300.0
    jitter: float = 0.0
    enabled: bool = True
    tor: bool = False
    backfill: int = 100
    expected_silence: float | None = None
    alert_after_failures: int = 5
    max_item_mb: float | None = None  # None: [network].max_response_mb
    archive_passwords: tuple[str, ...] = ()  # tried on locked archives of this source's files
    worker_label: str | None = None  # runs only on a worker started with this label
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def where(self) -> str:
        return f"source {self.name!r}"

    @classmethod
    def from_table(cls, table: dict[str, Any], allowed: Iterable[str] = ()) -> SourceConfig:
        """Parse and check the common keys; unknown keys (not in `allowed`) are an error."""
        name = table.get("name")
        if not isinstance(name, str) or not name:
            raise ConfigError("[[sources]]: a source has no name")
        where = f"source {name!r}"
        typ = table.get("type")
        if not isinstance(typ, str) or not typ:
            raise ConfigError(f"{where}: missing key 'type'")
        SourceTable(table, where).check_keys(sorted(COMMON_KEYS | set(allowed)), type=typ)
        cfg = cls(name=name, type=typ)
        if "every" in table:
            cfg.every = parse_duration(table["every"], where=f"{where}: every")
            if cfg.every <= 0:
                raise ConfigError(f"{where}: every must be more than 0")
        if "jitter" in table:
            cfg.jitter = parse_duration(table["jitter"], where=f"{where}: jitter")
        cfg.enabled = opt(table, "enabled", bool, True, where)
        cfg.tor = opt(table, "tor", bool, False, where)
        cfg.backfill = opt(table, "backfill", int, 100, where)
        if cfg.backfill < 0:
            raise ConfigError(f"{where}: backfill cannot be negative ({cfg.backfill})")
        if table.get("expected_silence") is not None:
            cfg.expected_silence = parse_duration(
                table["expected_silence"], where=f"{where}: expected_silence")
        cfg.alert_after_failures = opt(table, "alert_after_failures", int, 5, where)
        if cfg.alert_after_failures < 1:
            raise ConfigError(f"{where}: alert_after_failures must be at least 1")
        if "max_item_mb" in table:
            cfg.max_item_mb = float(opt(table, "max_item_mb", float, 0.0, where))
            if cfg.max_item_mb <= 0:
                raise ConfigError(f"{where}: max_item_mb must be more than 0")
        pw = opt(table, "archive_passwords", list, [], where)
        if not all(isinstance(v, str) for v in pw):
            raise ConfigError(f"{where}: archive_passwords must be a list of strings")
        cfg.archive_passwords = tuple(pw)
        cfg.worker_label = opt(table, "worker_label", str, None, where)
        if cfg.worker_label is not None and not cfg.worker_label.strip():
            raise ConfigError(f"{where}: worker_label cannot be empty")
        cfg.options = {k: v for k, v in table.items() if k not in COMMON_KEYS}
        return cfg


class SourceTable(Table):
    """A `[[sources]]` table, in the wording source errors have always had
    ("source 'a': backfill must be int, got '10'", "missing key 'url'")."""

    KEY_MESSAGE = "{key} {message}"
    TYPE_MESSAGE = "must be {expected}, got {value}"
    MISSING = "missing key {key!r}"
    UNKNOWN = "unknown key(s) {unknown} for type {type!r}; known: {known}"


def opt(table: dict[str, Any], key: str, typ: TypeSpec, default: Any, where: str) -> Any:
    """`table[key]` checked against `typ` (ints accepted for floats), else `default`."""
    return SourceTable(table, where).get(key, typ, default)


def require(table: dict[str, Any], key: str, typ: TypeSpec, where: str) -> Any:
    """`table[key]` checked against `typ`; a missing key is an error."""
    return SourceTable(table, where).get(key, typ, required=True)


class Collector(ABC):
    """One source. `collect` yields batches oldest first; it never prompts and never sleeps
    longer than a short retry; a failure is a `CollectorError` naming the source."""

    platform: str = "unknown"

    def __init__(self, source: SourceConfig) -> None:
        self.source = source

    @property
    def name(self) -> str:
        return self.source.name

    @abstractmethod
    def collect(self, cursor: str | None) -> AsyncIterator[Batch]:
        """Yield batches after `cursor` (None: first run, backfill `source.backfill` items)."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release network clients and sessions."""

    def error(self, message: str) -> CollectorError:
        return CollectorError(f"{self.source.where}: {message}")


def load_cursor(cursor: str | None, where: str) -> dict[str, Any]:
    """Decode a JSON cursor written by this collector; an unreadable one is an error (a silent
    reset would re-alert on the whole backfill)."""
    if cursor is None:
        return {}
    try:
        data = json.loads(cursor)
    except ValueError:
        raise CollectorError(f"{where}: saved cursor is not valid JSON: {cursor[:80]!r}") from None
    if not isinstance(data, dict):
        raise CollectorError(f"{where}: saved cursor is not a JSON object: {cursor[:80]!r}")
    return data


def dump_cursor(data: dict[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


_BARE_TELEGRAM = tuple(f"{host}/" for host in TELEGRAM_HOSTS)  # "t.me/name" without a scheme


def _url_pattern(prefixes: list[str]) -> re.Pattern[str]:
    r"""`(?i)\b(?:PREFIX|...)[^\s<>"'`]+` written so that it starts with a plain class of the
    prefixes' first letters ([hHtT]): the regex engine then skips in C to the next such letter
    (half the time of a leading lookahead on message text; the same matches: `\b` before a
    letter is "no word character before it", each prefix keeps its own first letter)."""
    by_first: dict[str, list[str]] = {}
    for prefix in prefixes:  # regexes, each starting with an ASCII letter
        assert prefix[0].isascii() and prefix[0].isalpha(), prefix
        by_first.setdefault(prefix[0].lower(), []).append(prefix[1:])
    first = "".join(c + c.upper() for c in by_first)
    rests = "|".join(f"(?<=[{c}{c.upper()}])(?:{'|'.join(r)})" for c, r in by_first.items())
    return re.compile(rf"[{first}](?<!\w[{first}])(?i:{rests})" + r"""[^\s<>"'`]+""")


_URL = _url_pattern(["https?://", "tg://", *map(re.escape, _BARE_TELEGRAM)])
_TRAILING = ".,;:!?)]}'\""


def extract_links(text: str) -> list[str]:
    """URLs in plain text (message bodies, paste contents), in order, without duplicates.
    Bare `t.me/...` mentions are normalized to https://t.me/..."""
    out: list[str] = []
    if not text:
        return out
    if "://" not in text:
        lower = text.lower()
        if not any(bare in lower for bare in _BARE_TELEGRAM):
            return out  # every link has one of them: most chat lines are skipped in C calls
    for m in _URL.finditer(text):
        url = m.group(0).rstrip(_TRAILING)
        if url.lower().startswith(_BARE_TELEGRAM):
            url = "https://" + url
        if url not in out:
            out.append(url)
    return out


def merge_links(*groups: Iterable[str]) -> list[str]:
    out: list[str] = []
    for group in groups:
        for link in group:
            if link and link not in out:
                out.append(link)
    return out


def telegram_links(links: Iterable[str]) -> list[str]:
    """The t.me channel and invite links among `links` (candidates for `sources suggested`)."""
    return [link for link in links if is_telegram_link(link)]


def is_attachment_name(name: str | None) -> bool:
    return bool(name) and name is not None and name.lower().split("?", 1)[0].endswith(
        ATTACHMENT_EXTENSIONS)


def max_item_bytes(source: SourceConfig, default_mb: float) -> int:
    return int((source.max_item_mb or default_mb) * 1024 * 1024)
