from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path

import pytest

from monitor.alerting.sinks import build_sinks
from monitor.collectors import build_collector
from monitor.config import load_config, parse_config
from monitor.daemon.runtime import ReloadError, ensure_drop_folders, load_runtime
from monitor.errors import ConfigError

from .test_doctor import RULE

REPO = Path(__file__).resolve().parents[2]


def setup_config(tmp_path, extra: str = "") -> Path:
    (tmp_path / "rules").mkdir(exist_ok=True)
    (tmp_path / "rules" / "org.toml").write_text(RULE)
    path = tmp_path / "config.toml"
    path.write_text('rules = ["rules"]\n' + extra)
    return path


def test_strict_load_rejects_rule_errors_with_file_and_line(tmp_path):
    config = setup_config(tmp_path)
    (tmp_path / "rules" / "bad.toml").write_text(
        RULE + '\n[[rules]]\nid = "org.y"\ntitle = "y"\nseverity = "extreme"\nkeywords = ["y"]\n')
    relaxed = load_runtime(config, tmp_path, strict=False)  # start-up: clean files still load
    assert [r.id for r in relaxed.ruleset.rules] == ["org.x"]
    with pytest.raises(ReloadError) as e:
        load_runtime(config, tmp_path, strict=True)
    assert any(re.search(r"bad\.toml:\d+: rule org\.y", p) for p in e.value.problems), \
        e.value.problems


def test_strict_load_accepts_warnings_and_builds_everything(tmp_path):
    config = setup_config(tmp_path, """
[daemon]
outbox_every = "10s"

[[sources]]
name = "inbox"
type = "files"
path = "drop/here"

[[sinks]]
name = "file"
type = "jsonl"
path = "alerts.jsonl"
""")
    (tmp_path / "rules" / "warn.toml").write_text(  # no [[rules.tests]]: a warning only
        '[[rules]]\nid = "org.w"\ntitle = "w"\nseverity = "low"\nkeywords = ["w"]\n')
    rt = load_runtime(config, tmp_path, strict=True)
    assert rt.timings.outbox_every == 10.0
    assert [s.name for s in rt.sinks] == ["file"]
    assert [s.name for s in rt.enabled_sources] == ["inbox"]
    assert ensure_drop_folders(rt) == [tmp_path / "drop" / "here"]
    assert (tmp_path / "drop" / "here").is_dir()
    assert ensure_drop_folders(rt) == []


def test_bad_sink_or_daemon_key_is_a_config_error(tmp_path):
    config = setup_config(tmp_path, '[[sinks]]\nname = "x"\ntype = "carrier-pigeon"\n')
    with pytest.raises(ConfigError, match="carrier-pigeon"):
        load_runtime(config, tmp_path, strict=True)
    config = setup_config(tmp_path, '[daemon]\noutbox_every = "soon"\n')
    with pytest.raises(ConfigError, match="outbox_every"):
        load_runtime(config, tmp_path, strict=True)


def test_shipped_example_config_and_every_commented_example_are_valid(tmp_path, monkeypatch):
    text = (REPO / "config.example.toml").read_text()
    shipped = load_config(REPO / "config.example.toml")
    assert [s["type"] for s in shipped.sources if s.get("enabled", True)] == ["files"]
    assert [s["type"] for s in shipped.sinks] == ["jsonl"]
    assert shipped.rules == [REPO / "rules"]
    # uncomment every example table and build it with the real registries
    lines = [line[2:] if re.match(r"# (\[\[|[a-z_]+ = )", line) else line
             for line in text.splitlines()]
    config = parse_config(tomllib.loads("\n".join(lines)), path=REPO / "config.example.toml")
    for var in ("LEAKMON_TELEGRAM_API_HASH", "LEAKMON_WEBHOOK_SECRET", "LEAKMON_THEHIVE_KEY",
                "LEAKMON_MISP_KEY", "GITHUB_TOKEN"):
        monkeypatch.setenv(var, "x")
    monkeypatch.setenv("LEAKMON_SLACK_URL", "json://127.0.0.1/")
    monkeypatch.setenv("LEAKMON_MAIL_URL", "mailtos://soc:pw@mail.example.org?to=soc@example.org")
    types = {build_collector(t, config, tmp_path).__class__.__name__ for t in config.sources}
    assert len(config.sources) >= 8 and len(types) == 6  # every collector type shown
    sinks = build_sinks(config.sinks, config)
    assert {s.kind for s in sinks} == {"jsonl", "apprise", "webhook", "syslog", "thehive",
                                       "misp"}
    for s in sinks:
        s.close()
    assert any(t.get("tor") is True and ".onion" in t.get("url", "") for t in config.sources)
    assert os.environ.get("LEAKMON_STATE_DIR")  # conftest isolation still in place
