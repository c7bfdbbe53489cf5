from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest

from monitor.cli import main
from monitor.collectors.base import SourceConfig
from monitor.daemon.lock import StateLock
from monitor.daemon.once import is_due, run_pass
from monitor.errors import ConfigError
from monitor.models import utcnow
from monitor.store import Store
from monitor.store.sources import SourceState

from ._helpers import ScriptedCollector, make_runtime, pipeline_factory


class Report:
    def __init__(self, failed: int = 0) -> None:
        self.sent, self.failed, self.dead, self.digested = 1, failed, 0, 0


def run(tmp_path, runtime, collectors, *, only=None, delivery=None):
    calls = []

    def deliver(store, sinks, now):
        calls.append(now)
        if isinstance(delivery, Exception):
            raise delivery
        return delivery or Report()

    report = asyncio.run(run_pass(
        runtime, tmp_path, only=only, deliver=deliver, pipeline_factory=pipeline_factory,
        collector_factory=lambda table, config, sd: collectors[table["name"]]))
    return report, calls


def test_a_pass_runs_due_sources_then_delivers(tmp_path):
    runtime = make_runtime([{"name": "a", "type": "test", "every": "5m"},
                            {"name": "b", "type": "test", "every": "5m"},
                            {"name": "off", "type": "test", "enabled": False}])
    a, b = ScriptedCollector("a"), ScriptedCollector("b", script=["fail"])
    report, calls = run(tmp_path, runtime, {"a": a, "b": b})
    assert [r.source for r in report.runs] == ["a", "b"]
    assert report.exit_code == 1 and [r.source for r in report.failed_sources] == ["b"]
    assert len(calls) == 1  # delivery runs even when a source failed
    assert a.closed and b.closed

    # a second pass a moment later: nothing is due
    report, _ = run(tmp_path, runtime, {"a": ScriptedCollector("a"), "b": ScriptedCollector("b")})
    assert report.runs == [] and report.skipped == ["a", "b"] and report.exit_code == 0
    with Store.open(tmp_path) as store:
        assert json.loads(store.get_source_state("a").cursor) == {"last": 2}


def test_only_runs_the_named_source_even_if_not_due(tmp_path):
    runtime = make_runtime([{"name": "a", "type": "test", "every": "1d"}])
    run(tmp_path, runtime, {"a": ScriptedCollector("a")})
    again = ScriptedCollector("a")
    report, _ = run(tmp_path, runtime, {"a": again}, only="a")
    assert again.runs == 1 and report.ok
    with Store.open(tmp_path) as store:
        assert json.loads(store.get_source_state("a").cursor) == {"last": 4}
    with pytest.raises(ConfigError, match="no source named 'zz'"):
        run(tmp_path, runtime, {}, only="zz")


def test_delivery_failures_fail_the_pass(tmp_path):
    runtime = make_runtime([])
    report, _ = run(tmp_path, runtime, {}, delivery=Report(failed=2))
    assert report.exit_code == 1
    report, _ = run(tmp_path, runtime, {}, delivery=RuntimeError("store gone"))
    assert report.exit_code == 1 and "store gone" in report.delivery_error


def test_is_due_with_slack():
    src = SourceConfig(name="a", type="t", every=300.0)
    now = utcnow()
    assert is_due(src, SourceState(name="a"), now)
    assert not is_due(src, SourceState(name="a", last_run=now - timedelta(seconds=200)), now)
    # a 5-minute cron and every = 5m line up even if the last run ended a little late
    assert is_due(src, SourceState(name="a", last_run=now - timedelta(seconds=290)), now)


def test_cli_exits_75_when_the_lock_is_held(tmp_path, capsys):
    config = tmp_path / "config.toml"
    config.write_text('rules = ["rules"]\n')
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    with StateLock(state):
        code = main(["--config", str(config), "--state-dir", str(state), "once"])
    assert code == 75
    err = capsys.readouterr().err
    assert "another leakmon process" in err and "--wait" in err
