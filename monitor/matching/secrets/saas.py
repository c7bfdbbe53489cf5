"""SaaS API keys: SendGrid, Twilio, Mailgun, Shopify, Square, Stripe-like prefixes."""

from __future__ import annotations

from monitor.matching.secrets._spec import EDGE_L, EDGE_R, token_detector


def _hex_mix(token: str) -> bool:
    tail = token[-32:]
    return any(c.isdigit() for c in tail) and any(c.isalpha() for c in tail)


DETECTORS = (
    token_detector(
        "sendgrid_key", "SendGrid API key (SG.<22>.<43>)",
        (rb"\bSG\.[A-Za-z0-9_\-]{22}\.",),
        EDGE_L + rb"SG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43}" + EDGE_R, min_bits=4.0, reach=30,
        after=48),
    token_detector(
        "twilio_key", "Twilio account SID or API key SID (AC / SK + 32 hex)",
        (rb"\b(?:AC|SK)[0-9a-f]{32}\b",),
        rb"(?<![A-Za-z0-9_])(?:AC|SK)[0-9a-f]{32}(?![A-Za-z0-9_])", check=_hex_mix,
        min_bits=3.2, reach=40, after=2),
    token_detector(
        "mailgun_key", "Mailgun private API key (key-<32 hex>)",
        (rb"\bkey-[0-9a-f]{32}\b",),
        rb"(?<![A-Za-z0-9_\-])key-[0-9a-f]{32}(?![A-Za-z0-9_\-])", check=_hex_mix, min_bits=3.2,
        reach=40, after=2),
    token_detector(
        "shopify_token", "Shopify token (shpat_, shpca_, shppa_, shpss_)",
        (rb"\bshp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}",),
        EDGE_L + rb"shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}" + EDGE_R, check=_hex_mix, min_bits=3.2,
        reach=40, after=4),
    token_detector(
        "square_token", "Square access token or OAuth secret (sq0atp-, sq0csp-, EAAA…)",
        (rb"\bsq0(?:atp|csp)-", rb"\bEAAA[A-Za-z0-9_\-]{60}"),
        EDGE_L + rb"(?:sq0atp-[A-Za-z0-9_\-]{22,60}|sq0csp-[A-Za-z0-9_\-]{43}|"
        rb"(?<![+/])EAAA[A-Za-z0-9_\-]{60}(?![+/=]))" + EDGE_R, min_bits=3.8, reach=72,
        after=64),
)
