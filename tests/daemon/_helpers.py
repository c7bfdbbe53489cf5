"""Small fakes for the daemon tests: a scripted collector (the keyword scanner is in
tests.support.scanners).

The store and the pipeline are the real ones; only the network side (collectors) and the
rule engine (a substring scanner) are stood in, so scheduler behaviour can be driven exactly.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from monitor.collectors.base import Batch, Collector, CollectorDeferred, SourceConfig
from monitor.config import parse_config
from monitor.daemon.runtime import DaemonTimings, Runtime
from monitor.daemon.scheduler import Daemon
from monitor.daemon.systemd import SystemdNotifier
from monitor.errors import CollectorError
from monitor.models import Document
from monitor.pipeline import Pipeline
from monitor.store import Store
from tests.support.scanners import keyword_scanner


def pipeline_factory(store: Any, runtime: Any) -> Pipeline:
    return Pipeline(store, sinks=runtime.sinks, scanner=keyword_scanner())


def make_runtime(sources: list[dict[str, Any]], *, sinks: list[Any] | None = None,
                 daemon: dict[str, Any] | None = None, base: Path | None = None) -> Runtime:
    config = parse_config({"sources": sources, "daemon": daemon or {"outbox_every": "1h"}})
    from monitor.daemon.source_tables import source_configs

    return Runtime(config=config, engine=None, ruleset=None, sinks=list(sinks or []),
                   sources=source_configs(sources),
                   tables={t["name"]: t for t in sources}, limits=None,
                   timings=DaemonTimings.of(config))


class ScriptedCollector(Collector):
    """Yields numbered documents `per_run` at a time; behaviour per run set by `script`.

    The cursor is the last item number, so a resumed run continues exactly after it.
    Script entries: "ok" (yield a batch), "fail" (raise CollectorError), ("defer", s),
    ("gate", asyncio.Event) (yield one batch, then wait on the event before the next),
    "hang" (wait forever).
    """

    platform = "test"

    def __init__(self, name: str, *, per_run: int = 2, batches: int = 1,
                 script: list[Any] | None = None, content: Callable[[int], bytes] | None = None):
        super().__init__(SourceConfig(name=name, type="test"))
        self.per_run = per_run
        self.batches = batches
        self.script = list(script or [])
        self.content = content or (lambda i: f"message {i}".encode())
        self.runs = 0
        self.active = 0
        self.max_active = 0
        self.started = asyncio.Event()
        self.at_gate = False  # True while waiting on a ("gate", event) step
        self.closed = False

    async def collect(self, cursor: str | None) -> AsyncIterator[Batch]:
        self.runs += 1
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        self.started.set()
        try:
            step = self.script.pop(0) if self.script else "ok"
            last = json.loads(cursor)["last"] if cursor else 0
            if step == "fail":
                raise CollectorError(f"source {self.name!r}: scripted failure")
            if isinstance(step, tuple) and step[0] == "defer":
                raise CollectorDeferred(f"source {self.name!r}: flood wait", step[1])
            if step == "hang":
                await asyncio.Event().wait()
            gate = step[1] if isinstance(step, tuple) and step[0] == "gate" else None
            for b in range(self.batches):
                docs = []
                for _ in range(self.per_run):
                    last += 1
                    docs.append(Document(source=self.name, platform="test",
                                         external_id=str(last), content=self.content(last)))
                yield Batch(docs, json.dumps({"last": last}), items=len(docs))
                if gate is not None and b == 0:
                    self.at_gate = True
                    await gate.wait()
                    self.at_gate = False
        finally:
            self.active -= 1

    async def aclose(self) -> None:
        self.closed = True


async def wait_for(predicate: Callable[[], bool], *, timeout: float = 20.0,
                   step: float = 0.02) -> None:
    """Poll until `predicate()`; the timeout only guards against a hung test."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not reached (test would hang)")
        await asyncio.sleep(step)


class Deliveries:
    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, store, sinks, now):
        self.calls.append([s.name for s in sinks])
        return None


def make_daemon(tmp_path, runtime, collectors, **kw) -> Daemon:
    def factory(table, config, state_dir):
        return collectors[table["name"]]

    kw.setdefault("deliver", Deliveries())
    return Daemon(runtime, state_dir=tmp_path, config_path=None, collector_factory=factory,
                  pipeline_factory=pipeline_factory, notifier=kw.pop("notifier", None)
                  or SystemdNotifier({}), **kw)


def stored_ids(tmp_path, source: str) -> list[int]:
    with Store.open(tmp_path) as store:
        rows = store.query("SELECT external_id FROM documents WHERE source = ?", (source,))
    return sorted(int(r["external_id"]) for r in rows)


def cursor_of(tmp_path, source: str) -> int | None:
    with Store.open(tmp_path) as store:
        cur = store.get_source_state(source).cursor
    return json.loads(cur)["last"] if cur else None
