"""The daemon as one of several workers: it runs only the sources it leases, takes over a dead
worker's sources from their committed cursor, hands sources to a worker that joins, never
commits a batch after losing a lease, and frees everything on a clean stop.

The other workers are rows written through a second connection, as another process would.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest

from monitor.config import parse_config
from monitor.daemon.leases import fair_share, runnable
from monitor.daemon.runtime import DaemonTimings
from monitor.daemon.source_tables import source_configs
from monitor.errors import ConfigError
from monitor.models import utcnow
from monitor.store import Store

from ._helpers import ScriptedCollector, cursor_of, make_daemon, make_runtime, stored_ids, wait_for

FAST = {"outbox_every": "1h", "lease_ttl": "2s", "lease_renew": "0.1s", "shutdown_timeout": "5s"}


def sources(*names, every=0.2, **extra):
    return [{"name": n, "type": "test", "every": every, **extra} for n in names]


def leases(tmp_path) -> dict[str, str | None]:
    with Store.open(tmp_path) as store:
        return {s: lease.worker for s, lease in store.source_leases().items()}


def heartbeat(store: Store, worker: str):
    return next(w.heartbeat_at for w in store.list_workers() if w.id == worker)


def test_one_worker_alone_leases_every_source_and_frees_them_on_stop(tmp_path):
    runtime = make_runtime(sources("a", "b", "c"), daemon=FAST)
    cols = {n: ScriptedCollector(n) for n in "abc"}

    async def main():
        d = make_daemon(tmp_path, runtime, cols)
        task = asyncio.create_task(d.run())
        await wait_for(lambda: all(c.runs >= 2 for c in cols.values()))
        me = d.leases.id
        assert set(leases(tmp_path).values()) == {me}
        d.request_stop()
        assert await task == 0
        return me

    me = asyncio.run(main())
    assert leases(tmp_path) == {"a": None, "b": None, "c": None}  # free for the next worker
    with Store.open(tmp_path) as store:
        [w] = store.list_workers()
    assert w.id == me and w.stopped_at is not None and w.leases == []
    for n in "abc":  # and everything ran as it always did
        ids = stored_ids(tmp_path, n)
        assert ids == list(range(1, len(ids) + 1)) and cursor_of(tmp_path, n) == ids[-1]


def test_a_pinned_source_runs_only_on_a_worker_with_its_label(tmp_path):
    runtime = make_runtime([*sources("free"), *sources("tg", worker_label="tg-account-1")],
                           daemon=FAST)
    cols = {"free": ScriptedCollector("free"), "tg": ScriptedCollector("tg")}

    async def run(labels):
        d = make_daemon(tmp_path, runtime, cols, labels=labels)
        task = asyncio.create_task(d.run())
        before = cols["free"].runs
        await wait_for(lambda: cols["free"].runs >= before + 3)
        held = set(d.leases.held)
        d.request_stop()
        await task
        return held

    assert asyncio.run(run(())) == {"free"}
    assert cols["tg"].runs == 0 and leases(tmp_path).get("tg") is None
    assert asyncio.run(run(("tg-account-1",))) == {"free", "tg"}
    assert cols["tg"].runs >= 1


def test_a_dead_workers_source_is_taken_over_from_its_committed_cursor(tmp_path):
    runtime = make_runtime(sources("chan"), daemon=FAST)
    chan = ScriptedCollector("chan")
    with Store.open(tmp_path) as store:  # a worker that ran chan up to item 5, then died
        store.register_worker("dead", host="h2", pid=99, ttl=1.0)
        store.acquire_source_leases("dead", ["chan"], 1, ttl=1.0)
        store.save_cursor("chan", json.dumps({"last": 5}))
        expiry = store.source_leases()["chan"].expires_at

    async def main():
        d = make_daemon(tmp_path, runtime, {"chan": chan})
        task = asyncio.create_task(d.run())
        await wait_for(lambda: chan.runs >= 1)
        with Store.open(tmp_path) as store:
            lease = store.source_leases()["chan"]
        d.request_stop()
        await task
        return d.leases.id, lease

    me, lease = asyncio.run(main())
    assert lease.worker == me and lease.acquired_at >= expiry  # not a moment before expiry
    assert stored_ids(tmp_path, "chan")[:2] == [6, 7]  # resumed after the committed cursor
    with Store.open(tmp_path) as store:
        dead = next(w for w in store.list_workers() if w.id == "dead")
    assert dead.leases == [] and not dead.alive()


def test_a_worker_that_joins_gets_its_share(tmp_path):
    names = [f"s{i}" for i in range(6)]
    runtime = make_runtime(sources(*names, every="1h"), daemon=FAST)
    cols = {n: ScriptedCollector(n) for n in names}
    other = Store.open(tmp_path)

    async def main():
        d = make_daemon(tmp_path, runtime, cols)
        task = asyncio.create_task(d.run())
        await wait_for(lambda: d.leases is not None and len(d.leases.held) == 6)
        other.register_worker("joiner", host="h2", pid=2, ttl=60)
        await wait_for(lambda: len(d.leases.held) == 3)  # handed back to balance the load
        taken = other.acquire_source_leases("joiner", names, 6, ttl=60)
        for _ in range(3):  # three renewals later the daemon still leaves them alone
            beat = heartbeat(other, d.leases.id)
            await wait_for(lambda b=beat: heartbeat(other, d.leases.id) > b)
        held = set(d.leases.held)
        d.request_stop()
        await task
        return held, taken

    held, taken = asyncio.run(main())
    other.close()
    assert len(taken) == 3 and held.isdisjoint(taken) and held | set(taken) == set(names)


def test_a_batch_after_the_lease_was_lost_is_not_committed(tmp_path):
    runtime = make_runtime(sources("chan", every="1h"), daemon=FAST)
    gate = asyncio.Event()
    chan = ScriptedCollector("chan", batches=3, script=[("gate", gate)])

    async def main():
        d = make_daemon(tmp_path, runtime, {"chan": chan})
        task = asyncio.create_task(d.run())
        await wait_for(lambda: chan.at_gate and cursor_of(tmp_path, "chan") == 2)
        assert d.leases.holds("chan")
        with Store.open(tmp_path) as thief:  # as if the daemon had stalled past its expiry
            thief.register_worker("thief", host="h2", pid=2, ttl=60)
            with thief.transaction():
                thief.db.execute("UPDATE source_leases SET worker = 'thief', expires_at = ? "
                                 "WHERE source = 'chan'",
                                 ((utcnow() + timedelta(seconds=60)).isoformat(),))
        gate.set()
        await wait_for(lambda: chan.active == 0)
        result = d.last_results["chan"]
        await wait_for(lambda: not d.leases.holds("chan"))
        d.request_stop()
        await task
        return result

    result = asyncio.run(main())
    assert result.lease_lost and result.batches == 1
    assert stored_ids(tmp_path, "chan") == [1, 2] and cursor_of(tmp_path, "chan") == 2
    with Store.open(tmp_path) as store:
        state = store.get_source_state("chan")
    assert state.consecutive_failures == 0  # not the source's fault: nothing recorded


def test_lease_settings_are_checked():
    timings = DaemonTimings.of(parse_config({"daemon": {"lease_ttl": "9s"}}))
    assert (timings.lease_ttl, timings.lease_renew) == (9.0, 3.0)
    with pytest.raises(ConfigError, match="lease_renew"):
        DaemonTimings.of(parse_config({"daemon": {"lease_ttl": "9s", "lease_renew": "9s"}}))
    with pytest.raises(ConfigError, match="labels"):
        parse_config({"daemon": {"labels": ["ok", ""]}})
    with pytest.raises(ConfigError, match="worker_label"):
        source_configs([{"name": "x", "type": "test", "worker_label": 3}])


def test_shares_and_labels():
    srcs = source_configs([{"name": "a", "type": "t"},
                           {"name": "b", "type": "t", "worker_label": "tor-1"}])
    assert [s.name for s in runnable(srcs, [])] == ["a"]
    assert [s.name for s in runnable(srcs, ["tor-1"])] == ["a", "b"]
    assert (fair_share(50, 3), fair_share(50, 2), fair_share(50, 0)) == (17, 25, 50)
