"""`type = "webhook"`: a signed JSON POST for receivers of your own (SOAR, a ticketing bridge).

Receivers verify `X-Leakmon-Signature: sha256=<hex>` — HMAC-SHA-256 of the exact body bytes
under the shared secret — and de-duplicate on `Idempotency-Key`, which stays the same when a
delivery is retried or resent after a crash.

With a `whsec_…` secret the POST also follows the Standard Webhooks scheme
(https://www.standardwebhooks.com): `webhook-id` (the idempotency key), `webhook-timestamp`
(signed, so a receiver can refuse replays) and `webhook-signature: v1,<base64>`. Two secrets
can be configured while a secret is changed: each signature header then carries one
signature per secret, and a receiver holding either accepts.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from typing import Any, Unpack

import httpx

from monitor.alerting.sinks import format as fmt
from monitor.alerting.sinks.base import CommonOptions, SinkOptions, TableReader, UrlSink
from monitor.alerting.sinks.http import check_response, make_client, transport_error
from monitor.config import Config
from monitor.models import Notification
from monitor.tables import resolve_secret

SIGNATURE_HEADER = "X-Leakmon-Signature"
STANDARD_PREFIX = "whsec_"
MAX_SECRETS = 2  # the current one and the next (or previous) during a change


def sign(secret: bytes, body: bytes) -> str:
    """The signature header value for `body`: `sha256=<hex digest>`."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def standard_key(secret: str) -> bytes | None:
    """The HMAC key of a Standard Webhooks secret (`whsec_` + base64); None for another
    secret; ValueError when the base64 part is broken or empty."""
    if not secret.startswith(STANDARD_PREFIX):
        return None
    encoded = secret[len(STANDARD_PREFIX):]
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except binascii.Error:
        raise ValueError("the part after whsec_ is not base64") from None
    if not key:
        raise ValueError("the part after whsec_ is empty")
    return key


def standard_signature(keys: list[bytes], msg_id: str, timestamp: int, body: bytes) -> str:
    """`webhook-signature`: `v1,<base64 HMAC-SHA-256 of "id.timestamp.body">` per key,
    space-separated (the Standard Webhooks way of signing with several secrets)."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return " ".join("v1," + base64.b64encode(hmac.new(k, signed, hashlib.sha256).digest())
                    .decode() for k in keys)


def digest_key(notifications: list[Notification]) -> str:
    """A stable idempotency key for a digest: the same items give the same key on a resend."""
    joined = "\n".join(sorted(n.idempotency_key for n in notifications))
    return "digest-" + hashlib.sha256(joined.encode()).hexdigest()[:32]


class WebhookSink(UrlSink):
    kind = "webhook"
    keys = ("url", "secret", "timeout", "headers", "verify")

    def __init__(self, name: str, *, url: str, secret: str | list[str], timeout: float = 10.0,
                 headers: dict[str, str] | None = None, verify: bool | str = True,
                 **common: Unpack[SinkOptions]) -> None:
        super().__init__(name, **common)
        self.url = url
        secrets = [secret] if isinstance(secret, str) else list(secret)
        self._secrets = [s.encode() for s in secrets]
        self._standard_keys = [k for k in map(standard_key, secrets) if k is not None]
        self._headers = dict(headers or {})
        self._client = make_client(timeout, verify)

    @classmethod
    def from_table(cls, table: TableReader, config: Config, common: CommonOptions) -> UrlSink:
        url = cls.read_url(table, secret=True)
        headers_raw = table.get("headers", dict, {})
        headers = {}
        for key, value in headers_raw.items():
            if not isinstance(value, str):
                raise table.error(f"headers.{key}", f"expected a string, got {value!r}")
            headers[key] = resolve_secret(value, where=f"{table.where}: headers.{key}")
        verify = cls.read_verify(table, config)
        return cls(url=url, secret=_secrets(table),
                   timeout=table.number("timeout", 10.0, minimum=0.1), headers=headers,
                   verify=verify, **common)

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
            SIGNATURE_HEADER: ",".join(sign(s, body) for s in self._secrets),
            "Idempotency-Key": key,
            "X-Leakmon-Event": event,
        }
        if self._standard_keys:
            stamp = int(time.time())  # signed: the receiver refuses old (replayed) messages
            headers |= {"webhook-id": key, "webhook-timestamp": str(stamp),
                        "webhook-signature": standard_signature(self._standard_keys, key,
                                                                stamp, body)}
        target = self.describe()
        try:
            response = self._client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as e:
            raise transport_error(self.name, target, e) from None
        check_response(self.name, target, response)
        return f"HTTP {response.status_code} {response.reason_phrase}".strip()

    def close(self) -> None:
        self._client.close()


def _secrets(table: TableReader) -> list[str]:
    """`secret`: one string, or a list of two during a change (both sign every message);
    each may be `env:VAR`; a `whsec_` secret must hold base64."""
    raw = table.get("secret", (str, list), required=True)
    values = [raw] if isinstance(raw, str) else raw
    if not values or len(values) > MAX_SECRETS or not all(
            isinstance(v, str) and v for v in values):
        raise table.error("secret", f"expected a secret or a list of 1 to {MAX_SECRETS} "
                                    f"non-empty secrets, got {len(values)} value(s)")
    secrets = [resolve_secret(v, where=f"{table.where}: secret") for v in values]
    for i, secret in enumerate(secrets, 1):
        if not secret:
            raise table.error("secret", "must not be empty")
        try:
            standard_key(secret)
        except ValueError as e:  # never quote the secret itself
            raise table.error("secret", f"secret {i}: {e}") from None
    return secrets
