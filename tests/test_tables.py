"""The one typed-table reader behind the config sections, sources, sinks and rules: the
same checks everywhere, each family in the wording its operators know, every error naming
where (file, table) and the key."""

from __future__ import annotations

import pytest

from monitor.alerting.sinks import build_sink
from monitor.collectors.base import SourceConfig, opt, require
from monitor.config import parse_config
from monitor.errors import ConfigError
from monitor.matching.rules import load_rules
from monitor.tables import Table, type_ok


@pytest.mark.parametrize(("value", "types", "ok"), [
    (1, float, True), (1.5, float, True), (True, int, False), (True, float, False),
    (True, bool, True), (1, bool, False), ("x", (bool, str), True), (2, (bool, str), False),
    ([], list, True), ("5m", (int, float, str), True),
])
def test_type_rule_is_shared(value, types, ok):
    assert type_ok(value, types) is ok


def test_the_same_bad_value_is_named_with_its_place_in_every_family(tmp_path):
    """A boolean where a number belongs, in each of the four kinds of table."""
    with pytest.raises(ConfigError) as e:
        parse_config({"network": {"retries": True}})
    assert str(e.value) == "config: [network]: retries: expected int, got True"
    with pytest.raises(ConfigError) as e:
        SourceConfig.from_table({"name": "a", "type": "x", "backfill": True})
    assert str(e.value) == "source 'a': backfill must be int, got True"
    with pytest.raises(ConfigError) as e:
        build_sink({"name": "s", "type": "syslog", "host": "h", "port": True},
                   parse_config({}))
    assert str(e.value) == "sink 's': port: expected int, got True"
    path = tmp_path / "r.toml"
    path.write_text('[[rules]]\nid = "r"\nkeywords = ["x"]\nwindow = true\n'
                    'near = ["dump"]\n')
    (problem,) = load_rules([path]).errors
    assert (problem.file, problem.rule_id, problem.line, problem.message) == (
        str(path), "r", 4, "window must be an integer, got a boolean")


def test_missing_and_unknown_keys_per_family():
    with pytest.raises(ConfigError, match=r"^source 'a': missing key 'url'$"):
        require({}, "url", str, "source 'a'")
    with pytest.raises(ConfigError, match=r"^source 'a': unknown key\(s\) urll for type 'http'; "
                                          r"known: alert_after_failures, .*, url, worker_label$"):
        SourceConfig.from_table({"name": "a", "type": "http", "urll": "x"}, allowed={"url"})
    with pytest.raises(ConfigError, match=r"^sink 's': missing required key 'api_key'$"):
        build_sink({"name": "s", "type": "thehive", "url": "https://h.example"},
                   parse_config({}))
    with pytest.raises(ConfigError, match=r"^config: \[store\]: unknown key\(s\) evidance; "
                                          r"known keys: evidence, retention_days, url, password$"):
        parse_config({"store": {"evidance": True}})


def test_getters_check_bounds_choices_and_secrets(monkeypatch):
    t = Table({"n": 0, "mode": "quic", "token": "env:LEAKMON_TEST_TOKEN", "names": ["a", ""],
               "empty": ""}, "sink 'x'")
    with pytest.raises(ConfigError, match=r"^sink 'x': n: must be between 1 and 9, got 0$"):
        t.integer("n", 1, lo=1, hi=9)
    with pytest.raises(ConfigError, match=r"^sink 'x': mode: 'quic' is not one of udp, tcp$"):
        t.choice("mode", ("udp", "tcp"), "udp")
    with pytest.raises(ConfigError, match=r"^sink 'x': names: expected a list of non-empty"):
        t.strings("names")
    with pytest.raises(ConfigError, match=r"^sink 'x': empty: must not be empty$"):
        t.string("empty", required=True)
    monkeypatch.delenv("LEAKMON_TEST_TOKEN", raising=False)
    with pytest.raises(ConfigError, match=r"^sink 'x': token: environment variable "
                                          r"LEAKMON_TEST_TOKEN is not set or empty$"):
        t.secret("token")
    monkeypatch.setenv("LEAKMON_TEST_TOKEN", "s3cret")
    assert t.secret("token") == "s3cret"
    assert t.integer("absent", None, lo=1) is None and t.number("absent", 2.5) == 2.5
    assert opt({"every": 5}, "every", float, 1.0, "source 'a'") == 5


def test_rule_tables_collect_every_problem_and_go_on(tmp_path):
    path = tmp_path / "r.toml"
    path.write_text('[[rules]]\nid = "r"\ntitle = 3\nkeywords = ["x"]\nfuzzy = 10\n'
                    'enabled = "yes"\n')
    got = [(p.line, p.message) for p in load_rules([path]).errors]
    assert got == [(3, "title must be a string, got an integer"),
                   (5, "fuzzy must be between 50 and 100, got 10"),
                   (6, "enabled must be true or false, got a string")]
