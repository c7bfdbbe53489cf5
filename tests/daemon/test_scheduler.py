from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
from datetime import UTC, datetime, timedelta

from monitor.daemon.runtime import ReloadError
from monitor.daemon.scheduler import source_job_id
from monitor.daemon.systemd import SystemdNotifier
from monitor.store import Store
from monitor.web.server import start_console

from ._helpers import (
    Deliveries,
    ScriptedCollector,
    cursor_of,
    make_daemon,
    make_runtime,
    stored_ids,
    wait_for,
)


def test_slow_source_never_blocks_another_and_never_runs_twice(tmp_path):
    runtime = make_runtime([
        {"name": "slow", "type": "test", "every": 0.1},
        {"name": "fast", "type": "test", "every": 0.1},
    ], daemon={"outbox_every": "1h", "shutdown_timeout": "0.5s"})
    slow = ScriptedCollector("slow", script=["hang"])
    fast = ScriptedCollector("fast")

    async def main() -> int:
        d = make_daemon(tmp_path, runtime, {"slow": slow, "fast": fast})
        task = asyncio.create_task(d.run())
        await wait_for(lambda: fast.runs >= 4)
        assert slow.runs == 1 and slow.active == 1  # still in its first run
        d.request_stop()
        return await task

    assert asyncio.run(main()) == 0
    assert slow.max_active == 1  # max_instances=1: never two runs of one source at once
    assert fast.max_active == 1
    ids = stored_ids(tmp_path, "fast")
    assert ids == list(range(1, len(ids) + 1)) and len(ids) >= 8
    assert stored_ids(tmp_path, "slow") == []
    assert slow.closed and fast.closed


def test_sigterm_lets_the_batch_in_hand_commit_and_restart_resumes(tmp_path):
    runtime = make_runtime([{"name": "chan", "type": "test", "every": "1h"}])
    gate = asyncio.Event()
    first = ScriptedCollector("chan", batches=3, script=[("gate", gate)])

    async def run1() -> int:
        d = make_daemon(tmp_path, runtime, {"chan": first})
        task = asyncio.create_task(d.run())
        await wait_for(lambda: first.at_gate)  # batch 1 committed, batch 2 being collected
        assert cursor_of(tmp_path, "chan") == 2
        d.request_stop()  # as SIGTERM does
        gate.set()  # the collector now hands over batch 2, which must still commit
        return await task

    assert asyncio.run(run1()) == 0
    assert stored_ids(tmp_path, "chan") == [1, 2, 3, 4]
    assert cursor_of(tmp_path, "chan") == 4  # batch 3 was never started

    # The source is due every 0.1 s: its second run hangs (and is cancelled at shutdown), so the
    # first run's cursor is the final one instead of a value a slow poll could step over.
    second = ScriptedCollector("chan", batches=1, script=["ok", "hang"])
    due_now = make_runtime([{"name": "chan", "type": "test", "every": 0.1}],
                           daemon={"outbox_every": "1h", "shutdown_timeout": "0.5s"})

    async def run2() -> int:
        d = make_daemon(tmp_path, due_now, {"chan": second})
        task = asyncio.create_task(d.run())
        await wait_for(lambda: "chan" in d.last_results)  # the resumed run has finished
        d.request_stop()
        return await task

    assert asyncio.run(run2()) == 0
    assert cursor_of(tmp_path, "chan") == 6
    assert stored_ids(tmp_path, "chan") == [1, 2, 3, 4, 5, 6]  # nothing lost, nothing twice


def test_flood_wait_defers_only_that_source(tmp_path):
    runtime = make_runtime([
        {"name": "tg", "type": "test", "every": 0.1},
        {"name": "other", "type": "test", "every": 0.1},
    ])
    tg = ScriptedCollector("tg", script=[("defer", 3600)])
    other = ScriptedCollector("other")

    async def main() -> datetime:
        d = make_daemon(tmp_path, runtime, {"tg": tg, "other": other})
        task = asyncio.create_task(d.run())
        await wait_for(lambda: tg.runs == 1 and "tg" in d.last_results and other.runs >= 3)
        job = d.scheduler.get_job(source_job_id("tg"))
        nrt = job.next_run_time
        d.request_stop()
        assert await task == 0
        return nrt

    next_run = asyncio.run(main())
    assert next_run >= datetime.now(UTC) + timedelta(seconds=3500)
    assert tg.runs == 1
    with Store.open(tmp_path) as store:
        assert store.get_source_state("tg").consecutive_failures == 0


class Sink:
    def __init__(self, name: str) -> None:
        self.name = name
        self.closed = False

    def accepts(self, n) -> bool:
        return True

    def close(self) -> None:
        self.closed = True


def test_failures_raise_one_operator_alert_and_delivery_uses_current_sinks(tmp_path):
    sink = Sink("soc")
    runtime = make_runtime([{"name": "bad", "type": "test", "every": 0.05,
                             "alert_after_failures": 2}],
                           sinks=[sink], daemon={"outbox_every": "0.05s"})
    bad = ScriptedCollector("bad", script=["fail"] * 1000)
    deliveries = Deliveries()

    async def main() -> None:
        d = make_daemon(tmp_path, runtime, {"bad": bad}, deliver=deliveries)
        task = asyncio.create_task(d.run())
        await wait_for(lambda: bad.runs >= 5 and len(deliveries.calls) >= 2)
        d.request_stop()
        assert await task == 0
        assert not d.last_results["bad"].ok

    asyncio.run(main())
    with Store.open(tmp_path) as store:
        rows = [r for r in store.outbox_rows() if r["event"] == "operator"]
        assert store.get_source_state("bad").consecutive_failures >= 5
    assert len(rows) == 1 and rows[0]["sink"] == "soc"
    assert deliveries.calls[0] == ["soc"]
    assert sink.closed


def _rx(tmp_path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify.sock"))
    sock.setblocking(False)
    return sock


def _drain(sock) -> list[str]:
    out = []
    while True:
        try:
            out.append(sock.recv(4096).decode())
        except BlockingIOError:
            return out


def test_reload_swaps_only_a_valid_set_and_tells_systemd(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    old = make_runtime([{"name": "a", "type": "test", "every": "1h"}])
    new = make_runtime([{"name": "b", "type": "test", "every": "1h"}])
    collectors = {"a": ScriptedCollector("a"), "b": ScriptedCollector("b")}
    answers: list = [ReloadError("1 problem(s) in the rule files",
                                 ["rules/bad.toml:7: rule org.x: bad regex"]), new]

    def loader(path, state_dir, *, strict):
        assert strict
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    rx = _rx(tmp_path)
    notifier = SystemdNotifier({"NOTIFY_SOCKET": str(tmp_path / "notify.sock")})

    async def main() -> None:
        d = make_daemon(tmp_path, old, collectors, loader=loader, notifier=notifier)
        task = asyncio.create_task(d.run())
        await wait_for(lambda: collectors["a"].runs == 1 and not d.running)
        assert await d.reload() is False
        assert d.runtime is old and d.scheduler.get_job("source:a") is not None
        assert await d.reload() is True
        assert d.runtime is new and d.host.runtime is new
        assert d.scheduler.get_job("source:a") is None
        assert d.scheduler.get_job("source:b") is not None
        assert collectors["a"].closed
        await wait_for(lambda: collectors["b"].runs == 1)
        d.request_stop()
        assert await task == 0

    asyncio.run(main())
    assert "rules/bad.toml:7: rule org.x: bad regex" in caplog.text
    assert "still running the previous configuration" in caplog.text
    messages = _drain(rx)
    rx.close()
    kinds = [m.splitlines()[0].split("=")[0] for m in messages]
    assert kinds[0] == "READY"
    assert kinds.count("RELOADING") == 2
    assert "reload FAILED" in next(m for m in messages if "FAILED" in m)
    assert kinds[-1] == "STOPPING"


def test_status_file_names_next_runs(tmp_path):
    runtime = make_runtime([{"name": "a", "type": "test", "every": "1h"}])
    a = ScriptedCollector("a")

    async def main() -> dict:
        d = make_daemon(tmp_path, runtime, {"a": a})
        task = asyncio.create_task(d.run())
        await wait_for(lambda: a.runs == 1 and not d.running)
        await asyncio.sleep(0.05)
        data = json.loads((tmp_path / "daemon.json").read_text())
        d.request_stop()
        await task
        return data

    data = asyncio.run(main())
    nrt = datetime.fromisoformat(data["sources"]["a"]["next_run"])
    assert nrt > datetime.now(UTC) + timedelta(minutes=50)
    assert json.loads((tmp_path / "daemon.json").read_text())["stopped"] is True


def test_watchdog_pings_while_healthy_and_not_when_a_worker_is_stuck(tmp_path):
    runtime = make_runtime([])
    rx = _rx(tmp_path)
    notifier = SystemdNotifier({"NOTIFY_SOCKET": str(tmp_path / "notify.sock"),
                                "WATCHDOG_USEC": "40000"})
    messages: list[str] = []

    async def main() -> None:
        d = make_daemon(tmp_path, runtime, {}, notifier=notifier)
        task = asyncio.create_task(d.run())
        await wait_for(lambda: messages.extend(_drain(rx)) or
                       sum("WATCHDOG=1" in m for m in messages) >= 3)
        assert d.healthy()
        d.stall_after = 0.05
        release = threading.Event()
        stuck = asyncio.ensure_future(d.pipeline_thread.call(lambda store: release.wait(10)))
        await wait_for(lambda: d.pipeline_thread.busy_for() > 0.1)
        assert not d.healthy()
        release.set()
        await stuck
        assert d.healthy()
        d.request_stop()
        assert await task == 0

    asyncio.run(main())
    rx.close()
    assert any(m.startswith("STATUS=") for m in messages)


def test_metrics_endpoint_and_prune_job(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    runtime = make_runtime([{"name": "a", "type": "test", "every": "1h"}],
                           daemon={"metrics_listen": "127.0.0.1:0", "prune_every": "0.05s",
                                   "outbox_every": "1h"})
    a = ScriptedCollector("a", content=lambda i: b"LEAK %d" % i)

    async def main() -> str:
        d = make_daemon(tmp_path, runtime, {"a": a})
        task = asyncio.create_task(d.run())
        await wait_for(lambda: a.runs == 1 and not d.running
                       and "retention pruning done" in caplog.text)
        port = d._metrics_server.port
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
        body = (await reader.read()).decode()
        writer.close()
        d.request_stop()
        assert await task == 0
        return body

    body = asyncio.run(main())
    assert body.startswith("HTTP/1.0 200 OK")
    assert 'leakmon_documents_total{source="a"} 2' in body
    assert 'leakmon_hits_total{source="a"} 2' in body
    assert 'leakmon_source_runs_total{outcome="ok",source="a"} 1.0' in body
    assert 'leakmon_outbox_backlog' in body


def test_a_restart_waits_until_a_source_is_due(tmp_path):
    runtime = make_runtime([{"name": "a", "type": "test", "every": "1h"},
                            {"name": "b", "type": "test", "every": "1h"}])
    with Store.open(tmp_path) as store:
        store.record_source_run("a", True, 1)  # ran a minute ago, before the restart
    b = ScriptedCollector("b")

    async def main() -> datetime:
        d = make_daemon(tmp_path, runtime, {"a": ScriptedCollector("a"), "b": b})
        task = asyncio.create_task(d.run())
        await wait_for(lambda: b.runs == 1)
        nrt = d.scheduler.get_job("source:a").next_run_time
        d.request_stop()
        assert await task == 0
        return nrt

    assert asyncio.run(main()) > datetime.now(UTC) + timedelta(minutes=55)


def test_daemon_serves_the_web_console_with_web_true(tmp_path):
    runtime = make_runtime([{"name": "a", "type": "test", "every": "1h"}],
                           daemon={"web": True, "outbox_every": "1h"})
    runtime.config.web.listen = "127.0.0.1:0"

    async def main() -> tuple[int, int]:
        d = make_daemon(tmp_path, runtime, {"a": ScriptedCollector("a")},
                        console=start_console)
        task = asyncio.create_task(d.run())
        await wait_for(lambda: d._web is not None)
        reader, writer = await asyncio.open_connection("127.0.0.1", d._web.port)
        writer.write(b"GET /api/v1/incidents HTTP/1.0\r\nHost: x\r\n\r\n")
        status = (await reader.read()).split(b"\r\n", 1)[0]
        writer.close()
        d.request_stop()
        return await task, int(status.split()[1])

    assert asyncio.run(main()) == (0, 401)  # served, and no anonymous access
