"""One leak, one incident, one "new" alert when several workers share one store.

Each worker is its own `Store` connection and `Pipeline` (threads here, processes in the last
test), as `leakmon run` workers on several machines are. The races are forced, not hoped for:
worker A stops inside its batch transaction (after creating the incident, before commit) until
worker B has started its own batch on a re-post of the same leak.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections import Counter

import pytest
from leakfakes import T0, FakeSink, csv_dump, doc, ids, no_ids, patient_rows, scanner

from monitor.pipeline import Pipeline
from monitor.store import Store

KEY = bytes(range(32))  # every worker of one deployment shares the dedup key
ROWS = patient_rows(ids(40), seed=5)
WAIT = 30  # seconds: only a bound for a hung test, never a synchronization


def repost(n: int) -> str:
    """The n-th re-post of one leak: its own header, footer, column order and row order."""
    return no_ids(f"dedalus base, mirror #{n}\n" + csv_dump(
        ROWS, header=f"== shared by @anon{n} ==", footer=f"-- mirror {n} --",
        order=tuple((i + n) % 5 for i in range(5)), shuffle=n))


LEAKS = {  # kind -> (first copy, second copy): what makes the second "the same leak"
    "exact": (repost(1), repost(1)),
    "near": (repost(1), repost(2)),
    "records": (csv_dump(ROWS) + "dedalus",
                "free sample dedalus\n" + "\n".join(f"{r[0]} lives in {r[3]}" for r in ROWS[5:35])),
}


@pytest.fixture
def target(store_location) -> str:
    """What every worker opens: one store shared by all of them (a SQLite file, or a fresh
    PostgreSQL database, where READ COMMITTED lets two transactions really overlap)."""
    Store.open(store_location).close()  # created and migrated once, as a deployment does
    return str(store_location)


def waits_for_a_lock(observer: Store) -> bool:
    """Whether some transaction of the test's database waits for a lock held by another.
    SQLite: a second writer can only wait in BEGIN IMMEDIATE, before its lookup."""
    if observer.dialect != "postgresql":
        return True
    return observer.query("SELECT COUNT(*) AS n FROM pg_stat_activity WHERE datname = "
                          "current_database() AND wait_event_type = 'Lock'")[0]["n"] > 0


def pipeline(store: Store, sink: FakeSink | None = None) -> Pipeline:
    return Pipeline(store, None, sinks=[sink or FakeSink()], scanner=scanner, dedup_key=KEY)


def outbox_events(store: Store) -> Counter:
    return Counter(r["event"] for r in store.query("SELECT event FROM outbox"))


def incident_of(store: Store, source: str, ext: str) -> int:
    return store.get_document(source, ext)["incident_id"]


def test_a_near_duplicate_stored_by_another_worker_joins_its_incident(target):
    """Worker B's near-duplicate index must see what worker A stored after B started."""
    with Store.open(target) as sa, Store.open(target) as sb:
        a, b = pipeline(sa), pipeline(sb)  # both running before either sees the leak
        ra = a.process_batch("tg", [doc(repost(1), source="tg", ext="1")], None)
        rb = b.process_batch("paste", [doc(repost(2), source="paste", ext="1",
                                          platform="pastebin",
                                          url="https://pastebin.com/AbC1")], None)
        assert (ra.new_incidents, rb.new_incidents) == (1, 0)
        assert incident_of(sa, "tg", "1") == incident_of(sa, "paste", "1")
        assert outbox_events(sa) == {"new": 1, "escalated": 1}  # B: seen on a new site
        [inc] = sa.list_incidents()
        assert inc.sightings == 2


class PausedBatch:
    """Runs worker A's batch in a thread and holds it just before its commit."""

    def __init__(self, store: Store) -> None:
        self.inside, self.release = threading.Event(), threading.Event()
        self.errors: list[BaseException] = []
        save_cursor = store.save_cursor

        def held(*args, **kwargs):  # the last write of the batch, inside its transaction
            save_cursor(*args, **kwargs)
            self.inside.set()
            if not self.release.wait(WAIT):
                raise TimeoutError("worker A was never released")

        store.save_cursor = held

    def run(self, fn) -> threading.Thread:
        def body():
            try:
                fn()
            except BaseException as e:  # reported by the test
                self.errors.append(e)
                self.inside.set()

        t = threading.Thread(target=body)
        t.start()
        return t


@pytest.mark.parametrize("kind", sorted(LEAKS))
def test_two_workers_racing_on_one_leak_make_one_incident_and_one_new_alert(target, kind):
    first, second = LEAKS[kind]
    with Store.open(target) as sa, Store.open(target) as sb, Store.open(target) as observer:
        a, b = pipeline(sa), pipeline(sb)
        paused = PausedBatch(sa)
        ta = paused.run(lambda: a.process_batch(
            "tg", [doc(first, source="tg", ext="1")], "c1"))
        assert paused.inside.wait(WAIT)
        results, errors = [], []
        started = threading.Event()

        def worker_b():
            started.set()
            try:
                results.append(b.process_batch("paste", [doc(
                    second, source="paste", ext="1", platform="pastebin",
                    url="https://pastebin.com/AbC1")], "c1"))
            except BaseException as e:  # reported below
                errors.append(e)

        tb = threading.Thread(target=worker_b)
        tb.start()
        assert started.wait(WAIT)
        # A holds its incident; let it commit only once B waits for it (or B is done: then
        # nothing made B wait, and B had to decide without A's incident)
        for _ in range(WAIT * 100):
            if not tb.is_alive() or waits_for_a_lock(observer):
                break
            tb.join(0.01)
        paused.release.set()
        ta.join(WAIT)
        tb.join(WAIT)
        assert not ta.is_alive() and not tb.is_alive()
        assert paused.errors == [] and errors == []
        [rb] = results
        assert rb.new_incidents == 0
        assert len(sa.list_incidents()) == 1
        assert incident_of(sa, "tg", "1") == incident_of(sa, "paste", "1")
        assert outbox_events(sa) == {"new": 1, "escalated": 1}


def _worker(target: str, n: int, barrier, out) -> None:
    """One `leakmon run` worker process: its own connection, pipeline and index."""
    try:
        with Store.open(target) as store:
            p = pipeline(store)
            barrier.wait(WAIT)
            r = p.process_batch(f"chan{n}", [doc(repost(n % 4), source=f"chan{n}", ext="1",
                                                 platform="telegram" if n % 2 else "pastebin",
                                                 url=f"https://site{n % 3}.example/{n}")],
                                "c")
            out.put((n, r.new_incidents, None))
    except BaseException as e:  # the parent asserts on it
        out.put((n, None, repr(e)))


def test_seven_workers_seven_reposts_one_incident(target):
    """Seven worker processes see seven re-posts of one leak at the same moment."""
    ctx = multiprocessing.get_context("fork")
    barrier, out = ctx.Barrier(7), ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(target, n, barrier, out)) for n in range(7)]
    for p in procs:
        p.start()
    got = sorted(out.get(timeout=WAIT * 2) for _ in procs)
    for p in procs:
        p.join(WAIT)
    assert [e for _, _, e in got] == [None] * 7
    assert sum(n for _, n, _ in got) == 1
    with Store.open(target) as store:
        [inc] = store.list_incidents()
        assert inc.sightings == 7
        assert outbox_events(store)["new"] == 1


def test_shared_index_finds_the_candidates_datasketch_found(target):
    """Same banding as the per-process MinHashLSH it replaces: same candidates, same results."""
    from datasketch import MinHashLSH

    from monitor.alerting import dedup

    texts = [repost(n) for n in range(6)] + [
        no_ids(csv_dump(patient_rows(ids(30, start=20000 + 100 * n), seed=n))) for n in range(6)]
    fps = [dedup.fingerprint(t.encode(), key=KEY) for t in texts]
    lsh = MinHashLSH(threshold=dedup.LSH_THRESHOLD, num_perm=dedup.NUM_PERM)
    with Store.open(target) as store:
        inc = store.create_incident(
            dedup_key="c:1", title="t", rule_id="r", rule_title="t", severity="low",
            confidence=0.5, seen_at=T0, canary=False, tags=[], excerpt="")
        index = dedup.NearDuplicateIndex(store)
        with store.transaction():
            for i, fp in enumerate(fps[::2]):
                doc_id = store.save_document(doc(f"x{i}", source="s", ext=str(i)),
                                             sha256=f"{i:064x}", excerpt=None)
                index.add(doc_id, inc, fp.minhash)
                lsh.insert(doc_id, fp.minhash)
        found = [{r.document_id for r in store.minhash_candidates(fp.bands)}
                 for fp in fps]
        assert found == [set(lsh.query(fp.minhash)) for fp in fps]
        assert max(map(len, found)) > 1 and min(map(len, found)) == 0
        assert len(index) == len(fps[::2])


def test_an_upgraded_store_keeps_its_near_duplicate_history(target):
    with Store.open(target) as s:
        pipeline(s).process_batch("tg", [doc(repost(1), source="tg", ext="1")], None)
        with s.transaction():  # back to a store of version 4: signatures, no bands
            s.db.execute("DROP TABLE lsh_bands")
            s.db.execute("DELETE FROM schema_version WHERE version = 5")
    with Store.open(target) as s:
        assert s.schema_version() == 5
        assert s.query("SELECT COUNT(*) AS n FROM lsh_bands")[0]["n"] > 0
        r = pipeline(s).process_batch("paste", [doc(repost(2), source="paste", ext="1")], None)
        assert r.new_incidents == 0 and len(s.list_incidents()) == 1


def test_open_incident_is_insert_or_get_and_only_the_creator_is_told_it_is_new(target):
    fields = dict(dedup_key="c:k1", title="t", rule_id="r", rule_title="t", severity="low",
                  confidence=0.5, seen_at=T0, canary=False, tags=[], excerpt="")
    with Store.open(target) as sa, Store.open(target) as sb:
        first, created = sa.open_incident(**fields)
        assert created
        assert sb.open_incident(**{**fields, "title": "other"}) == (first, False)
        assert sb.get_incident(first).title == "t"  # the winner's row is left alone
        assert len(sb.list_incidents()) == 1


def test_incident_locks_are_taken_inside_the_write_transaction_only(target):
    from monitor.errors import StoreError

    with Store.open(target) as store:
        with pytest.raises(StoreError, match="inside the batch's write transaction"):
            store.lock_incident_keys([1, 2])
        with store.transaction():
            store.lock_incident_keys([1, 2])


def test_a_batch_with_too_many_keys_locks_out_every_other_batch_on_postgresql(pg_databases,
                                                                               monkeypatch):
    """Past MAX_INCIDENT_LOCKS keys a batch takes the one global lock exclusively (the server's
    lock table is finite), and that still keeps every other find-or-create out."""
    from monitor.store import incidents as store_incidents

    monkeypatch.setattr(store_incidents, "MAX_INCIDENT_LOCKS", 3)
    url = pg_databases.create()
    try:
        with Store.open(url) as big, Store.open(url) as small, Store.open(url) as observer:
            done = threading.Event()
            with big.transaction():
                big.lock_incident_keys(range(10))
                [row] = observer.query(
                    "SELECT COUNT(*) AS n, MIN(mode) AS mode FROM pg_locks "
                    "WHERE locktype = 'advisory' AND granted")
                assert (row["n"], row["mode"]) == (1, "ExclusiveLock")  # one lock, not ten

                def other():
                    with small.transaction():
                        small.lock_incident_keys([42])  # a key the big batch does not hold
                    done.set()

                t = threading.Thread(target=other)
                t.start()
                for _ in range(WAIT * 100):
                    if waits_for_a_lock(observer) or done.is_set():
                        break
                    t.join(0.01)
                assert not done.is_set() and waits_for_a_lock(observer)
            t.join(WAIT)
            assert done.is_set()
    finally:
        pg_databases.drop(url)
