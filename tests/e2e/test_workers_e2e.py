"""Three `leakmon run` workers on one store, 50 sources, one worker killed with SIGKILL in the
middle of a batch: the two others take its sources over once its leases expire, resume from
the committed cursors, and in the end every paste is stored once, every planted leak is one
incident, and the webhook got each alert exactly once.

The sources are Pastebin scraping APIs served on loopback (one feed per source); one paste is a
trap whose fetch blocks, so the worker holding that source is caught half-way through a batch.
Every wait is on observable state (requests the server saw, rows in the store).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import threading
from collections import Counter
from pathlib import Path

import pytest

from monitor.store import Store
from tests.support.sinks import WebhookReceiver
from tests.support.world import PasteFeed

from .test_daemon_e2e import GOOD_RULES, Daemon, leak, noise, wait_until

pytestmark = pytest.mark.slow

SOURCES = 50
PASTES = 6  # per source, committed two per batch
LEASE_TTL = 4.0
TRAP_SOURCE, TRAP_KEY = 25, "s25p04"  # the first paste of the source's third batch
LEAKS = {3: 1, 11: 4, 17: 0, 25: 5, 31: 2, 38: 3, 44: 5, 49: 1}  # source -> paste with a leak
TIMEOUT = 120.0


def key(source: int, paste: int) -> str:
    return f"s{source:02d}p{paste:02d}"


class Feeds(PasteFeed):
    """One Pastebin scraping API per source, at `/f/<n>/`; the trap paste's fetch blocks
    until `release` is set."""

    def __init__(self) -> None:
        self.feeds: dict[str, list[dict]] = {}
        self.trap_hit = threading.Event()
        self.release = threading.Event()
        super().__init__()

    def add_to(self, source: int, paste_key: str, body: str) -> None:
        self.add(paste_key, body)
        with self.lock:
            self.feeds.setdefault(f"{source:02d}", []).append(self.pastes.pop())

    def get(self, path, query):
        m = re.match(r"^/f/(\d+)/api_scraping\.php$", path)
        if m:
            with self.lock:
                items = sorted(self.feeds.get(m.group(1), []), key=lambda p: -int(p["date"]))
            return 200, "application/json", json.dumps(items).encode()
        trapped = path.endswith("/api_scrape_item.php") and query.get("i") == [TRAP_KEY]
        if trapped and not self.release.is_set():
            self.trap_hit.set()
            self.release.wait(TIMEOUT)
        return super().get(path, query)


def config_text(feeds: Feeds, hook: WebhookReceiver, postgresql: bool) -> str:
    head = 'rules = ["rules"]\n' + ('[store]\nurl = "env:E2E_STORE_URL"\n' if postgresql else "")
    head += f"""\

[daemon]
outbox_every = "1s"
shutdown_timeout = "20s"
lease_ttl = "{LEASE_TTL:g}s"
lease_renew = "0.5s"

[[sinks]]
name = "soc"
type = "webhook"
url = "{hook.base}/hook"
secret = "env:E2E_WEBHOOK_SECRET"
"""
    srcs = "".join(f"""
[[sources]]
name = "paste{n:02d}"
type = "pastebin"
base_url = "{feeds.base}/f/{n:02d}"
every = "1s"
batch_size = 2
item_interval = 0
""" for n in range(SOURCES))
    return head + srcs


@pytest.fixture(params=["sqlite", "postgresql"])
def shared(request, tmp_path):
    """Where the workers' one store lives: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        folder = tmp_path / "shared"
        folder.mkdir(mode=0o700)
        with Store.open(folder):
            pass
        yield folder
        return
    dbs = request.getfixturevalue("pg_databases")
    url = dbs.create()
    yield url
    dbs.drop(url)


@pytest.fixture
def world(tmp_path, shared):
    feeds, hook = Feeds(), WebhookReceiver("e2e-secret").start()
    bodies: dict[str, str] = {}
    for n in range(SOURCES):
        for p in range(PASTES):
            k = key(n, p)
            bodies[k] = leak(k, n * 100 + p)[0] if LEAKS.get(n) == p else noise(n * 100 + p)
            feeds.add_to(n, k, bodies[k])
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "org.toml").write_text(GOOD_RULES)
    config = tmp_path / "config.toml"
    config.write_text(config_text(feeds, hook, not isinstance(shared, Path)))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEAKMON_", "NOTIFY_"))}
    env.update(E2E_WEBHOOK_SECRET=hook.secret.decode(), PYTHONUNBUFFERED="1",
               LEAKMON_FINGERPRINT_KEY=secrets.token_hex(32))  # one key: one dedup across workers
    if not isinstance(shared, Path):
        env["E2E_STORE_URL"] = shared  # the test cluster's URL carries its password
    yield tmp_path, config, env, feeds, hook
    feeds.release.set()
    feeds.stop()
    hook.stop()


def state_dirs(tmp: Path, shared: Path | str) -> list[Path]:
    """Three state directories (lock, status file, session); on SQLite their `leakmon.db`
    is one shared file (SQLite follows the link: one WAL), on PostgreSQL `[store] url`."""
    states = []
    for i in range(3):
        state = tmp / f"state{i}"
        state.mkdir(mode=0o700)
        if isinstance(shared, Path):
            (state / "leakmon.db").symlink_to(shared / "leakmon.db")
        states.append(state)
    return states


def rows(shared: Path | str, sql: str, params: tuple = ()) -> list[dict]:
    with Store.open(shared) as store:
        return store.query(sql, params)


def test_three_workers_one_killed_mid_batch_lose_and_repeat_nothing(world, shared):
    tmp, config, env, feeds, hook = world
    states = state_dirs(tmp, shared)
    total = SOURCES * PASTES
    workers = [Daemon(["--config", str(config), "--state-dir", str(s), "--log-level", "debug",
                       "run"], env, tmp) for s in states]
    try:
        # -- the trap: some worker is now half-way through a batch of paste25 -----------------
        for w in workers:  # all alive and one of them half-way through paste25's 3rd batch
            wait_until(lambda: feeds.trap_hit.is_set() or any(
                x.proc.poll() is not None for x in workers), "the trap paste", TIMEOUT, w)
        dead = [w.log[-3000:] for w in workers if w.proc.poll() is not None]
        assert not dead, "\n".join(dead)
        [holder] = rows(shared, "SELECT w.id, w.pid FROM source_leases l JOIN workers w "
                                "ON w.id = l.worker WHERE l.source = ?",
                        (f"paste{TRAP_SOURCE:02d}",))
        victim = next(w for w in workers if w.proc.pid == holder["pid"])
        survivors = [w for w in workers if w is not victim]
        # Kill it between two deliveries, never inside one: a SIGKILL after a sink took an alert
        # but before it was marked sent would resend it (delivery is at-least-once by design).
        while True:
            victim.proc.send_signal(signal.SIGSTOP)
            claimed = rows(shared, "SELECT id FROM outbox WHERE status = 'pending' AND "
                                   "leased_by = ?", (holder["id"],))
            if not claimed:
                break
            victim.proc.send_signal(signal.SIGCONT)
            ids = tuple(r["id"] for r in claimed)
            wait_until(lambda ids=ids: not rows(
                shared, f"SELECT id FROM outbox WHERE status = 'pending' AND leased_by = ? AND "
                        f"id IN ({','.join('?' * len(ids))})", (holder["id"], *ids)),
                "the victim's claimed alerts to be delivered", TIMEOUT, victim)
        victim.proc.kill()
        victim.proc.wait(TIMEOUT)
        held = {r["source"]: r["expires_at"] for r in rows(
            shared, "SELECT source, expires_at FROM source_leases WHERE worker = ?",
            (holder["id"],))}
        assert f"paste{TRAP_SOURCE:02d}" in held
        feeds.release.set()  # the trap paste is served normally from now on

        # -- the others take its sources over, after its leases expire -----------------------
        def taken_over() -> bool:
            now = rows(shared, "SELECT source, worker FROM source_leases")
            return all(r["worker"] not in (None, holder["id"]) for r in now)

        wait_until(taken_over, "the survivors to lease every source", TIMEOUT, survivors[0])
        leases = {r["source"]: r for r in rows(shared, "SELECT * FROM source_leases")}
        for source, expired in held.items():
            taker = leases[source]
            assert taker["acquired_at"] >= expired, source  # not a moment before the expiry
            delay = (_t(taker["acquired_at"]) - _t(expired))
            assert delay < LEASE_TTL, (source, delay)
            print("DIAG delay", source, delay)  # DIAG  # and within one more lease time

        def done() -> bool:
            n = rows(shared, "SELECT COUNT(*) AS n FROM documents")[0]["n"]
            pending = rows(shared, "SELECT COUNT(*) AS n FROM outbox WHERE status != 'sent'")
            return n == total and pending[0]["n"] == 0 and len(hook.alerts()) >= len(LEAKS)

        wait_until(done, "every paste stored and every alert delivered", TIMEOUT, survivors[0])
        for w in survivors:
            assert w.stop() == 0
    finally:
        feeds.release.set()
        for w in workers:
            if w.proc.poll() is None:
                w.proc.kill()
                w.proc.wait(TIMEOUT)

    # -- nothing lost, nothing stored twice ---------------------------------------------------
    docs = rows(shared, "SELECT source, external_id, versions FROM documents")
    stored = Counter((r["source"], r["external_id"]) for r in docs)
    assert stored == Counter({(f"paste{n:02d}", key(n, p)): 1
                              for n in range(SOURCES) for p in range(PASTES)})
    assert {r["versions"] for r in docs} == {1}
    committed = Counter()
    for w in workers:
        for source, n in re.findall(r"source (\S+): batch committed: (\d+) documents", w.log):
            committed[source] += int(n)
    # never recorded twice (the killed worker may have committed a batch it had no time to log)
    assert max(committed.values()) <= PASTES, committed
    trap_batch = f'source paste{TRAP_SOURCE:02d}: batch committed: 2 documents, 1 hits'
    assert trap_batch not in victim.log  # killed half-way through that batch ...
    assert sum(w.log.count(trap_batch) for w in survivors) == 1  # ... and redone once
    for n in range(SOURCES):
        [state] = rows(shared, "SELECT cursor FROM source_state WHERE name = ?",
                       (f"paste{n:02d}",))
        assert json.loads(state["cursor"])["keys"] == [key(n, PASTES - 1)]

    # -- one incident per planted leak, each alerted exactly once -----------------------------
    incidents = rows(shared, "SELECT i.id, d.external_id FROM incidents i "
                             "JOIN documents d ON d.incident_id = i.id")
    assert sorted(r["external_id"] for r in incidents) == sorted(
        key(n, p) for n, p in LEAKS.items())
    alerts = hook.alerts()
    keys = Counter(a.key for a in alerts)
    assert len(keys) == len(LEAKS) and set(keys.values()) == {1}, keys
    assert {a.notification["incident_id"] for a in alerts} == {r["id"] for r in incidents}
    assert all(a.signature_ok for a in alerts)
    workers_rows = rows(shared, "SELECT id, stopped_at FROM workers")
    assert len(workers_rows) == 3
    assert sum(r["stopped_at"] is None for r in workers_rows) == 1  # only the killed one


def _t(value: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(value).timestamp()
