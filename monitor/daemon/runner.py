"""One run of one source: collect -> pipeline (off the loop) -> cursor -> source health.

The collector runs on the event loop (network I/O); each batch goes to the pipeline thread,
which scans it and commits documents, hits, incidents, outbox rows and the cursor in one
transaction. Between batches the runner checks whether the daemon is stopping, so SIGTERM
lets the batch in hand commit and then stops cleanly: nothing lost, nothing done twice.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Sized
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, TypeAlias

from monitor.collectors.base import Batch, Collector, CollectorDeferred, SourceConfig
from monitor.daemon.health import health_notifications
from monitor.daemon.metrics import Metrics
from monitor.daemon.workers import StoreThread
from monitor.errors import CollectorError, LeakmonError
from monitor.models import Document, Notification, utcnow
from monitor.store.workers import LeaseLost

if TYPE_CHECKING:
    from monitor.alerting.sinks.base import Sink
    from monitor.daemon.runtime import Runtime
    from monitor.pipeline import BatchResult, Pipeline
    from monitor.store import Store

log = logging.getLogger(__name__)

# builds the pipeline of one runtime generation on the pipeline thread (tests pass stand-ins)
PipelineFactory: TypeAlias = "Callable[[Store, Runtime], Pipeline]"
Guard: TypeAlias = "Callable[[Store], None]"  # runs inside a batch's transaction (leases.py)

MAX_ERROR_CHARS = 500
_UNDELIVERABLE: set[str] = set()  # operator alerts already reported as having no sink


@dataclass(slots=True)
class RunResult:
    source: str
    ok: bool
    items: int = 0
    documents: int = 0
    hits: int = 0
    batches: int = 0
    error: str | None = None
    retry_after: float | None = None  # set when the source asked us to wait (flood wait)
    interrupted: bool = False  # stopped between batches because the daemon is stopping
    lease_lost: bool = False  # another worker took the source over; its batch was not committed
    started_at: datetime = field(default_factory=utcnow)
    operator_alerts: int = 0

    @property
    def outcome(self) -> str:
        if self.retry_after is not None and self.ok:
            return "deferred"
        return "ok" if self.ok else "error"


class PipelineHost:
    """Keeps one Pipeline per runtime generation on the pipeline thread.

    Built lazily on that thread (the Pipeline holds the thread's store connection); after a
    reload swaps `runtime`, the next batch gets a Pipeline with the new engine and sinks.
    """

    def __init__(self, runtime: Runtime, factory: PipelineFactory | None = None) -> None:
        self.runtime = runtime
        self._factory = factory or make_pipeline
        self._built_for: Runtime | None = None
        self._pipeline: Pipeline | None = None

    def process(self, store: Store, source: str, documents: list[Document],
                cursor: str | None, guard: Guard | None = None) -> tuple[BatchResult, float]:
        """The batch's BatchResult and the seconds `process_batch` took (build time excluded,
        so the MB/s metric measures scanning and storing only)."""
        runtime = self.runtime
        pipeline = self._pipeline
        if pipeline is None or self._built_for is not runtime:
            pipeline = self._pipeline = self._factory(store, runtime)
            self._built_for = runtime
        started = time.perf_counter()
        if guard is None:
            result = pipeline.process_batch(source, documents, cursor)
        else:
            result = pipeline.process_batch(source, documents, cursor, guard=guard)
        return result, time.perf_counter() - started


def make_pipeline(store: Store, runtime: Runtime) -> Pipeline:
    from monitor.pipeline import Pipeline

    pipeline = Pipeline(store, runtime.engine, sinks=runtime.sinks, limits=runtime.limits)
    pipeline.tracker.public_url = runtime.config.web.public_url
    return pipeline


def accepting_sinks(sinks: list[Sink], notification: Notification) -> list[Sink]:
    out = []
    for sink in sinks:
        accepts = getattr(sink, "accepts", None)
        if accepts is None or accepts(notification):
            out.append(sink)
    return out


def raise_health_alerts(store: Store, source: SourceConfig, sinks: list[Sink],
                        now: datetime | None = None) -> int:
    """Enqueue the operator notifications the source's state calls for; returns how many were
    new. Repeats are absorbed by the outbox's UNIQUE(sink, idempotency_key)."""
    state = store.get_source_state(source.name)
    count = 0
    for note in health_notifications(source, state, now=now):
        targets = accepting_sinks(sinks, note)
        if not targets:
            if note.idempotency_key not in _UNDELIVERABLE:  # say it once per episode
                _UNDELIVERABLE.add(note.idempotency_key)
                log.warning("source %s: %s, but no sink accepts operator alerts",
                            source.name, note.title)
            continue
        added = store.enqueue(note, targets)
        count += int(bool(added)) if isinstance(added, bool | int) else 1
    return count


class SourceRunner:
    """Runs sources; one instance per daemon (or per `once` pass)."""

    def __init__(self, pipeline_thread: StoreThread, host: PipelineHost,
                 metrics: Metrics | None = None) -> None:
        self.thread = pipeline_thread
        self.host = host
        self.metrics = metrics or Metrics()

    async def run(self, source: SourceConfig, collector: Collector,
                  should_stop: Callable[[], bool] = lambda: False,
                  guard: Guard | None = None) -> RunResult:
        """One run; `guard(store)` runs inside each batch's transaction (leases.py)."""
        name = source.name
        result = RunResult(source=name, ok=True)
        state = await self.thread.call(lambda s: s.get_source_state(name))
        cursor = getattr(state, "cursor", None)
        log.info("source %s: run started", name)
        log.debug("source %s: resuming after cursor %s", name, _clip(cursor or "(none)"))
        try:
            agen = collector.collect(cursor)
            async with _closing(agen):
                async for batch in agen:
                    await self._commit(name, batch, result, guard)
                    if should_stop():
                        result.interrupted = True
                        log.info("source %s: stopping after batch %d (shutdown)", name,
                                 result.batches)
                        break
        except LeaseLost as e:
            result.interrupted = result.lease_lost = True
            log.warning("source %s: %s", name, e)
        except CollectorDeferred as e:
            result.retry_after = e.retry_after
            log.warning("source %s: deferred for %.0fs: %s", name, e.retry_after, e)
        except CollectorError as e:
            result.ok, result.error = False, _clip(str(e))
            log.error("source %s: run failed: %s", name, result.error)
        except LeakmonError as e:
            result.ok, result.error = False, _clip(f"{type(e).__name__}: {e}")
            log.error("source %s: run failed: %s", name, result.error)
        except Exception as e:  # a bug in one collector must not kill the daemon
            result.ok, result.error = False, _clip(f"unexpected {type(e).__name__}: {e}")
            log.exception("source %s: run failed unexpectedly", name)
        if not result.lease_lost:  # the new holder records the source's health
            await self._finish(source, result)
        self.metrics.run(name, result.outcome)
        log.log(logging.INFO if result.ok else logging.WARNING,
                "source %s: run %s: %d items, %d documents, %d hits%s", name, result.outcome,
                result.items, result.documents, result.hits,
                f" ({result.error})" if result.error else "",
                extra={"source": name, "outcome": result.outcome, "items": result.items,
                       "documents": result.documents, "hits": result.hits,
                       "batches": result.batches})
        return result

    async def _commit(self, name: str, batch: Batch, result: RunResult,
                      guard: Guard | None = None) -> None:
        documents = list(batch.documents)
        nbytes = sum(len(d.content) for d in documents)
        outcome, seconds = await self.thread.call(
            lambda s: self.host.process(s, name, documents, batch.cursor, guard))
        hits = _count(getattr(outcome, "hits", 0))
        incidents = _count(getattr(outcome, "new_incidents", 0))
        committed = _count(getattr(outcome, "documents", len(documents)))
        log.debug("source %s: batch committed: %d documents, %d hits, cursor %s", name,
                  committed, hits, _clip(batch.cursor or "(none)"))
        result.batches += 1
        result.items += int(getattr(batch, "items", 0) or len(documents))
        result.documents += committed
        result.hits += hits
        self.metrics.batch(name, documents=committed, hits=hits, incidents=incidents,
                           nbytes=nbytes, seconds=seconds)

    async def _finish(self, source: SourceConfig, result: RunResult) -> None:
        sinks = list(getattr(self.host.runtime, "sinks", []) or [])

        def finish(store: Store) -> int:
            if result.retry_after is None or result.batches:
                store.record_source_run(source.name, result.ok, result.items, result.error)
            return raise_health_alerts(store, source, sinks)

        try:
            result.operator_alerts = await self.thread.call(finish)
        except Exception:
            log.exception("source %s: recording the run in the store failed", source.name)


def _closing(agen: AsyncIterator[Batch]) -> contextlib.AbstractAsyncContextManager:
    """Close an async generator left mid-way (break on shutdown) so its `finally` runs now."""
    if hasattr(agen, "aclose"):
        return contextlib.aclosing(agen)
    return contextlib.nullcontext(agen)


def _count(value: int | Sized) -> int:
    if isinstance(value, int):
        return value
    try:
        return len(value)
    except TypeError:
        return 0


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"
