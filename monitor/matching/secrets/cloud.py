"""Cloud credentials: GCP service-account JSON, Azure, DigitalOcean, Heroku, HashiCorp."""

from __future__ import annotations

import base64
import binascii
import re

from monitor.matching.detector_base import Detector, trigger
from monitor.matching.hyperscan_db import CASELESS
from monitor.matching.lazy_re import lazy
from monitor.matching.secrets._spec import EDGE_L, EDGE_R, token_detector
from monitor.matching.secrets.placeholders import random_enough

_SA_CONTEXT = 4096  # a service-account file is ~2.3 KB; its members come in any order


def _gcp_service_account(m: re.Match[bytes], region: str) -> str | None:
    """The PEM inside a service-account JSON, its newlines escaped as \\n: base64 that
    decodes to DER, in a JSON object that says it is a service account."""
    around = m.string[max(0, m.start() - _SA_CONTEXT):m.end() + _SA_CONTEXT]
    if b"service_account" not in around and b"gserviceaccount.com" not in around:
        return None
    body = m.group("body").replace(b"\\n", b"")
    try:
        der = base64.b64decode(body + b"=" * (-len(body) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None
    text = body.decode("ascii")
    if not der.startswith(b"\x30") or not random_enough(text, 4.5, repeats=False):
        return None
    return text


def _sas_ok(token: str) -> bool:
    return "sv=" in token and "sig=" in token


DETECTORS = (
    Detector(
        "gcp_service_account", "GCP service-account key file (JSON with an escaped PEM)",
        (trigger(rb"\"private_key\"[ \t]*:[ \t]*\"-----BEGIN (?:RSA )?PRIVATE KEY-----\\n"),),
        lazy(rb"\"private_key\"\s*:\s*\"-----BEGIN (?:RSA )?PRIVATE KEY-----\\n"
                   rb"(?P<body>(?:[A-Za-z0-9+/=]|\\n){200,})"),
        _gcp_service_account, reach=80, after=4096,
    ),
    token_detector(
        "azure_storage_key", "Azure storage account key (AccountKey=… in a connection string)",
        (rb"AccountKey=[A-Za-z0-9+/]{86}==",),
        rb"AccountKey=(?P<key>[A-Za-z0-9+/]{86}==)", group="key", min_bits=4.5, reach=104,
        after=4),
    token_detector(
        "azure_sas_token", "Azure shared access signature (sv=…&sig=…)",
        (rb"[?&]sig=[A-Za-z0-9%+/]{40}",),
        rb"(?P<sas>sv=[0-9]{4}-[0-9]{2}-[0-9]{2}[^\s\"'<>]{0,300}?[?&]sig=[A-Za-z0-9%+/]{40,100}"
        rb"(?:%3D|=){0,2})", group="sas", check=_sas_ok, min_bits=4.0, reach=360, after=80),
    token_detector(
        "azure_client_secret", "Azure AD (Entra ID) client secret (…Q~…)",
        (rb"[0-9]Q~[A-Za-z0-9_~.\-]{31}",),
        rb"(?<![A-Za-z0-9_~.\-])[A-Za-z0-9_~.]{3}[0-9]Q~[A-Za-z0-9_~.\-]{31,34}"
        rb"(?![A-Za-z0-9_~.\-])", min_bits=3.8, reach=48, after=8),
    token_detector(
        "digitalocean_token", "DigitalOcean token (dop_v1_, doo_v1_, dor_v1_)",
        (rb"\bdo[por]_v1_[a-f0-9]{64}",),
        EDGE_L + rb"do[por]_v1_[a-f0-9]{64}" + EDGE_R, min_bits=3.5, reach=76, after=4),
    token_detector(
        "heroku_key", "Heroku API key (HRKU-AA…, or a UUID assigned to a heroku… name)",
        (rb"HRKU-AA", rb"heroku"),
        rb"(?i:(?:" + EDGE_L + rb"(?-i:HRKU-AA[0-9A-Za-z_\-]{58})" + EDGE_R
        + rb")|heroku[a-z0-9_ .\-]{0,20}[\"']?\s*[:=]\s*[\"']?"
        rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(?![0-9a-f\-]))",
        check=lambda t: not t.lower().startswith("heroku") or t.count("-") >= 4, min_bits=3.0,
        reach=16, after=120, flags=CASELESS),
    token_detector(
        "hashicorp_token", "HashiCorp Vault (hvs., hvb.) or Terraform Cloud (….atlasv1.…) token",
        (rb"\bhv[sb]\.", rb"\.atlasv1\."),
        EDGE_L + rb"(?:hvs\.[A-Za-z0-9_\-]{90,120}|hvb\.[A-Za-z0-9_\-]{138,300}|"
        rb"[A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_\-=]{60,70})" + EDGE_R, min_bits=3.8, reach=28,
        after=310),
)
