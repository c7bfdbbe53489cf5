"""The webhook sink's Standard Webhooks headers, verified by the scheme's own library
(`standardwebhooks`, what a receiver installs), and secret rotation with two secrets."""

from __future__ import annotations

import base64
import time

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from test_sinks_kinds import one_sink

from monitor.errors import ConfigError
from tests.support.sinks import WebhookReceiver, make_notification

OLD = "whsec_" + base64.b64encode(b"old secret of 24+ bytes.....").decode()
NEW = "whsec_" + base64.b64encode(b"the new secret, 32 bytes long!!!").decode()
OTHER = "whsec_" + base64.b64encode(b"a secret nobody configured!").decode()


def _deliver(secret, receiver_secret):
    with WebhookReceiver(receiver_secret) as rx:
        sink = one_sink({"type": "webhook", "url": rx.url + "/hook", "secret": secret})
        sink.send(make_notification())
        sink.close()
    (delivery,) = rx.requests
    return delivery


def test_standard_webhooks_library_verifies_our_delivery():
    delivery = _deliver(NEW, NEW)
    assert delivery.signature_ok  # today's X-Leakmon-Signature still comes along
    payload = Webhook(NEW).verify(delivery.body, delivery.headers)
    assert payload["notification"]["idempotency_key"] == "inc-12:new"
    assert delivery.headers["webhook-id"] == "inc-12:new" == delivery.key
    assert abs(int(delivery.headers["webhook-timestamp"]) - time.time()) < 60
    assert delivery.headers["webhook-signature"].startswith("v1,")
    with pytest.raises(WebhookVerificationError):
        Webhook(OTHER).verify(delivery.body, delivery.headers)
    tampered = delivery.body.replace(b"critical", b"low")
    with pytest.raises(WebhookVerificationError):
        Webhook(NEW).verify(tampered, delivery.headers)
    replayed = delivery.headers | {"webhook-timestamp": str(int(time.time()) - 3600)}
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(NEW).verify(delivery.body, replayed)


def test_rotation_two_secrets_sign_every_message():
    delivery = _deliver([NEW, OLD], OLD)  # the receiver still holds the old secret
    assert delivery.signature_ok
    assert len(delivery.headers["webhook-signature"].split(" ")) == 2
    for secret in (NEW, OLD):  # a receiver holding either accepts
        Webhook(secret).verify(delivery.body, delivery.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(OTHER).verify(delivery.body, delivery.headers)
    assert len(delivery.headers["x-leakmon-signature"].split(",")) == 2


def test_a_plain_secret_sends_only_todays_header():
    delivery = _deliver("plain-shared-secret", "plain-shared-secret")
    assert delivery.signature_ok and "webhook-signature" not in delivery.headers


@pytest.mark.parametrize("secret, message", [
    ([], "a list of 1 to 2 non-empty secrets, got 0"),
    ([NEW, OLD, OTHER], "got 3 value(s)"),
    ("whsec_not*base64!", "secret 1: the part after whsec_ is not base64"),
    ("whsec_", "secret 1: the part after whsec_ is empty"),
])
def test_bad_secrets_are_config_errors_without_the_secret(secret, message):
    with pytest.raises(ConfigError) as e:
        one_sink({"type": "webhook", "url": "http://127.0.0.1:9/", "secret": secret})
    assert message in str(e.value) and "not*base64" not in str(e.value)
