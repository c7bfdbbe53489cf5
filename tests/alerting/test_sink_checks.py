"""`Sink.check()`: what each sink kind tells `leakmon doctor` about itself (nothing is sent)."""

from __future__ import annotations

import socket

import pytest

from monitor.alerting.sinks import build_sinks
from monitor.config import parse_config


def _sink(table):
    cfg = parse_config({"sinks": [{"name": "s", **table}]})
    (sink,) = build_sinks(cfg.sinks, cfg)
    return sink


@pytest.fixture
def listening():
    """A real TCP listener on 127.0.0.1 (the check only connects and closes)."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield server.getsockname()[1]


@pytest.fixture
def closed_port():
    with socket.create_server(("127.0.0.1", 0)) as s:
        return s.getsockname()[1]


@pytest.mark.parametrize(("table", "label"), [
    ({"type": "webhook", "url": "http://127.0.0.1:{port}/hook", "secret": "s"}, "webhook"),
    ({"type": "thehive", "url": "http://127.0.0.1:{port}/", "api_key": "k"}, "thehive"),
    ({"type": "misp", "url": "http://127.0.0.1:{port}/", "api_key": "k"}, "misp"),
    ({"type": "syslog", "host": "127.0.0.1", "port": "{port}", "protocol": "tcp"},
     "syslog tcp"),
])
def test_tcp_sinks_connect_to_their_endpoint(table, label, listening, closed_port):
    def built(port):
        return _sink({k: (int(v.format(port=port)) if k == "port" else v.format(port=port))
                      if isinstance(v, str) else v for k, v in table.items()})

    up = built(listening).check()
    assert (up.status, up.what, up.detail) == (
        "OK", "sink s", f"{label}: 127.0.0.1:{listening} accepts connections")
    down = built(closed_port).check()
    assert down.status == "FAIL" and down.detail.startswith(
        f"{label}: cannot connect to 127.0.0.1:{closed_port}")
    assert down.fix


def test_udp_syslog_resolves_its_host_only():
    ok = _sink({"type": "syslog", "host": "127.0.0.1", "port": 5514}).check()
    assert ok.status == "OK" and "not verifiable" in ok.detail
    bad = _sink({"type": "syslog", "host": "no-such-host.invalid", "port": 5514}).check()
    assert bad.status == "FAIL" and "cannot resolve no-such-host.invalid" in bad.detail


def test_jsonl_sink_checks_the_folder_it_will_create(tmp_path):
    path = tmp_path / "alerts" / "x.jsonl"  # the first alert creates alerts/
    check = _sink({"type": "jsonl", "path": str(path)}).check()
    assert (check.status, check.detail) == ("OK", f"jsonl: {path}")
    assert not path.parent.exists()  # checking writes nothing


def test_apprise_says_only_a_test_message_proves_it():
    check = _sink({"type": "apprise", "urls": ["json://127.0.0.1:9/hook"]}).check()
    assert check.status == "OK" and "leakmon sinks test" in check.detail
