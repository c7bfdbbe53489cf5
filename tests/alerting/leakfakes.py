"""Small stand-ins for the tests of the store, pipeline and incidents.

`scanner` plays the matching engine with three transparent rules so that tests can plant
exactly the hits they need: "dedalus" (a mention, medium), "password" (credentials, critical)
and record ids P12345 / C12345 (fingerprint records of set "patients"; C = canary).
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from monitor.alerting.notification import Notification
from monitor.models import Document, Hit, RecordMatch, severity_rank
from monitor.pipeline import Pipeline
from monitor.store import Store

RECORD = re.compile(rb"\b([PC]\d{5})\b")
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def scanner(doc: Document) -> list[Hit]:
    text = doc.content.lower()
    hits: list[Hit] = []
    if b"dedalus" in text:
        hits.append(Hit("org.mention", "Organization named near leak vocabulary", "medium",
                        text.count(b"dedalus"), "fuite D****** base", tags=("mention",)))
    if b"password" in text:
        hits.append(Hit("creds", "Credentials posted", "critical", text.count(b"password"),
                        "password: ********"))
    ids = sorted({m.decode() for m in RECORD.findall(doc.content)})
    if ids:
        hits.append(Hit("patients.records", "Our patient records", "high", len(ids),
                        "1 ** ** ** *** *** **", fingerprint_set="patients",
                        records=[RecordMatch(i, ("fr_nir", "last_name"), 0.95,
                                             canary=i.startswith("C")) for i in ids]))
    return hits


@dataclass
class FakeSink:
    name: str = "soc"
    min_severity: str = "info"
    seen: list[Notification] = field(default_factory=list)

    def accepts(self, n: Notification) -> bool:
        self.seen.append(n)
        return severity_rank(n.severity) >= severity_rank(self.min_severity)


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw) -> None:
        self.now += timedelta(**kw)


def make_pipeline(store: Store, sinks=None, clock: Clock | None = None) -> Pipeline:
    return Pipeline(store, None, sinks=sinks if sinks is not None else [FakeSink()],
                    scanner=scanner, clock=clock or Clock())


def doc(content: str | bytes, *, source: str = "tg-leaks", ext: str | None = None,
        platform: str = "telegram", url: str | None = None, **kw) -> Document:
    data = content.encode() if isinstance(content, str) else content
    ext = ext or hashlib.sha256(data).hexdigest()[:12]
    if url is None and platform == "telegram":
        url = f"https://t.me/{source}/{ext}"
    kw.setdefault("fetched_at", T0)
    return Document(source=source, platform=platform, external_id=ext, content=data, url=url,
                    **kw)


FIRST = ["Jean", "Marie", "Luc", "Anne", "Paul", "Sophie", "Marc", "Julie", "Hugo", "Emma"]
LAST = ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Petit", "Durand", "Leroy"]
CITY = ["Lyon", "Paris", "Nantes", "Lille", "Rennes", "Nice", "Brest", "Metz"]


def patient_rows(ids: list[str], seed: int = 1) -> list[list[str]]:
    rnd = random.Random(seed)
    return [[i, rnd.choice(FIRST), rnd.choice(LAST), rnd.choice(CITY),
             f"{rnd.randint(1, 2)} {rnd.randint(40, 99)} {rnd.randint(1, 12):02d}"]
            for i in ids]


def csv_dump(rows: list[list[str]], *, header: str = "", footer: str = "",
             order: tuple[int, ...] = (0, 1, 2, 3, 4), sep: str = ",",
             shuffle: int | None = None) -> str:
    rows = list(rows)
    if shuffle is not None:
        random.Random(shuffle).shuffle(rows)
    cols = ["id", "first", "last", "city", "nir"]
    lines = [header] if header else []
    lines.append(sep.join(cols[i] for i in order))
    lines += [sep.join(r[i] for i in order) for r in rows]
    if footer:
        lines.append(footer)
    return "\n".join(lines) + "\n"


def ids(n: int, start: int = 10000, prefix: str = "P") -> list[str]:
    return [f"{prefix}{start + i:05d}" for i in range(n)]


def no_ids(text: str) -> str:
    """Hide record ids so that only content similarity (not record overlap) can match."""
    return text.replace("P1", "Z1")


def count(store: Store, table: str) -> int:
    return store.db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def stored_bytes(store: Store) -> bytes:
    """Everything the store holds, to check that no plaintext is in it: the SQLite file and its
    WAL as they are on disk, or on PostgreSQL every value of every table."""
    if store.dialect == "sqlite":
        return store.path.read_bytes() + store.path.with_name("leakmon.db-wal").read_bytes()
    out = bytearray()
    for table in store.db.table_names():
        for row in store.db.execute(f"SELECT * FROM {table}").fetchall():
            for v in row:
                out += v if isinstance(v, bytes) else str(v).encode()
                out += b"\x00"
    return bytes(out)
