"""The one HTTP client every collector uses: timeouts, User-Agent, streamed size caps,
retries that honor Retry-After, and the Tor rule.

Why here and not in each collector: the rules that keep the monitor safe must hold for every
request. Those are

* size caps are counted on the DECODED stream (`aiter_bytes`), so a small gzip body that
  inflates to gigabytes stops at the cap;
* retries happen above the transport (httpx ignores transport `retries` for proxied
  connections), on 429/503 (honoring `Retry-After`, in seconds or as an HTTP date) and on
  connection errors;
* Tor: every request of a `tor = true` source, and any `.onion` URL of any source, goes through
  `[network].tor_proxy` only, which must be `socks5h://` (DNS resolved by the proxy). There is
  no fallback to a direct connection; a proxy that is down is a loud `CollectorError`.
  Redirects are followed here, hop by hop, so a redirect to an .onion address is also routed
  through the proxy.

A client made with `blocking=True` (a page reader process, whose event loop has nothing else
to run) sends its requests through httpx's synchronous transport behind the same async API:
the same requests, answers, errors and timeouts, without anyio's per-operation machinery
(~300 µs of CPU less per page).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

import httpx

from monitor.collectors.base import CollectorDeferred
from monitor.config import NetworkConfig
from monitor.errors import CollectorError
from monitor.net import parse_retry_after

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[Any]]

RETRY_STATUSES = (429, 503)
MAX_REDIRECTS = 5
MAX_INLINE_WAIT = 120.0  # a longer Retry-After defers the source instead of sleeping


@dataclass(slots=True)
class FetchResult:
    """A fully read (and possibly cut) response."""

    url: str  # final URL after redirects
    status: int
    headers: httpx.Headers
    content: bytes
    truncated: bool = False  # the body was longer than the cap and was cut
    history: list[str] = field(default_factory=list)  # URLs that redirected to `url`
    via_tor: bool = False

    @property
    def text(self) -> str:
        charset = "utf-8"
        ctype = self.headers.get("content-type", "")
        for part in ctype.split(";")[1:]:
            k, _, v = part.strip().partition("=")
            if k.lower() == "charset" and v:
                charset = v.strip('"')
        try:
            return self.content.decode(charset, errors="replace")
        except LookupError:
            return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.content)


@functools.cache
def tls_context() -> ssl.SSLContext:
    """httpx's default verifying context (certifi's CAs; not the environment's, as the
    clients do not trust it), one per process: loading the CAs costs ~20 ms a client, and a
    page reader process makes a client each run (its forkserver builds this before forking,
    `monitor.collectors.reader_preload`)."""
    return httpx.create_ssl_context(trust_env=False)


def is_onion(url: str | httpx.URL) -> bool:
    host = (url if isinstance(url, httpx.URL) else httpx.URL(url)).host.lower().rstrip(".")
    return host == "onion" or host.endswith(".onion")


class _SyncBody(httpx.AsyncByteStream):
    """A sync transport's response body, read through the async API."""

    def __init__(self, stream: httpx.SyncByteStream) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        self._stream.close()


class BlockingTransport(httpx.AsyncBaseTransport):
    """httpx.HTTPTransport (its own connection pool, exception mapping, timeouts) for an
    `httpx.AsyncClient`: each request blocks the event loop while it runs, which only a loop
    with nothing else to do can afford (see the module doc)."""

    def __init__(self, **options: Any) -> None:
        self._sync = httpx.HTTPTransport(**options)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = self._sync.handle_request(request)
        assert isinstance(response.stream, httpx.SyncByteStream)
        return httpx.Response(response.status_code, headers=response.headers,
                              stream=_SyncBody(response.stream),
                              extensions=response.extensions)

    async def aclose(self) -> None:
        self._sync.close()


def _proxy_hostport(proxy: str) -> str:
    u = httpx.URL(proxy)
    return f"{u.host}:{u.port}" if u.port else u.host


class HttpClient:
    """Async HTTP for one source. Create with `make_client`; close with `aclose()`."""

    def __init__(
        self,
        network: NetworkConfig,
        *,
        source: str,
        tor: bool = False,
        max_bytes: int | None = None,
        headers: Mapping[str, str] | None = None,
        sleep: Sleep | None = None,
        retries: int | None = None,
        backoff: float = 1.0,
        blocking: bool = False,
    ) -> None:
        self.network = network
        self.blocking = blocking
        self.source = source
        self.tor = tor
        self.max_bytes = max_bytes or int(network.max_response_mb * 1024 * 1024)
        self.retries = network.retries if retries is None else retries
        self.backoff = backoff
        self._sleep: Sleep = sleep or asyncio.sleep
        self._headers = {"User-Agent": network.user_agent, **(headers or {})}
        self._timeout = httpx.Timeout(network.timeout)
        self._direct: httpx.AsyncClient | None = None
        self._proxied: httpx.AsyncClient | None = None
        if tor:
            self._check_proxy()  # a tor source with a bad proxy URL is refused up front
        self.requests = 0  # requests sent (all attempts), for tests and metrics

    # -- routing --------------------------------------------------------------------------

    def _check_proxy(self) -> str:
        proxy = self.network.tor_proxy
        scheme = httpx.URL(proxy).scheme if proxy else ""
        if scheme != "socks5h":
            raise CollectorError(
                f"source {self.source!r}: [network].tor_proxy must be a socks5h:// URL so that "
                f"names resolve at the proxy and never locally (got {proxy!r}); refusing to "
                "fetch Tor content"
            )
        return proxy

    def client_for(self, url: str | httpx.URL) -> tuple[httpx.AsyncClient, bool]:
        """The client a URL must use, and whether it goes through Tor. Raises before any
        connection when the Tor rule cannot be honored."""
        if self.tor or is_onion(url):
            proxy = self._check_proxy()
            if self._proxied is None:
                self._proxied = self._client(proxy)
            return self._proxied, True
        if self._direct is None:
            self._direct = self._client(None)
        return self._direct, False

    def _client(self, proxy: str | None) -> httpx.AsyncClient:
        """An httpx client for direct requests (`proxy` None) or through `proxy`."""
        tls = tls_context()
        routing: dict[str, Any] = {"verify": tls, "proxy": proxy}
        if self.blocking:  # the transport gets what AsyncClient would give its own
            routing = {"transport": BlockingTransport(verify=tls, trust_env=False, proxy=proxy)}
        return httpx.AsyncClient(headers=self._headers, timeout=self._timeout,
                                 follow_redirects=False, trust_env=False, **routing)

    # -- requests -------------------------------------------------------------------------

    async def get(
        self,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        max_bytes: int | None = None,
        allow_truncated: bool = False,
        raise_for_status: bool = True,
        follow_redirects: bool = True,
    ) -> FetchResult:
        """GET `url`, retrying as described in the module doc, read up to `max_bytes`.

        A body over the cap is an error unless `allow_truncated` (attachments keep the first
        `max_bytes` and are flagged). HTTP errors raise `CollectorError` naming the URL unless
        `raise_for_status` is false; a rate limit that outlasts the retries raises
        `CollectorDeferred`.
        """
        cap = max_bytes or self.max_bytes
        history: list[str] = []
        try:
            current = httpx.URL(url, params=params) if params else httpx.URL(url)
        except httpx.InvalidURL as e:
            raise CollectorError(f"source {self.source!r}: invalid URL {url[:200]!r}: {e}") from None
        if current.scheme not in ("http", "https"):
            raise CollectorError(f"source {self.source!r}: not an http(s) URL: {url[:200]!r}")
        for _ in range(MAX_REDIRECTS + 1):
            # the parsed URL all the way down (httpx parses a str again, ~25 µs a time)
            result = await self._get_once(current, headers, cap, allow_truncated)
            if follow_redirects and result.status in (301, 302, 303, 307, 308) and \
                    "location" in result.headers:
                history.append(str(current))
                try:
                    current = httpx.URL(urljoin(str(current), result.headers["location"]))
                except httpx.InvalidURL:
                    raise CollectorError(f"source {self.source!r}: {_redact_url(str(current))} "
                                         "redirects to an invalid URL") from None
                if current.scheme not in ("http", "https"):
                    raise CollectorError(f"source {self.source!r}: redirect to a non-http URL "
                                         f"from {_redact_url(history[-1])}")
                continue
            result.history = history
            if raise_for_status and result.status >= 400:
                self._raise_status(result)
            return result
        raise CollectorError(
            f"source {self.source!r}: more than {MAX_REDIRECTS} redirects from {_redact_url(url)}")

    def _raise_status(self, result: FetchResult) -> None:
        if result.status in RETRY_STATUSES:
            wait = parse_retry_after(result.headers.get("retry-after"))
            raise CollectorDeferred(
                f"source {self.source!r}: {_redact_url(result.url)} answered HTTP "
                f"{result.status} (rate limited) after {self.retries + 1} attempts",
                wait if wait is not None else 60.0,
            )
        raise CollectorError(
            f"source {self.source!r}: {_redact_url(result.url)} answered HTTP {result.status}")

    async def _get_once(
        self, target: httpx.URL, headers: Mapping[str, str] | None, cap: int,
        allow_truncated: bool,
    ) -> FetchResult:
        client, via_tor = self.client_for(target)
        url = str(target)
        attempt = 0
        while True:
            self.requests += 1
            try:
                async with client.stream("GET", target, headers=headers) as resp:
                    if resp.status_code in RETRY_STATUSES and attempt < self.retries:
                        wait = parse_retry_after(resp.headers.get("retry-after"))
                        if wait is not None and wait > MAX_INLINE_WAIT:
                            raise CollectorDeferred(
                                f"source {self.source!r}: {_redact_url(url)} asks to retry after "
                                f"{wait:.0f}s (HTTP {resp.status_code})", wait)
                        delay = wait if wait is not None else self._backoff(attempt)
                        log.info("source %s: HTTP %s from %s, retrying in %.1fs",
                                 self.source, resp.status_code, _redact_url(url), delay)
                        attempt += 1
                        await self._sleep(delay)
                        continue
                    content, truncated = await _read_capped(resp, cap)
                    if truncated and not allow_truncated:
                        raise CollectorError(
                            f"source {self.source!r}: response from {_redact_url(url)} is larger "
                            f"than the {cap / 1048576:.1f} MB cap; not processed"
                        )
                    return FetchResult(str(resp.url), resp.status_code, resp.headers, content,
                                       truncated, via_tor=via_tor)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.ProxyError) as e:
                if attempt < self.retries:
                    delay = self._backoff(attempt)
                    attempt += 1
                    await self._sleep(delay)
                    continue
                raise self._connect_error(url, via_tor, e) from None
            except httpx.TimeoutException:
                raise CollectorError(
                    f"source {self.source!r}: {_redact_url(url)} timed out after "
                    f"{self.network.timeout:.0f}s") from None
            except httpx.HTTPError as e:
                raise CollectorError(
                    f"source {self.source!r}: request to {_redact_url(url)} failed: "
                    f"{type(e).__name__}: {e}") from None

    def _backoff(self, attempt: int) -> float:
        return min(60.0, self.backoff * (2 ** attempt))

    def _connect_error(self, url: str, via_tor: bool, e: Exception) -> CollectorError:
        if via_tor and isinstance(e, httpx.ProxyError):
            return CollectorError(
                f"source {self.source!r}: Tor proxy {_proxy_hostport(self.network.tor_proxy)} "
                f"could not reach {httpx.URL(url).host}: {e}")
        if via_tor:
            return CollectorError(
                f"source {self.source!r}: Tor proxy {_proxy_hostport(self.network.tor_proxy)} "
                f"unreachable ({type(e).__name__}: {e or 'connection failed'}); is tor running? "
                "Not falling back to a direct connection")
        return CollectorError(
            f"source {self.source!r}: cannot connect to {httpx.URL(url).host} "
            f"({type(e).__name__}: {e or 'connection failed'}) after {self.retries + 1} attempts")

    async def aclose(self) -> None:
        for c in (self._direct, self._proxied):
            if c is not None:
                await c.aclose()
        self._direct = self._proxied = None


async def _read_capped(resp: httpx.Response, cap: int) -> tuple[bytes, bool]:
    """Read the decoded body, stopping as soon as it passes `cap` bytes."""
    chunks: list[bytes] = []
    total = 0
    async for chunk in resp.aiter_bytes():
        if total + len(chunk) > cap:
            chunks.append(chunk[: cap - total])
            return b"".join(chunks), True
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks), False


def _redact_url(url: str) -> str:
    """A URL fit for logs and errors: no query string (it may hold API keys)."""
    u = httpx.URL(url)
    return str(u.copy_with(query=None)) if u.query else url


def make_client(
    network: NetworkConfig,
    *,
    source: str,
    tor: bool = False,
    max_bytes: int | None = None,
    headers: Mapping[str, str] | None = None,
    sleep: Sleep | None = None,
    blocking: bool = False,
) -> HttpClient:
    """The factory collectors call (tests pass `sleep` to count waits instead of waiting;
    `blocking`: see the module doc)."""
    return HttpClient(network, source=source, tor=tor, max_bytes=max_bytes, headers=headers,
                      sleep=sleep, blocking=blocking)
