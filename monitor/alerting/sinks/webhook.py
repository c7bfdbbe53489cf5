"""`type = "webhook"`: a signed JSON POST for receivers of your own (SOAR, a ticketing bridge).

Receivers verify `X-Leakmon-Signature: sha256=<hex>` — HMAC-SHA-256 of the exact body bytes
under the shared secret — and de-duplicate on `Idempotency-Key`, which stays the same when a
delivery is retried or resent after a crash.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import httpx

from monitor.alerting.notification import Notification
from monitor.alerting.sinks import format as fmt
from monitor.alerting.sinks.base import (
    Sink,
    TableReader,
    mask_url,
    resolve_secret,
    url_endpoint,
)
from monitor.alerting.sinks.http import check_response, make_client, transport_error
from monitor.config import Config

SIGNATURE_HEADER = "X-Leakmon-Signature"


def sign(secret: bytes, body: bytes) -> str:
    """The signature header value for `body`: `sha256=<hex digest>`."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def digest_key(notifications: list[Notification]) -> str:
    """A stable idempotency key for a digest: the same items give the same key on a resend."""
    joined = "\n".join(sorted(n.idempotency_key for n in notifications))
    return "digest-" + hashlib.sha256(joined.encode()).hexdigest()[:32]


class WebhookSink(Sink):
    kind = "webhook"
    keys = ("url", "secret", "timeout", "headers", "verify")

    def __init__(self, name: str, *, url: str, secret: str, timeout: float = 10.0,
                 headers: dict[str, str] | None = None, verify: bool | str = True,
                 **common: Any) -> None:
        super().__init__(name, **common)
        self.url = url
        self._secret = secret.encode()
        self._headers = dict(headers or {})
        self._client = make_client(timeout, verify)

    @classmethod
    def from_table(cls, table: TableReader, config: Config, common: dict[str, Any]) -> Sink:
        url = table.secret("url", required=True)
        assert url is not None
        if not url.startswith(("http://", "https://")):
            raise table.error("url", "must start with http:// or https://")
        headers_raw = table.get("headers", dict, {})
        headers = {}
        for key, value in headers_raw.items():
            if not isinstance(value, str):
                raise table.error(f"headers.{key}", f"expected a string, got {value!r}")
            headers[key] = resolve_secret(value, where=f"{table.where}: headers.{key}")
        verify = table.get("verify", (bool, str), True)
        if isinstance(verify, str):
            verify = str(config.resolve(verify))
        return cls(url=url, secret=table.secret("secret", required=True) or "",
                   timeout=table.number("timeout", 10.0, minimum=0.1), headers=headers,
                   verify=verify, **common)

    def describe(self) -> str:
        return mask_url(self.url)

    @property
    def endpoint(self) -> tuple[str, int] | None:
        return url_endpoint(self.url)

    def payload(self, n: Notification) -> dict[str, Any]:
        return {"schema": "leakmon.alert/1", "text": fmt.summary(n),
                "notification": n.to_dict()}

    def send(self, n: Notification) -> str:
        body = json.dumps(self.payload(n), ensure_ascii=False, separators=(",", ":"))
        return self._post(body.encode(), n.idempotency_key, n.event)

    def send_digest(self, notifications: list[Notification]) -> str:
        payload = {
            "schema": "leakmon.digest/1",
            "text": fmt.digest_subject(notifications),
            "notifications": [n.to_dict() for n in notifications],
        }
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        return self._post(body.encode(), digest_key(notifications), "digest")

    def _post(self, body: bytes, key: str, event: str) -> str:
        headers = {
            **self._headers,
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(self._secret, body),
            "Idempotency-Key": key,
            "X-Leakmon-Event": event,
        }
        target = self.describe()
        try:
            response = self._client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as e:
            raise transport_error(self.name, target, e) from None
        check_response(self.name, target, response)
        return f"HTTP {response.status_code} {response.reason_phrase}".strip()

    def close(self) -> None:
        self._client.close()
