from __future__ import annotations

import asyncio

import httpx
import pytest

from monitor.daemon.metrics import Metrics, MetricsServer, parse_listen
from monitor.errors import ConfigError


def test_render_is_prometheus_text_format():
    m = Metrics()
    m.batch("tg-a", documents=3, hits=2, incidents=1, nbytes=2_000_000, seconds=0.5)
    m.run("tg-a", "ok")
    m.run('we"ird', "error")
    text = m.render({"soc": 4})
    assert 'leakmon_documents_total{source="tg-a"} 3' in text
    assert 'leakmon_hits_total{source="tg-a"} 2' in text
    assert 'leakmon_source_errors_total{source="we\\"ird"} 1' in text
    assert 'leakmon_outbox_backlog{sink="soc"} 4' in text
    assert "leakmon_scan_megabytes_per_second 4" in text
    for line in text.splitlines():
        assert line.startswith("#") or " " in line
    assert "# TYPE leakmon_documents_total counter" in text


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

    async def main() -> tuple[httpx.Response, httpx.Response]:
        server = MetricsServer(metrics, backlog)
        await server.start("127.0.0.1", 0)
        try:
            async with httpx.AsyncClient() as client:
                ok = await client.get(f"http://127.0.0.1:{server.port}/metrics")
                missing = await client.get(f"http://127.0.0.1:{server.port}/nope")
        finally:
            await server.close()
        return ok, missing

    ok, missing = asyncio.run(main())
    assert ok.status_code == 200
    assert ok.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert 'leakmon_documents_total{source="paste"} 5' in ok.text
    assert 'leakmon_outbox_backlog{sink="soc"} 2' in ok.text
    assert missing.status_code == 404
