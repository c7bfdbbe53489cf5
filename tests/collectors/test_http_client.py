from __future__ import annotations

import email.utils
import functools
import socket
import time

import pytest

from monitor.collectors import CollectorDeferred, http_client
from monitor.collectors.http_client import BlockingTransport, make_client
from monitor.config import parse_config
from monitor.errors import CollectorError
from monitor.net import parse_retry_after
from tests.support.collect import run
from tests.support.http import Reply, gzip_reply
from tests.support.net import free_port
from tests.support.socks import Socks5Proxy


@pytest.fixture(autouse=True, params=[False, True], ids=["async", "blocking"])
def blocking(request, monkeypatch):
    """Every test twice: with httpx's async transport, and with its sync one behind the async
    API (`blocking`, the clients of the page reader processes): the same requests, answers,
    errors, retries, caps and Tor routing."""
    monkeypatch.setitem(globals(), "make_client",
                        functools.partial(http_client.make_client, blocking=request.param))
    return request.param


async def fetch(client, url, **kw):
    try:
        return await client.get(url, **kw)
    finally:
        await client.aclose()


@pytest.fixture
def proxy(server):
    p = Socks5Proxy(("127.0.0.1", server.port)).start()
    yield p
    p.stop()


def tor_config(proxy_url: str):
    return parse_config({"network": {"tor_proxy": proxy_url, "retries": 2, "timeout": 10.0}})


def test_user_agent_and_plain_get(server, config):
    server.route("/x", Reply(body="hello"))
    res = run(fetch(make_client(config.network, source="s"), server.url("/x")))
    assert res.content == b"hello" and res.status == 200 and not res.truncated
    assert server.requests[0].headers["user-agent"].startswith("leakmon/")


def test_body_over_the_cap_is_refused_or_cut(server, config):
    server.route("/big", Reply(body=b"A" * 300_000))
    with pytest.raises(CollectorError, match=r"larger than the .* MB cap"):
        run(fetch(make_client(config.network, source="s", max_bytes=100_000),
                  server.url("/big")))
    res = run(fetch(make_client(config.network, source="s"), server.url("/big"),
                    max_bytes=100_000, allow_truncated=True))
    assert res.truncated and len(res.content) == 100_000


def test_gzip_body_is_capped_after_decompression(server, config):
    bomb = b"\0" * (40 * 1024 * 1024)  # 40 MB of zeros, ~40 KB on the wire
    server.route("/bomb.gz", gzip_reply(bomb))
    res = run(fetch(make_client(config.network, source="s"), server.url("/bomb.gz"),
                    max_bytes=1024 * 1024, allow_truncated=True))
    assert res.truncated
    assert len(res.content) == 1024 * 1024


def test_retry_after_seconds_and_http_date_are_honored(server, config, sleeps):
    calls = []
    when = email.utils.formatdate(time.time() + 30, usegmt=True)

    def h(req):
        calls.append(1)
        if len(calls) == 1:
            return Reply(429, headers={"Retry-After": "3"})
        if len(calls) == 2:
            return Reply(503, headers={"Retry-After": when})
        return Reply(body="ok")

    server.route("/r", h)
    res = run(fetch(make_client(config.network, source="s", sleep=sleeps), server.url("/r")))
    assert res.content == b"ok"
    assert len(calls) == 3
    assert sleeps.waits[0] == 3.0
    assert 20 < sleeps.waits[1] <= 31  # the HTTP date, about 30 s ahead


def test_backoff_without_retry_after_then_defer(server, config, sleeps):
    server.route("/busy", Reply(503, "busy"))
    with pytest.raises(CollectorDeferred, match="HTTP 503"):
        run(fetch(make_client(config.network, source="s", sleep=sleeps), server.url("/busy")))
    assert sleeps.waits == [1.0, 2.0]  # exponential, retries = 2
    assert len(server.hits("/busy")) == 3


def test_long_retry_after_defers_instead_of_sleeping(server, config, sleeps):
    server.route("/later", Reply(429, headers={"Retry-After": "3600"}))
    with pytest.raises(CollectorDeferred) as e:
        run(fetch(make_client(config.network, source="s", sleep=sleeps), server.url("/later")))
    assert e.value.retry_after == 3600
    assert sleeps.waits == [] and len(server.hits("/later")) == 1


def test_connect_errors_are_retried_then_reported(config, sleeps):
    port = free_port()
    with pytest.raises(CollectorError, match=r"cannot connect to 127\.0\.0\.1"):
        run(fetch(make_client(config.network, source="s", sleep=sleeps),
                  f"http://127.0.0.1:{port}/"))
    assert sleeps.waits == [1.0, 2.0]


def test_parse_retry_after():
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after("garbage") is None
    assert parse_retry_after(None) is None
    past = email.utils.formatdate(time.time() - 100, usegmt=True)
    assert parse_retry_after(past) == 0.0


# -- Tor ----------------------------------------------------------------------------------


def test_onion_url_of_a_clearnet_source_goes_through_the_proxy(server, proxy):
    server.route("/listing", Reply(body="victims"))
    client = make_client(tor_config(proxy.url).network, source="s", tor=False)
    res = run(fetch(client, "http://lockbitxyzabcdefghij.onion/listing"))
    assert res.content == b"victims" and res.via_tor
    assert proxy.connects == [("lockbitxyzabcdefghij.onion", 80)]  # name resolved at proxy
    assert server.requests[0].headers["host"] == "lockbitxyzabcdefghij.onion"
    # every connection the HTTP server saw came from the proxy: none direct
    assert server.connections == proxy.upstreams


def test_tor_source_sends_everything_through_the_proxy(server, proxy):
    server.route("/a", Reply(body="a"))
    server.route("/b", Reply(302, headers={"Location": "http://hidden5nqz.onion/c"}))
    server.route("/c", Reply(body="c"))
    client = make_client(tor_config(proxy.url).network, source="s", tor=True)

    async def go():
        try:
            a = await client.get(server.url("/a"))
            b = await client.get(server.url("/b"))
            return a, b
        finally:
            await client.aclose()

    a, b = run(go())
    assert a.content == b"a" and a.via_tor
    assert b.content == b"c" and b.history == [server.url("/b")]
    assert ("127.0.0.1", server.port) in proxy.connects
    assert ("hidden5nqz.onion", 80) in proxy.connects
    assert client._direct is None  # no direct client was ever created
    assert sorted(server.connections) == sorted(proxy.upstreams)


def test_redirect_to_onion_from_clearnet_is_routed_through_the_proxy(server, proxy):
    server.route("/go", Reply(302, headers={"Location": "http://mirrorabc.onion/c"}))
    server.route("/c", Reply(body="onion page"))
    client = make_client(tor_config(proxy.url).network, source="s", tor=False)
    res = run(fetch(client, server.url("/go")))
    assert res.content == b"onion page" and res.via_tor
    assert proxy.connects == [("mirrorabc.onion", 80)]


def test_proxy_down_is_a_loud_error_and_nothing_goes_direct(server, sleeps):
    server.route("/x", Reply(body="x"))
    port = free_port()
    client = make_client(tor_config(f"socks5h://127.0.0.1:{port}").network, source="leaks",
                         tor=True, sleep=sleeps)
    with pytest.raises(CollectorError, match=rf"Tor proxy 127.0.0.1:{port} unreachable"):
        run(fetch(client, server.url("/x")))
    assert server.requests == [] and server.connections == []


def test_non_socks5h_proxy_is_refused_before_any_connection(server, proxy):
    server.route("/x", Reply(body="x"))
    bad = tor_config(proxy.url.replace("socks5h://", "socks5://")).network
    with pytest.raises(CollectorError, match="must be a socks5h:// URL"):
        make_client(bad, source="s", tor=True)
    client = make_client(bad, source="s", tor=False)
    with pytest.raises(CollectorError, match="must be a socks5h:// URL"):
        run(fetch(client, "http://hiddenservice.onion/x"))
    assert proxy.connects == [] and server.connections == []


def test_bad_urls_are_collector_errors(server, config):
    server.route("/ftp", Reply(302, headers={"Location": "ftp://files.example/x"}))
    with pytest.raises(CollectorError, match="not an http"):
        run(fetch(make_client(config.network, source="s"), "ftp://files.example/x"))
    with pytest.raises(CollectorError, match="redirect to a non-http URL"):
        run(fetch(make_client(config.network, source="s"), server.url("/ftp")))
    with pytest.raises(CollectorError, match="invalid URL"):
        run(fetch(make_client(config.network, source="s"), "http://[::1"))


def test_a_blocking_client_sends_through_the_sync_transport(server, config, blocking):
    server.route("/x", Reply(body="hello"))
    client = make_client(config.network, source="s")

    async def go():
        try:
            res = await client.get(server.url("/x"))
            return res, client.client_for(server.url("/x"))[0]
        finally:
            await client.aclose()

    res, httpx_client = run(go())
    assert res.content == b"hello"
    assert isinstance(httpx_client._transport, BlockingTransport) is blocking


def test_a_server_that_never_answers_is_a_timeout_error():
    with socket.create_server(("127.0.0.1", 0)) as silent:  # listens, never reads nor answers
        config = parse_config({"network": {"timeout": 0.2, "retries": 0}})
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/x"
        with pytest.raises(CollectorError, match=r"/x timed out after"):
            run(fetch(make_client(config.network, source="s"), url))
