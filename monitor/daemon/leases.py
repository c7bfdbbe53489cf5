"""This worker's share of the sources: its row in `workers` and its source leases.

Several `leakmon run` workers on one store (PostgreSQL across machines, or one SQLite file on
one machine) split the sources between them through leases in the database
(monitor/store/workers.py). Every `renew` seconds a worker renews its heartbeat and leases,
hands back what it holds beyond its fair share (so a worker that joins gets work), and takes
free or expired leases up to its share (so a dead worker's sources are taken over once its
leases expire). A source pinned with `worker_label` is only ever taken by a worker carrying
that label, and does not count in the shares. One worker alone leases every source: it then
behaves exactly as a daemon without leases.
"""

from __future__ import annotations

import logging
import math
import os
import secrets
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from monitor.collectors.base import SourceConfig
from monitor.daemon.workers import StoreThread

if TYPE_CHECKING:
    from monitor.daemon.runner import Guard
    from monitor.store import Store

log = logging.getLogger(__name__)


def new_worker_id(host: str | None = None) -> str:
    """`host:pid:random`: unique across restarts and machines, readable in `leakmon status`."""
    return f"{host or socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def runnable(sources: Iterable[SourceConfig], labels: Iterable[str]) -> list[SourceConfig]:
    """The sources a worker with `labels` may run: every unpinned one and its pinned ones."""
    mine = set(labels)
    return [s for s in sources if s.worker_label is None or s.worker_label in mine]


def fair_share(shared: int, live_workers: int) -> int:
    return math.ceil(shared / max(1, live_workers))


@dataclass(slots=True)
class LeaseChange:
    """What one `sync` changed: sources newly held (and when each last ran), sources lost."""

    gained: dict[str, datetime | None] = field(default_factory=dict)
    lost: set[str] = field(default_factory=set)
    released: set[str] = field(default_factory=set)


class Leases:
    """This worker's leases; every store call runs on `thread` (its own, so a renewal never
    waits behind a long batch on the pipeline thread)."""

    def __init__(self, thread: StoreThread, *, ttl: float, labels: Iterable[str] = (),
                 worker_id: str | None = None) -> None:
        self.thread = thread
        self.ttl = ttl
        self.labels = tuple(sorted(set(labels)))
        self.host = socket.gethostname()
        self.id = worker_id or new_worker_id(self.host)
        self.held: set[str] = set()

    def holds(self, source: str) -> bool:
        return source in self.held

    def guard(self, source: str) -> Guard:
        """Run inside a batch's transaction: raises LeaseLost unless we still hold `source`."""
        return lambda store: store.check_source_lease(source, self.id)

    async def start(self, sources: list[SourceConfig]) -> LeaseChange:
        await self.thread.call(lambda store: store.register_worker(
            self.id, host=self.host, pid=os.getpid(), labels=self.labels, ttl=self.ttl))
        log.info("worker %s registered (labels: %s; lease ttl %gs)", self.id,
                 ", ".join(self.labels) or "none", self.ttl)
        return await self.sync(sources, set())

    async def sync(self, sources: list[SourceConfig], running: set[str]) -> LeaseChange:
        """Renew, rebalance and acquire; `running` sources are never handed back."""
        change = await self.thread.call(lambda store: self._sync(store, sources, running))
        self.held = (self.held - change.lost - change.released) | set(change.gained)
        for name in sorted(change.lost):
            log.warning("source %s: lease lost to another worker (stalled past the lease "
                        "expiry); it stops after the batch in hand, uncommitted", name)
        if change.gained:
            log.info("worker %s leased %d source(s): %s", self.id, len(change.gained),
                     ", ".join(sorted(change.gained)))
        if change.released:
            log.info("worker %s handed back %d source(s) to balance the load: %s", self.id,
                     len(change.released), ", ".join(sorted(change.released)))
        return change

    def _sync(self, store: Store, sources: list[SourceConfig], running: set[str]) -> LeaseChange:
        change = LeaseChange()
        held = set(store.renew_leases(self.id, ttl=self.ttl))
        change.lost = self.held - held
        mine = runnable(sources, self.labels)
        names = {s.name for s in mine}
        pinned = {s.name for s in mine if s.worker_label is not None}
        shared = names - pinned
        gone = held - names  # removed from the config, or pinned elsewhere by a reload
        share = fair_share(sum(1 for s in sources if s.worker_label is None),
                           store.live_worker_count())
        excess = sorted((held & shared) - running, reverse=True)[
            : max(0, len(held & shared) - share)]
        release = (gone - running) | set(excess)
        if release:
            store.release_source_leases(self.id, sorted(release))
            change.released = release & self.held
            held -= release
        want = max(0, share - len(held & shared))
        taken = store.acquire_source_leases(self.id, pinned - held, len(pinned), ttl=self.ttl)
        taken += store.acquire_source_leases(self.id, shared - held, want, ttl=self.ttl)
        for name in taken:
            change.gained[name] = store.get_source_state(name).last_run
        # a lease renewed above but not known yet (a restart with the same id) is gained too
        for name in held - self.held:
            change.gained.setdefault(name, store.get_source_state(name).last_run)
        return change

    async def stop(self) -> None:
        """Clean stop: free every lease at once so another worker takes over now."""
        try:
            freed = await self.thread.call(lambda store: store.stop_worker(self.id))
        except Exception:
            log.exception("worker %s: freeing the leases failed; they expire in %gs",
                          self.id, self.ttl)
            return
        self.held.clear()
        log.info("worker %s stopped; %d lease(s) freed", self.id, freed)
