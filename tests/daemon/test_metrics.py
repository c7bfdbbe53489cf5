from __future__ import annotations

import asyncio
import platform
import shutil
import subprocess

import httpx
import pytest
from prometheus_client.openmetrics import parser as openmetrics_parser
from prometheus_client.parser import text_string_to_metric_families

from monitor import __version__
from monitor.daemon.metrics import Metrics, MetricsServer, parse_listen
from monitor.errors import ConfigError


def _metrics() -> Metrics:
    m = Metrics()
    m.batch("tg-a", documents=3, hits=2, incidents=1, nbytes=2_000_000, seconds=0.5)
    m.run("tg-a", "ok")
    m.run('we"ird', "error")
    m.reloads["ok"] += 1
    m.delivered({"soc": {"sent": 2, "failed": 1, "dead": 0}})
    m.delivered({"soc": {"sent": 1, "failed": 0, "dead": 1}})
    return m


def _samples(families) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in families for s in f.samples}


def test_scrape_parses_with_prometheus_clients_parser():
    text = _metrics().render({"soc": 4, "mail": 0})
    families = {f.name: f for f in text_string_to_metric_families(text)}
    got = _samples(families.values())
    assert got[("leakmon_documents_total", (("source", "tg-a"),))] == 3
    assert got[("leakmon_source_errors_total", (("source", 'we"ird'),))] == 1
    assert got[("leakmon_scan_bytes_total", ())] == 2_000_000
    assert got[("leakmon_reloads_total", (("outcome", "ok"),))] == 1
    assert families["leakmon_documents"].type == "counter"
    build = got[("leakmon_build_info", (("python", platform.python_version()),
                                        ("version", __version__)))]
    assert build == 1
    # per-sink delivery counters; a sink that never delivered has its series at 0
    delivered = {(dict(k[1])["sink"], dict(k[1])["outcome"]): v for k, v in got.items()
                 if k[0] == "leakmon_notifications_delivered_total"}
    assert delivered == {("soc", "sent"): 3, ("soc", "failed"): 1, ("soc", "dead"): 1,
                         ("mail", "sent"): 0, ("mail", "failed"): 0, ("mail", "dead"): 0}
    assert got[("leakmon_outbox_backlog", (("sink", "mail"),))] == 0
    assert got[("leakmon_outbox_backlog", (("sink", "soc"),))] == 4
    assert "process_cpu_seconds_total" in {n for n, _ in got}  # prometheus_client's own
    # raw counters only: no derived rates, no units other than base units
    assert not [n for n, _ in got if "per_second" in n or "megabytes" in n]


def test_openmetrics_scrape_parses_with_the_openmetrics_parser():
    text = _metrics().render({"soc": 0}, openmetrics_format=True)
    assert text.endswith("# EOF\n")
    got = _samples(openmetrics_parser.text_string_to_metric_families(text))
    assert got[("leakmon_hits_total", (("source", "tg-a"),))] == 2
    assert got[("leakmon_outbox_backlog", (("sink", "soc"),))] == 0


@pytest.mark.skipif(shutil.which("promtool") is None,
                    reason="promtool not installed (.ci/run installs the prometheus package)")
def test_promtool_check_metrics_passes():
    text = _metrics().render({"soc": 4, "mail": 0})
    done = subprocess.run(["promtool", "check", "metrics"], input=text.encode(),
                          capture_output=True, timeout=60)
    assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()


@pytest.mark.parametrize("value", ["0.0.0.0:9464", "10.1.2.3:9464", "example.org:80"])
def test_metrics_only_on_loopback(value):
    with pytest.raises(ConfigError, match="loopback"):
        parse_listen(value)


@pytest.mark.parametrize(("value", "expected"), [
    ("127.0.0.1:9464", ("127.0.0.1", 9464)), ("[::1]:9464", ("::1", 9464)),
    ("localhost:1", ("localhost", 1)),
])
def test_parse_listen(value, expected):
    assert parse_listen(value) == expected


def test_bad_listen_values():
    for value in ("127.0.0.1", "127.0.0.1:70000", "127.0.0.1:http", ":9464"):
        with pytest.raises(ConfigError, match="metrics_listen"):
            parse_listen(value)


def test_server_answers_a_real_scrape():
    metrics = Metrics()
    metrics.batch("paste", documents=5, hits=1, incidents=1, nbytes=100, seconds=0.1)

    async def backlog() -> dict[str, int]:
        return {"soc": 2}

    async def main() -> tuple[httpx.Response, httpx.Response, httpx.Response]:
        server = MetricsServer(metrics, backlog)
        await server.start("127.0.0.1", 0)
        try:
            async with httpx.AsyncClient() as client:
                url = f"http://127.0.0.1:{server.port}/metrics"
                ok = await client.get(url)
                om = await client.get(url, headers={
                    "Accept": "application/openmetrics-text;version=1.0.0,text/plain;q=0.5"})
                missing = await client.get(f"http://127.0.0.1:{server.port}/nope")
        finally:
            await server.close()
        return ok, om, missing

    ok, om, missing = asyncio.run(main())
    assert ok.status_code == 200
    assert ok.headers["content-type"].startswith("text/plain; version=0.0.4")
    got = _samples(text_string_to_metric_families(ok.text))
    assert got[("leakmon_documents_total", (("source", "paste"),))] == 5
    assert got[("leakmon_outbox_backlog", (("sink", "soc"),))] == 2
    assert om.headers["content-type"].startswith("application/openmetrics-text")
    assert _samples(openmetrics_parser.text_string_to_metric_families(om.text))[
        ("leakmon_documents_total", (("source", "paste"),))] == 5
    assert missing.status_code == 404
