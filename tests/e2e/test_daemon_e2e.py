"""End to end: `leakmon run` as a subprocess against loopback servers.

One scenario, in order: planted leaks alert once each; a re-post elsewhere is a sighting, not
a second alert; SIGHUP with a broken rule file keeps the old rules; SIGTERM in the middle of a
run, then a restart, loses and repeats nothing; two `once` passes in parallel do not overlap.
"""

from __future__ import annotations

import os
import random
import re
import signal
import socket
import string
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from monitor.store import Store
from tests.support.sinks import WebhookReceiver
from tests.support.world import PasteFeed, TelegramPreview

pytestmark = pytest.mark.slow

GOOD_RULES = """\
[[rules]]
id = "org.leak"
title = "Dedalus Biologie data posted"
severity = "high"
keywords = ["Dedalus Biologie"]

[[rules.tests]]
text = "fuite base Dedalus Biologie lot 3"
match = true
"""
BROKEN_RULES = GOOD_RULES.replace('[[rules]]\nid = "org.leak"', '[[rules]\nid = "org.leak"')
TIMEOUT = 30.0


def leak(label: str, seed: int) -> tuple[str, list[str]]:
    """A dump naming the organization, with fake e-mail rows unique to this leak."""
    rnd = random.Random(seed)
    emails = []
    rows = []
    for _ in range(25):
        user = "".join(rnd.choices(string.ascii_lowercase, k=9))
        email = f"{user}@patients-{label.lower()}.example"
        emails.append(email)
        rows.append(f"{user.title()};{rnd.randint(10**8, 10**9)};{email}")
    text = f"fuite base Dedalus Biologie lot {label}\nnom;id;email\n" + "\n".join(rows) + "\n"
    return text, emails


def noise(seed: int) -> str:
    rnd = random.Random(seed)
    return " ".join("".join(rnd.choices(string.ascii_lowercase, k=6)) for _ in range(30))


class Daemon:
    """A `leakmon run` subprocess whose stderr is collected line by line."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "monitor", *args], env=env, cwd=cwd,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)

    @property
    def log(self) -> str:
        return "".join(self.lines)

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(TIMEOUT)
        self._reader.join(5)
        return rc


def wait_until(predicate, what: str, timeout: float = TIMEOUT, daemon: Daemon | None = None):
    deadline = time.monotonic() + timeout
    while not predicate():
        if daemon is not None and daemon.proc.poll() is not None:
            raise AssertionError(f"daemon exited ({daemon.proc.returncode}) waiting for {what}:"
                                 f"\n{daemon.log[-3000:]}")
        if time.monotonic() > deadline:
            tail = daemon.log[-3000:] if daemon else ""
            raise AssertionError(f"timed out waiting for {what}\n{tail}")
        time.sleep(0.05)


def doc_incident(state: Path, source: str, external_id: str) -> int | None:
    with Store.open(state) as store:
        rows = store.query("SELECT incident_id FROM documents WHERE source = ? AND "
                           "external_id = ?", (source, external_id))
    return rows[0]["incident_id"] if rows else None


def incident_sightings(state: Path, incident_id: int) -> int:
    with Store.open(state) as store:
        return store.get_incident(incident_id).sightings


def documents(state: Path) -> Counter:
    with Store.open(state) as store:
        rows = store.query("SELECT source, external_id FROM documents")
    return Counter((r["source"], r["external_id"]) for r in rows)


@pytest.fixture
def world(tmp_path):
    feed, tme, hook = PasteFeed(), TelegramPreview(), WebhookReceiver("e2e-secret").start()
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "org.toml").write_text(GOOD_RULES)
    config = tmp_path / "config.toml"
    config.write_text(f"""\
state_dir = "state"
rules = ["rules"]

[daemon]
outbox_every = "1s"
shutdown_timeout = "20s"

[[sources]]
name = "paste"
type = "pastebin"
base_url = "{feed.base}"
every = "1s"
batch_size = 2

[[sources]]
name = "tg-a"
type = "telegram_web"
base_url = "{tme.base}"
channel = "leaksa"
every = "1s"

[[sources]]
name = "tg-b"
type = "telegram_web"
base_url = "{tme.base}"
channel = "leaksb"
every = "1s"

[[sinks]]
name = "soc"
type = "webhook"
url = "{hook.base}/hook"
secret = "env:E2E_WEBHOOK_SECRET"
""")
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify.sock"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEAKMON_", "NOTIFY_"))}
    env.update(E2E_WEBHOOK_SECRET=hook.secret.decode(), NOTIFY_SOCKET=str(tmp_path / "notify.sock"),
               PYTHONUNBUFFERED="1")
    yield tmp_path, config, env, feed, tme, hook, notify
    notify.close()
    for server in (feed, tme, hook):
        server.stop()


def notify_until(sock: socket.socket, key: str, daemon: Daemon) -> list[str]:
    """sd_notify messages received until one carries `key` (the daemon must stay alive)."""
    seen: list[str] = []
    sock.settimeout(0.2)
    deadline = time.monotonic() + TIMEOUT
    while not any(line.startswith(f"{key}=") for m in seen for line in m.splitlines()):
        if daemon.proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"no {key}= from the daemon:\n{daemon.log[-3000:]}")
        try:
            seen.append(sock.recv(4096).decode())
        except TimeoutError:
            continue
    return seen


def drain(sock: socket.socket) -> str:
    sock.setblocking(False)
    out = []
    while True:
        try:
            out.append(sock.recv(4096).decode())
        except BlockingIOError:
            return "\n".join(out)


def test_daemon_end_to_end(world):
    tmp, config, env, feed, tme, hook, notify = world
    state = tmp / "state"
    run = ["--config", str(config), "--log-level", "debug", "run"]

    leak_a, emails_a = leak("A", 1)
    leak_b, emails_b = leak("B", 2)
    feed.add("PASTEaaa", leak_a, "db dump")
    feed.add("PASTEnz1", noise(10))
    tme.post_message("leaksa", leak_b)
    tme.post_message("leaksa", noise(11))

    # -- 1. planted leaks: one alert each ----------------------------------------------------
    d = Daemon(run, env, tmp)
    assert any("READY=1" in m for m in notify_until(notify, "READY", d))
    wait_until(lambda: len(hook.alerts()) >= 2, "the two planted leaks to alert", daemon=d)
    inc_a = doc_incident(state, "paste", "PASTEaaa")
    inc_b = doc_incident(state, "tg-a", "1")
    assert inc_a and inc_b and inc_a != inc_b
    assert doc_incident(state, "paste", "PASTEnz1") is None
    assert all(r.signature_ok for r in hook.requests)

    # -- 2. re-post of leak B on another channel: a sighting, no second alert -----------------
    tme.post_message("leaksb", leak_b)
    wait_until(lambda: doc_incident(state, "tg-b", "1") is not None, "the re-post", daemon=d)
    assert doc_incident(state, "tg-b", "1") == inc_b
    assert incident_sightings(state, inc_b) == 2
    with Store.open(state) as store:  # enqueued in the sighting's transaction, or never
        assert [r["event"] for r in store.outbox_rows(incident_id=inc_b)] == ["new"]

    # -- 3. SIGHUP with a broken rule file keeps the old rules ---------------------------------
    (tmp / "rules" / "org.toml").write_text(BROKEN_RULES)
    d.signal(signal.SIGHUP)
    assert notify_until(notify, "RELOADING", d)
    wait_until(lambda: "reload rejected" in d.log, "the reload to be rejected", daemon=d)
    assert any("reload FAILED" in m for m in notify_until(notify, "READY", d))
    assert "org.toml:1" in d.log  # names the file and the line
    leak_c, emails_c = leak("C", 3)
    tme.post_message("leaksa", leak_c)
    wait_until(lambda: len(hook.alerts()) >= 3, "leak C to alert with the old rules", daemon=d)
    (tmp / "rules" / "org.toml").write_text(GOOD_RULES)
    d.signal(signal.SIGHUP)
    wait_until(lambda: "reload done" in d.log, "the fixed rules to reload", daemon=d)

    # -- 4. SIGTERM in the middle of a run -----------------------------------------------------
    leak_d, emails_d = leak("D", 4)
    leak_e, emails_e = leak("E", 5)
    batch = [("PASTEnz2", noise(12)), ("PASTEddd", leak_d), ("PASTEnz3", noise(13)),
             ("PASTEnz4", noise(14)), ("PASTEnz5", noise(15)), ("PASTEeee", leak_e),
             ("PASTEnz6", noise(16)), ("PASTEnz7", noise(17))]
    feed.item_delay = 0.15
    for key, body in batch:
        feed.add(key, body)
    wait_until(lambda: sum(feed.item_fetches[k] for k, _ in batch) >= 3,
               "the daemon to be in the middle of the new pastes", daemon=d)
    assert d.stop() == 0
    assert "finishing in-flight batches" in d.log
    assert "source paste: stopping after batch" in d.log  # it really was mid-run
    first_log = d.log
    assert "STOPPING=1" in drain(notify)
    feed.item_delay = 0.0

    d = Daemon(run, env, tmp)
    wait_until(lambda: all(("paste", k) in documents(state) for k, _ in batch),
               "every paste to be stored after the restart", daemon=d)
    wait_until(lambda: len(hook.alerts()) >= 5, "leaks D and E to alert", daemon=d)
    time.sleep(1.5)  # two more outbox cycles: a duplicate would show up here
    assert d.stop() == 0

    docs = documents(state)
    assert max(docs.values()) == 1  # no document recorded twice
    # ... nor scanned and recorded twice: the runs' own counts add up to exactly the pastes
    recorded = sum(int(m) for m in re.findall(r"source paste: run \w+: \d+ items, (\d+) documents",
                                              first_log + d.log))
    assert recorded == len(batch) + 2
    for key, _ in [*batch, ("PASTEaaa", ""), ("PASTEnz1", "")]:
        assert docs[("paste", key)] == 1, key  # and none lost
    alerts = hook.alerts()
    keys = [r.key for r in alerts]
    assert len(keys) == len(set(keys)) == 5, keys  # no alert duplicated
    incidents = {r.notification["incident_id"] for r in alerts}
    expected = {inc_a, inc_b, doc_incident(state, "tg-a", "3"),
                doc_incident(state, "paste", "PASTEddd"), doc_incident(state, "paste", "PASTEeee")}
    assert incidents == expected and None not in expected  # no alert lost
    assert {r.event for r in alerts} == {"new"}

    # the monitor never logs what it protects
    logs = first_log + d.log
    for email in emails_a + emails_b + emails_c + emails_d + emails_e:
        assert email not in logs

    # -- 5. `once` twice in parallel -----------------------------------------------------------
    feed.item_delay = 0.3
    for i in range(4):
        feed.add(f"PASTEonce{i}", noise(100 + i))
    before = sum(feed.item_fetches.values())
    # --source: run it even if not due; the daemon may have polled it less than `every` ago,
    # and a plain `once` would then rightly skip it (and the race under test not happen).
    once = [sys.executable, "-m", "monitor", "--config", str(config), "once", "--source", "paste"]
    first = subprocess.Popen(once, env=env, cwd=tmp, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    wait_until(lambda: sum(feed.item_fetches.values()) > before, "the first pass to work")
    second = subprocess.run(once, env=env, cwd=tmp, capture_output=True, text=True,
                            timeout=TIMEOUT)
    assert second.returncode == 75, second.stderr
    assert "holds" in second.stderr and "leakmon.lock" in second.stderr
    third = subprocess.run([*once, "--wait", "30"], env=env, cwd=tmp, capture_output=True,
                           text=True, timeout=TIMEOUT)
    out, err = first.communicate(timeout=TIMEOUT)
    assert first.returncode == 0, err
    assert third.returncode == 0, third.stderr
    assert "paste: ok" in out
    assert all(feed.item_fetches[f"PASTEonce{i}"] == 1 for i in range(4))  # no overlap
