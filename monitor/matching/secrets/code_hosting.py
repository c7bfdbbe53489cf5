"""GitHub, GitLab, npm and PyPI tokens (source forges and package registries)."""

from __future__ import annotations

import base64
import binascii

from monitor.matching.secrets._spec import EDGE_L, EDGE_R, token_detector
from monitor.matching.secrets.checksums import crc32_suffix_ok


def _github_ok(token: str) -> bool:
    """Classic tokens end with a CRC32 of their random part; fine-grained ones are checked
    for shape only (github_pat_ + 22 + '_' + 59)."""
    if token.startswith("github_pat_"):
        return True
    return crc32_suffix_ok(token[4:])


def _npm_ok(token: str) -> bool:
    return crc32_suffix_ok(token[4:])


def _pypi_ok(token: str) -> bool:
    """A PyPI token is a base64url macaroon whose location is pypi.org."""
    body = token[5:]
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError):
        return False
    return raw.startswith(b"\x02\x01\x08pypi.org") and len(raw) >= 40


DETECTORS = (
    token_detector(
        "github_token", "GitHub token (ghp_, gho_, ghu_, ghs_, ghr_ with their CRC32; github_pat_)",
        (rb"\bgh[pousr]_[A-Za-z0-9]{36}", rb"\bgithub_pat_[A-Za-z0-9]{22}_"),
        EDGE_L + rb"(?:gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59})"
        + EDGE_R, check=_github_ok, min_bits=3.5, reach=44, after=64),
    token_detector(
        "gitlab_token", "GitLab token (glpat-, glptt-, gldt-, glrt-, glcbt-, gloas-, GR1348941 …)",
        (rb"\bgl(?:pat|ptt|dt|rt|cbt|ft|imt|agent|oas|soat|ffct)-", rb"GR1348941"),
        EDGE_L + rb"(?:glpat-[0-9A-Za-z_\-]{27,300}\.[0-9a-z]{2}[0-9a-z]{7}|"
        rb"glpat-[0-9A-Za-z_\-]{20}|glptt-[0-9a-f]{40}|gldt-[0-9A-Za-z_\-]{20}|"
        rb"glrt-(?:t[0-9]_)?[0-9A-Za-z_\-]{20,300}|glcbt-[0-9A-Za-z]{1,5}_[0-9A-Za-z_\-]{20}|"
        rb"glft-[0-9A-Za-z_\-]{20}|glimt-[0-9A-Za-z_\-]{25}|glagent-[0-9A-Za-z_\-]{50}|"
        rb"gloas-[0-9A-Za-z_\-]{64}|glsoat-[0-9A-Za-z_\-]{20}|glffct-[0-9A-Za-z_\-]{20}|"
        rb"GR1348941[0-9A-Za-z_\-]{20})" + EDGE_R, min_bits=3.2, reach=16, after=320),
    token_detector(
        "npm_token", "npm access token (npm_ with its CRC32)",
        (rb"\bnpm_[A-Za-z0-9]{36}",),
        EDGE_L + rb"npm_[A-Za-z0-9]{36}" + EDGE_R, check=_npm_ok, min_bits=3.5, reach=44,
        after=4),
    token_detector(
        "pypi_token", "PyPI upload token (a pypi.org macaroon)",
        (rb"pypi-AgEIcHlwaS5vcmc",),
        EDGE_L + rb"pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_\-]{50,1000}" + EDGE_R, check=_pypi_ok,
        min_bits=4.0, reach=24, after=1004),
)
