"""The config file and the state directory: defaults, validation, secrets from the environment."""

from __future__ import annotations

import stat

import pytest

from monitor.config import load_config, parse_config, parse_duration, resolve_secret
from monitor.errors import ConfigError
from monitor.paths import ensure_state_dir, resolve_state_dir, write_secret


@pytest.mark.parametrize(("text", "seconds"), [("90", 90), ("30s", 30), ("5m", 300),
                                               ("2h", 7200), ("7d", 604800), ("1w", 604800),
                                               (45, 45), ("1.5m", 90)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["5 minutes", "m", "-5m", True, ""])
def test_bad_durations_name_where(bad):
    with pytest.raises(ConfigError, match="every"):
        parse_duration(bad, where="every")


def test_defaults_and_relative_paths(tmp_path):
    path = tmp_path / "leakmon.toml"
    path.write_text('state_dir = "st"\nrules = ["rules", "/abs/org.toml"]\n')
    cfg = load_config(path)
    assert cfg.state_dir == tmp_path.resolve() / "st"
    assert cfg.rules[0] == tmp_path.resolve() / "rules"
    assert str(cfg.rules[1]) == "/abs/org.toml"
    assert cfg.matching.phone_region == "FR" and cfg.store.evidence is False


@pytest.mark.parametrize(("data", "message"), [
    ({"matchng": {}}, "unknown top-level key"),
    ({"matching": {"phone_regoin": "FR"}}, r"\[matching\]: unknown key\(s\) phone_regoin"),
    ({"matching": {"max_document_mb": "big"}}, r"max_document_mb: expected float"),
    ({"store": {"evidence": 1}}, r"evidence: expected bool"),
    ({"matching": {"max_document_mb": -1}}, r"\[matching\] max_document_mb = -1 is below"),
    ({"network": {"timeout": 0}}, r"\[network\] timeout = 0 is below"),
    ({"sources": [{"type": "files"}]}, r"\[\[sources\]\] number 1 has no name"),
    ({"sinks": [{"name": "a", "type": "jsonl"}, {"name": "a", "type": "jsonl"}]},
     "duplicate sinks name"),
])
def test_invalid_config_names_the_key(data, message):
    with pytest.raises(ConfigError, match=message):
        parse_config(data)


def test_missing_and_broken_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("state_dir = \n")
    with pytest.raises(ConfigError, match=r"bad.toml: invalid TOML"):
        load_config(bad)


def test_secrets_from_the_environment(monkeypatch):
    monkeypatch.setenv("LEAKMON_TEST_TOKEN", "s3cr3t")
    assert resolve_secret("env:LEAKMON_TEST_TOKEN", where="x") == "s3cr3t"
    assert resolve_secret("literal", where="x") == "literal"
    monkeypatch.delenv("LEAKMON_TEST_TOKEN")
    with pytest.raises(ConfigError, match="sink 'hook': secret: environment variable"):
        resolve_secret("env:LEAKMON_TEST_TOKEN", where="sink 'hook': secret")
    with pytest.raises(ConfigError, match="not a valid env:VARNAME"):
        resolve_secret("env:1-bad", where="x")


def test_state_dir_precedence(tmp_path, monkeypatch):
    from_config = tmp_path / "cfg-state"
    monkeypatch.setenv("LEAKMON_STATE_DIR", str(tmp_path / "env-state"))
    assert resolve_state_dir(str(tmp_path / "cli"), from_config) == tmp_path / "cli"
    assert resolve_state_dir(None, from_config) == tmp_path / "env-state"
    monkeypatch.delenv("LEAKMON_STATE_DIR")
    assert resolve_state_dir(None, from_config) == from_config
    monkeypatch.chdir(tmp_path)
    assert resolve_state_dir(None, None) == tmp_path / "state"


def test_state_dir_and_secret_files_are_private(tmp_path):
    state = ensure_state_dir(tmp_path / "s")
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    write_secret(state / "k", b"x")
    assert stat.S_IMODE((state / "k").stat().st_mode) == 0o600
