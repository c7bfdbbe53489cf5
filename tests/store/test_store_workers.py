"""Workers, source leases and outbox claims (schema v4): two connections play two workers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.alerting.notification import Notification
from monitor.store import Store
from monitor.store.workers import LeaseLost
from tests.support.sinks import make_notification

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
TTL = 30.0
SOURCES = [f"src{i:02d}" for i in range(10)]


@pytest.fixture
def other(store, store_location):
    """A second connection on the same database (SQLite or PostgreSQL): the other worker."""
    with Store.open(store_location) as s:
        yield s


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def register(store: Store, wid: str, now: datetime = T0, labels=()) -> None:
    store.register_worker(wid, host="h", pid=1, labels=labels, ttl=TTL, now=now)


def test_migration_adds_the_worker_and_lease_tables(store):
    assert {"workers", "source_leases"} <= set(store.db.table_names())
    [row] = store.query("SELECT leased_by, lease_until FROM outbox WHERE 1 = 0 UNION ALL "
                        "SELECT 'x', 'y'")  # both columns exist
    assert row == {"leased_by": "x", "lease_until": "y"}


def test_a_source_is_leased_by_one_worker_until_its_lease_expires(store, other):
    register(store, "a")
    register(other, "b")
    assert store.acquire_source_leases("a", SOURCES, 6, ttl=TTL, now=T0) == SOURCES[:6]
    # b gets only what a does not hold, however many it asks for
    assert other.acquire_source_leases("b", SOURCES, 10, ttl=TTL, now=at(1)) == SOURCES[6:]
    assert other.acquire_source_leases("b", SOURCES, 10, ttl=TTL, now=at(29)) == []
    # a stops renewing: after the expiry b takes its sources over
    assert other.renew_leases("b", ttl=TTL, now=at(20)) == SOURCES[6:]
    assert other.acquire_source_leases("b", SOURCES, 10, ttl=TTL, now=at(31)) == SOURCES[:6]
    assert store.renew_leases("a", ttl=TTL, now=at(32)) == []  # a wakes up holding nothing
    holders = {s: lease.worker for s, lease in store.source_leases().items()}
    assert holders == dict.fromkeys(SOURCES, "b")


def test_renewing_keeps_a_live_workers_leases(store, other):
    register(store, "a")
    register(other, "b")
    store.acquire_source_leases("a", SOURCES[:3], 3, ttl=TTL, now=T0)
    for t in (20, 40, 60):
        assert store.renew_leases("a", ttl=TTL, now=at(t)) == SOURCES[:3]
        assert other.acquire_source_leases("b", SOURCES[:3], 3, ttl=TTL, now=at(t + 1)) == []
    assert store.source_leases()["src00"].expires_at == at(60 + TTL)


def test_a_stalled_worker_cannot_commit_a_cursor_over_the_new_holder(store, other):
    register(store, "a")
    register(other, "b")
    store.acquire_source_leases("a", ["tg"], 1, ttl=TTL, now=T0)
    store.save_cursor("tg", "10")
    other.acquire_source_leases("b", ["tg"], 1, ttl=TTL, now=at(TTL + 1))  # a stalled
    with pytest.raises(LeaseLost, match="lease lost to b"), store.transaction():
        store.check_source_lease("tg", "a")
        store.save_cursor("tg", "99")  # never reached
    with other.transaction():
        other.check_source_lease("tg", "b")
        other.save_cursor("tg", "11")
    assert store.get_source_state("tg").cursor == "11"


def test_the_check_joins_the_batch_transaction_so_a_late_save_rolls_back(store, other):
    register(store, "a")
    register(other, "b")
    store.acquire_source_leases("a", ["tg"], 1, ttl=TTL, now=T0)
    other.acquire_source_leases("b", ["tg"], 1, ttl=TTL, now=at(TTL + 1))
    with pytest.raises(LeaseLost), store.transaction():
        store.save_cursor("tg", "99")  # written first, then the check fails: rolled back
        store.check_source_lease("tg", "a")
    assert store.get_source_state("tg").cursor is None
    with pytest.raises(Exception, match="inside the batch transaction"):
        store.check_source_lease("tg", "b")


def test_an_expired_lease_nobody_took_still_lets_its_holder_commit(store):
    register(store, "a")
    store.acquire_source_leases("a", ["tg"], 1, ttl=TTL, now=T0)
    with store.transaction():  # late, but nobody else read the cursor
        store.check_source_lease("tg", "a")
        store.save_cursor("tg", "5")
    assert store.get_source_state("tg").cursor == "5"


def test_a_clean_stop_frees_the_leases_at_once(store, other):
    register(store, "a", labels=["tg-account-1"])
    register(other, "b")
    store.acquire_source_leases("a", SOURCES, 10, ttl=TTL, now=T0)
    assert store.stop_worker("a", now=at(1)) == 10
    assert other.acquire_source_leases("b", SOURCES, 10, ttl=TTL, now=at(2)) == SOURCES
    workers = {w.id: w for w in store.list_workers()}
    assert workers["a"].stopped_at == at(1) and not workers["a"].alive(at(2))
    assert workers["a"].labels == ["tg-account-1"] and workers["a"].leases == []
    assert workers["b"].leases == SOURCES and workers["b"].alive(at(2))
    assert store.live_worker_count(now=at(2)) == 1
    assert store.live_worker_count(now=at(2 + TTL)) == 0  # b stopped renewing


def test_releasing_some_leases_keeps_the_others(store):
    register(store, "a")
    store.acquire_source_leases("a", SOURCES[:4], 4, ttl=TTL, now=T0)
    assert store.release_source_leases("a", ["src01", "src03", "nope"]) == 2
    assert store.renew_leases("a", ttl=TTL, now=at(1)) == ["src00", "src02"]
    assert store.release_source_leases("a", []) == 0


def note(key: str) -> Notification:
    return make_notification(idempotency_key=key, dedup_key=key)


def test_two_workers_never_claim_the_same_outbox_row(store, other):
    register(store, "a")
    register(other, "b")
    for i in range(6):
        store.enqueue(note(f"k{i}"), ["soc"], now=T0)
    mine = store.outbox_due(at(1), 4, sink="soc", worker="a")
    theirs = other.outbox_due(at(1), 4, sink="soc", worker="b")
    assert [i.notification.idempotency_key for i in mine] == ["k0", "k1", "k2", "k3"]
    assert [i.notification.idempotency_key for i in theirs] == ["k4", "k5"]
    # a claim is renewed by its holder, not given to the other one
    assert len(store.outbox_due(at(2), 10, worker="a")) == 4
    assert other.outbox_due(at(2), 10, worker="b") == theirs
    store.outbox_sent(mine[0].id, "ok", now=at(3))
    store.outbox_failed(mine[1].id, "down", at(3), now=at(3))  # released: retried by anyone
    assert [i.id for i in other.outbox_due(at(4), 10, worker="b")] == [
        *[i.id for i in theirs], mine[1].id]  # oldest due first; a's other two stay a's


def test_a_dead_workers_outbox_claims_come_back_when_its_heartbeat_expires(store, other):
    register(store, "a")
    register(other, "b", now=at(TTL))
    store.enqueue(note("k"), ["soc"], now=T0)
    assert len(store.outbox_due(at(1), 10, worker="a")) == 1
    assert other.outbox_due(at(TTL - 1), 10, worker="b") == []  # a still alive
    assert len(other.outbox_due(at(TTL + 1), 10, worker="b")) == 1  # a never renewed


def test_a_clean_stop_gives_the_outbox_claims_back(store, other):
    register(store, "a")
    register(other, "b")
    store.enqueue(note("k"), ["soc"], now=T0)
    store.outbox_due(at(1), 10, worker="a")
    store.stop_worker("a", now=at(2))
    assert len(other.outbox_due(at(3), 10, worker="b")) == 1


def test_without_a_worker_the_outbox_reads_as_before(store):
    store.enqueue(note("k1"), ["soc"], now=T0)
    store.enqueue(note("k2"), ["soc"], now=T0)
    first = store.outbox_due(at(1), 10)
    assert [i.notification.idempotency_key for i in first] == ["k1", "k2"]
    assert store.outbox_due(at(1), 10) == first  # reading claims nothing
    assert {r["leased_by"] for r in store.outbox_rows()} == {None}
