"""telegram_web's page reader in a child process (monitor.collectors.process_feed): the same
documents and cursors as reading on the loop, and a reader that dies is a failed run whose
cursor is not saved, never a run that silently ends early."""

from __future__ import annotations

import asyncio
import json
import logging
import multiprocessing
import os
import signal
import threading
from pathlib import Path

import pytest

from monitor.collectors import CollectorDeferred, parse_source, process_feed
from monitor.collectors.process_feed import ProcessFeed, TaskFeed
from monitor.collectors.telegram_web import TelegramWebCollector
from monitor.errors import CollectorError
from monitor.pipeline import Pipeline
from monitor.store import Store
from tests.collectors.test_telegram_web import NEW_POST, PAGE1, channel_routes, make
from tests.support.collect import drain, run
from tests.support.scanners import keyword_scanner


def in_child(server, config, channel="leakmarketfr", **extra) -> TelegramWebCollector:
    table = {"name": "tgweb", "type": "telegram_web", "channel": channel,
             "base_url": server.url(""), **extra}
    collector = TelegramWebCollector(parse_source(table), config)
    collector.in_child = True  # also on a one-CPU machine
    return collector


def shape(batches) -> list:
    """What a run gives the pipeline, without fetched_at (the time of reading)."""
    return [([(d.external_id, d.content, d.url, d.author, d.posted_at, d.forwarded_from,
               d.metadata) for d in b.documents], b.cursor, b.items) for b in batches]


@pytest.mark.parametrize("extra", [{}, {"batch_size": 3}, {"backfill": 4}])
def test_the_child_gives_the_documents_and_cursors_of_the_loop(server, config, extra):
    channel_routes(server)
    here = run(drain(make(server, config, **extra)))
    there = run(drain(in_child(server, config, **extra)))
    assert shape(there) == shape(here) and here
    cursor = here[-1].cursor
    channel_routes(server, PAGE1.replace("        </section>", NEW_POST, 1))
    again = run(drain(in_child(server, config, **extra), cursor))
    assert shape(again) == shape(run(drain(make(server, config, **extra), cursor)))
    assert [d.external_id for b in again for d in b.documents] == ["102"]
    assert json.loads(again[-1].cursor) == {"last_id": 102}


def test_errors_of_the_child_reach_the_run_with_their_kind(server, config):
    channel_routes(server)
    with pytest.raises(CollectorDeferred) as deferred:
        run(drain(in_child(server, config, channel="floodedchan")))
    assert deferred.value.retry_after == 300.0
    with pytest.raises(CollectorError, match="does not exist"):
        run(drain(in_child(server, config, channel="nosuchchannel42")))


async def _put_then_exit(n: int, code: int, out) -> None:
    for i in range(n):
        await out.put(i)
    os._exit(code)  # as a crash would: no last item, no "done"


def test_a_child_that_dies_is_an_error_after_what_it_sent():
    async def main():
        got = []
        async with ProcessFeed(_put_then_exit, (3, 7), ahead=2, name="test feed") as feed:
            with pytest.raises(CollectorError, match="exit code 7"):
                while True:
                    got.append(await feed.get())
        return got

    assert run(asyncio.wait_for(main(), 60)) == [0, 1, 2]


async def _count(n: int, out) -> None:
    for i in range(n):
        await out.put(i)


@pytest.mark.parametrize("feed_class", [ProcessFeed, TaskFeed])
def test_items_come_in_order_and_an_early_close_ends_the_reader(feed_class):
    async def main():
        kw = {"name": "test feed"} if feed_class is ProcessFeed else {}
        async with feed_class(_count, (10_000,), ahead=3, **kw) as feed:
            got = [await feed.get() for _ in range(500)]
        return got, feed

    got, feed = run(asyncio.wait_for(main(), 60))  # a lost wake-up fails, never hangs
    assert got == list(range(500))
    if isinstance(feed, ProcessFeed):
        assert feed.exitcode is not None  # ended with the block, not left running


def forkserver_children() -> list[int]:
    """The live reader processes: the forkserver's children (Linux /proc)."""
    from multiprocessing import forkserver

    server = forkserver._forkserver._forkserver_pid
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rpartition(")")[2].split()[1]) == server:
                out.append(int(entry))
    return out


def test_a_reader_killed_mid_run_saves_no_cursor_and_the_next_run_loses_nothing(
        server, config, tmp_path):
    """Page 1 is read on the loop, page 2 by the reader process, which is killed while it
    waits for page 2: the batch of page 1 is stored, the run fails, the cursor stays unsaved;
    the next run stores page 2 and the cursor."""
    channel_routes(server)
    page2 = server.routes["/s/leakmarketfr"]
    kill = threading.Event()

    def killing(req):
        if req.q("before") == "96" and kill.is_set():
            for pid in forkserver_children():  # the reader asking for page 2, now
                os.kill(pid, signal.SIGKILL)
        return page2(req)

    server.route("/s/leakmarketfr", killing)
    store = Store.open(tmp_path / "leakmon.db")
    pipeline = Pipeline(store, scanner=keyword_scanner(b"dump"), dedup_key=b"k" * 32)

    async def one_run(collector):
        state = store.get_source_state("tgweb")
        try:
            async for batch in collector.collect(state.cursor if state else None):
                pipeline.process_batch("tgweb", batch.documents, batch.cursor)
        finally:
            await collector.aclose()

    kill.set()
    collector = in_child(server, config, batch_size=5)
    with pytest.raises(CollectorError, match="reader process ended before its last page"):
        run(asyncio.wait_for(one_run(collector), 60))
    assert isinstance(collector.feed, ProcessFeed) and collector.feed.exitcode == -signal.SIGKILL
    stored = [r["external_id"] for r in store.query("SELECT external_id FROM documents")]
    assert sorted(stored) == ["100", "101", "96", "97", "99"]
    state = store.get_source_state("tgweb")
    assert state is None or state.cursor is None

    kill.clear()
    run(asyncio.wait_for(one_run(in_child(server, config, batch_size=5)), 60))
    stored = [r["external_id"] for r in store.query("SELECT external_id FROM documents")]
    assert sorted(stored) == ["100", "101", "90", "93", "95", "96", "97", "99"]
    assert json.loads(store.get_source_state("tgweb").cursor) == {"last_id": 101}


def test_a_one_page_run_needs_no_reader_process(server, config):
    """A watched channel's run is mostly one page: read on the loop, no process started."""
    channel_routes(server)
    first = run(drain(in_child(server, config)))
    channel_routes(server, PAGE1.replace("        </section>", NEW_POST, 1))
    collector = in_child(server, config)
    again = run(drain(collector, first[-1].cursor))
    assert [d.external_id for b in again for d in b.documents] == ["102"]
    assert isinstance(collector.feed, TaskFeed)


async def _log_and_put(out) -> None:
    logging.getLogger("monitor.collectors.test_child").warning("page %d skipped", 7)
    logging.getLogger("monitor.collectors.test_child").debug("not sent at WARNING")
    await out.put("page")


def test_the_childs_log_records_go_through_this_process_logging(caplog):
    caplog.set_level(logging.WARNING)

    async def main():
        async with ProcessFeed(_log_and_put, (), ahead=2, name="test feed") as feed:
            return await feed.get()

    assert run(asyncio.wait_for(main(), 60)) == "page"
    got = [(r.name, r.levelname, r.getMessage()) for r in caplog.records]
    assert got == [("monitor.collectors.test_child", "WARNING", "page 7 skipped")]


def test_without_a_reader_process_the_pages_are_read_here(server, config, monkeypatch,
                                                          caplog):
    class NoProcesses:
        def Pipe(self, duplex):
            return multiprocessing.get_context("spawn").Pipe(duplex)

        def Process(self, **kw):
            raise OSError("no forkserver here")

    channel_routes(server)
    monkeypatch.setattr(process_feed, "context", NoProcesses)
    collector = in_child(server, config)
    there = run(drain(collector))
    assert shape(there) == shape(run(drain(make(server, config)))) and there
    assert not collector.in_child and isinstance(collector.feed, TaskFeed)
    assert "cannot start the reader process: OSError: no forkserver here" in caplog.text
