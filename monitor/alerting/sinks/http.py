"""What the HTTP sinks (webhook, TheHive) share: one client factory and one reading of
HTTP answers into "delivered", "try again later" or "trying again cannot help"."""

from __future__ import annotations

import httpx

from monitor import __version__
from monitor.alerting.sinks.base import SinkDeliveryError
from monitor.net import parse_retry_after

USER_AGENT = f"leakmon/{__version__}"
# 408 Request Timeout, 425 Too Early and 429 Too Many Requests are worth retrying; every other
# 4xx means the request itself is wrong (bad token, wrong URL) until someone fixes the config.
RETRYABLE_4XX = frozenset({408, 425, 429})


def make_client(timeout: float, verify: bool | str) -> httpx.Client:
    return httpx.Client(
        timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        verify=verify,
        headers={"User-Agent": USER_AGENT},
        follow_redirects=False,  # a redirected POST would silently lose its body
        # No HTTP(S)_PROXY from the environment: alerts go where the config says, and a
        # proxy variable meant for something else must not see their payloads.
        trust_env=False,
    )


def check_response(sink: str, target: str, response: httpx.Response) -> None:
    """Return if 2xx; else raise SinkDeliveryError saying what the receiver answered."""
    status = response.status_code
    if 200 <= status < 300:
        return
    body = " ".join(response.text.split())[:200] if response.content else ""
    message = f"sink {sink!r}: {target} answered HTTP {status} {response.reason_phrase}"
    if body:
        message += f": {body}"
    retryable = status >= 500 or status in RETRYABLE_4XX or status < 200
    if 300 <= status < 400:
        retryable = False
        message += " (redirects are not followed: configure the final URL)"
    raise SinkDeliveryError(message, retryable=retryable,
                            retry_after=parse_retry_after(response.headers.get("Retry-After")))


def transport_error(sink: str, target: str, exc: httpx.HTTPError) -> SinkDeliveryError:
    """A connection refused, a timeout, a TLS failure: the receiver may be back later."""
    kind = type(exc).__name__
    return SinkDeliveryError(f"sink {sink!r}: cannot reach {target}: {kind}: {exc}"[:500])


