"""Telegram bot tokens, Discord bot tokens and webhooks, Slack tokens and webhooks."""

from __future__ import annotations

import base64
import binascii

from monitor.matching.hyperscan_db import CASELESS
from monitor.matching.secrets._spec import EDGE_L, EDGE_R, token_detector


def _discord_ok(token: str) -> bool:
    """A Discord bot token's first part is the bot's snowflake id in base64."""
    head = token.split(".", 1)[0]
    try:
        raw = base64.urlsafe_b64decode(head + "=" * (-len(head) % 4))
    except (binascii.Error, ValueError):
        return False
    return raw.isdigit() and 17 <= len(raw) <= 20


def _telegram_ok(token: str) -> bool:
    bot_id = token.split(":", 1)[0]
    return not bot_id.startswith("0")


def _secret_part(sep: str, check=None):
    def ok(token: str) -> bool:
        return (check is None or check(token)) and len(set(token.rsplit(sep, 1)[-1])) >= 10
    return ok


DETECTORS = (
    token_detector(
        "telegram_bot_token", "Telegram bot token (bot id, ':AA', 33 characters)",
        (rb"[0-9]{5}:AA[A-Za-z0-9_\-]{33}",),
        rb"(?<![0-9A-Za-z_\-])[0-9]{5,16}:AA[A-Za-z0-9_\-]{33}" + EDGE_R,
        check=_secret_part(":", _telegram_ok), min_bits=3.5, reach=60, after=4),
    token_detector(
        "discord_bot_token", "Discord bot token (base64 bot id . timestamp . HMAC)",
        # Anchored on context, as gitleaks and trufflehog do: the token has no literal part,
        # and a trigger of classes alone cost ~8% of the shipped rules' scan speed. Its id
        # part must still decode to a snowflake (_discord_ok).
        (rb"discord", rb"\.run\([\"']"),
        EDGE_L + rb"[MNO][A-Za-z0-9_\-]{22,27}\.[A-Za-z0-9_\-]{6}\.[A-Za-z0-9_\-]{27,38}"
        + EDGE_R, check=_discord_ok, min_bits=3.8, reach=200, after=300, flags=CASELESS),
    token_detector(
        "discord_webhook", "Discord webhook URL (id and token)",
        (rb"discord(?:app)?\.com/api/webhooks/",),
        rb"https?://(?:(?:ptb|canary)\.)?discord(?:app)?\.com/api/webhooks/[0-9]{17,20}/"
        rb"[A-Za-z0-9_\-]{60,68}" + EDGE_R, check=_secret_part("/"), min_bits=3.5, reach=40,
        after=100),
    token_detector(
        "slack_token", "Slack token (xoxb-, xoxp-, xoxa-2-, xoxs-, xoxo-, xoxr-, xoxe., xoxe-, xapp-)",
        (rb"\bxox[abeoprs][\-.]", rb"\bxapp-[0-9]-"),
        EDGE_L + rb"(?:xoxe\.xox[bp]-[0-9]-[A-Za-z0-9]{163,166}|xoxe-[0-9]-[A-Za-z0-9]{146}|"
        rb"xapp-[0-9]-[A-Z0-9]+-[0-9]+-[a-z0-9]{32,}|"
        rb"xox[abeoprs]-(?:[0-9]+-){1,4}[A-Za-z0-9]{16,64})" + EDGE_R,
        check=_secret_part("-"), min_bits=3.0, reach=16, after=240, flags=CASELESS),
    token_detector(
        "slack_webhook", "Slack incoming webhook or workflow URL",
        (rb"hooks\.slack\.com/(?:services|workflows|triggers)/",),
        rb"https?://hooks\.slack\.com/(?:services|workflows|triggers)/T[A-Z0-9]{8,12}/"
        rb"[AB][A-Z0-9]{8,12}/(?:[0-9]{10,20}/)?[A-Za-z0-9]{23,32}" + EDGE_R,
        check=_secret_part("/"), min_bits=3.5, reach=48, after=100),
)
