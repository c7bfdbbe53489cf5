"""Typed detectors: identifiers and secrets found by Hyperscan, confirmed in Python.

Each detector has cheap Hyperscan *trigger* patterns (compiled into the engine's one database)
and a precise Python pattern plus a validator that run only on small regions around the
triggers. Identifiers only count when their checksum holds (NIR key, IBAN mod 97, Luhn and
issuer length, phone validity) -- checksums come from `identifiers.py` (python-stdnum,
phonenumbers). Secrets are checked for shape and against obvious placeholders.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

import phonenumbers

from monitor.matching import identifiers, triggers
from monitor.matching.detector_base import Detector, Found, text_of, trigger
from monitor.matching.hyperscan_db import CASELESS, MULTILINE
from monitor.matching.secrets import SECRET_DETECTORS
from monitor.matching.secrets.placeholders import random_enough

__all__ = ["DETECTORS", "Detector", "Findings", "Found", "find"]

# A dump can hold millions of candidates and a checksum costs microseconds (an IBAN through
# python-stdnum ~25 us). Past this many validations per detector and document the detector
# stops and the count is extrapolated (see Findings.scale); hits and excerpts are unaffected.
MAX_VALIDATIONS = 500


_t = trigger
_text = text_of


# --- identifiers --------------------------------------------------------------------------

_SEP = re.compile(rb"[ .\-]")


def _shrinking(m: re.Match[bytes], kind: str, region: str, min_len: int) -> str | None:
    """Validate the match, then shorter prefixes cut at separators: greedy patterns may have
    swallowed a following word ("FR76 ... 189 BIC")."""
    raw = m.group(0)
    while True:
        value = identifiers.normalize(kind, raw.decode("ascii", "replace"), region=region)
        if value is not None:
            return value
        cuts = [x.start() for x in _SEP.finditer(raw)]
        if not cuts or cuts[-1] < min_len:
            return None
        raw = raw[:cuts[-1]]


# Where a digit candidate (NIR, card, phone) may start: not inside an identifier ("blk_-69…",
# "id42…"), not after a decimal point ("4.4995256729515" holds no card). DIGITS_START is the
# Python lookbehind, HS_DIGITS_START the same rule as a Hyperscan prefix (the triggers report
# ends only, so a prefix costs nothing), digits_free the same test on an offset; the C
# triggers and fingerprint reader apply it too (_native.c, digits_free, number_context_ok).
DIGITS_START = rb"(?<![0-9A-Za-z_])(?<![0-9]\.)(?<![0-9A-Za-z_]-)"
HS_DIGITS_START = rb"(?:^|^[.\-]|[^0-9A-Za-z_.\-]|[^0-9]\.|[^0-9A-Za-z_]-)"
_WORD_BYTES = frozenset(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")
_DIGIT_BYTES = frozenset(b"0123456789")


def digits_free(data: bytes, p: int) -> bool:
    """May a digit candidate start at data[p]? (DIGITS_START on an offset.)"""
    if p == 0:
        return True
    c = data[p - 1]
    if c in _WORD_BYTES:
        return False
    if p == 1:
        return True
    if c == 0x2E:  # '.'
        return data[p - 2] not in _DIGIT_BYTES
    if c == 0x2D:  # '-'
        return data[p - 2] not in _WORD_BYTES
    return True


_NIR = (rb"[1-478](?:[ .\-]?[0-9]{2}){2}[ .\-]?(?:[0-9]{2}|2[ABab])[ .\-]?[0-9]{3}"
        rb"[ .\-]?[0-9]{3}[ .\-]?[0-9]{2}")

_IBAN_COUNTRIES = (  # noqa: SIM905 - a block of codes reads better than 87 quoted strings
    "AD AE AL AT AZ BA BE BG BH BI BR BY CH CR CY CZ DE DJ DK DO EE EG ES FI FK FO FR GB GE GI "
    "GL GR GT HR HU IE IL IQ IS IT JO KW KZ LB LC LI LT LU LV LY MC MD ME MK MN MR MT MU NI NL NO "
    "OM PK PL PS PT QA RO RS RU SA SC SD SE SI SK SM SO ST SV TL TN TR UA VA VG XK"
).split()
_IBAN_CC = rb"(?:" + "|".join(_IBAN_COUNTRIES).encode() + rb")"
_IBAN = _IBAN_CC + rb"[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?"
_CARD = rb"[2-6][0-9]{3}(?:[ \-]?[0-9]){9,15}"
_EMAIL_DOMAIN = rb"@[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,24}"
_EMAIL = (rb"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9][A-Za-z0-9._%+\-]{0,63}@[A-Za-z0-9]"
          rb"(?:[A-Za-z0-9\-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?)*"
          rb"\.[A-Za-z]{2,24}(?![A-Za-z0-9\-])")


# Ten national digits in any grouping ("06 12 345 678", "0692 12 34 56"): what phonenumbers'
# matcher leaves for the region's peers (identifiers.NATIONAL_PEERS) is tried with them.
_NATIONAL = re.compile(r"(?<![0-9])0[1-9](?:[ .\-]?[0-9]){8}(?![0-9])")


def _phones(data: bytes, start: int, end: int, region: str) -> list[Found]:
    """phonenumbers' own matcher on the decoded region (it knows every national format),
    then national numbers of the region's overseas peers, which it does not know."""
    text = data[start:end].decode("utf-8", "replace")
    out = _region_phones(data, start, text, region)
    prefixes = identifiers.PEER_PREFIXES.get(region.upper())
    if prefixes is not None:
        taken = {s for s, _, _ in out}
        for m in _NATIONAL.finditer(text):
            if not prefixes.match(m.group(0).replace(" ", "").replace(".", "").replace("-", "")):
                continue  # a metropolitan number: phonenumbers' matcher had its chance
            s = start + len(text[:m.start()].encode("utf-8"))
            if s in taken or not digits_free(data, s):
                continue
            value = identifiers.normalize("phone", m.group(0), region=region)
            if value is not None:
                out.append((s, s + len(m.group(0).encode("utf-8")), value))
    return out


def _region_phones(data: bytes, start: int, text: str, region: str) -> list[Found]:
    out: list[Found] = []
    for pm in phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.VALID):
        s = start + len(text[:pm.start].encode("utf-8"))
        if not digits_free(data, s):
            continue  # "4.0612345678", "blk_-0612345678"
        value = identifiers.normalize("phone", pm.raw_string, region=region)
        if value is None:
            continue
        out.append((s, s + len(pm.raw_string.encode("utf-8")), value))
    return out


# --- secrets ------------------------------------------------------------------------------

_random_enough = random_enough  # the shared placeholder filter (secrets/placeholders.py)


def _secret(group: int | str = 0, min_bits: float = 3.0):
    def validate(m: re.Match[bytes], region: str) -> str | None:
        token = _text(m, group)
        return token if _random_enough(token, min_bits) else None
    return validate


def _private_key(m: re.Match[bytes], region: str) -> str | None:
    body = _text(m, "body")
    return body if random_enough(body, 3.5, repeats=False) else None


_URL_SCHEMES = {"http", "https", "ftp", "ftps", "mailto", "tel", "file", "ssh", "git", "data",
                "javascript", "urn", "sip", "irc", "news"}


def _combo(m: re.Match[bytes], region: str) -> str | None:
    user = _text(m, "user")
    password = _text(m, "pw")
    if "@" in user:
        if identifiers.normalize("email", user) is None:
            return None
    elif user.lower() in _URL_SCHEMES or (password.isdigit() and len(password) <= 5):
        return None  # "http://…", "10:30"
    if len(set(password)) < 2:
        return None
    return _text(m).strip().lower()


DETECTORS: dict[str, Detector] = {
    d.name: d for d in (
        Detector(
            "fr_nir", "French social security number (NIR), key checked, 2A/2B Corsica",
            (_t(HS_DIGITS_START + _NIR + rb"\b"),),
            re.compile(DIGITS_START + _NIR + rb"(?![0-9A-Za-z])"),
            lambda m, r: identifiers.normalize("fr_nir", _text(m)),
            reach=24, after=2,
            native=(triggers.NIR,),
        ),
        Detector(
            "iban", "IBAN, mod-97 checked",
            # Any two capitals, no \b: ~15% faster than the country list with \b on the
            # bench corpus (the precise pattern checks the country and the edges).
            (_t(rb"[A-Z]{2}[0-9]{2} ?[A-Z0-9]{4} ?[A-Z0-9]{4}"),),
            re.compile(rb"(?<![A-Za-z0-9])" + _IBAN + rb"(?![A-Za-z0-9])"),
            lambda m, r: _shrinking(m, "iban", r, 15),
            reach=18, after=44,
            native=(triggers.IBAN,),
        ),
        Detector(
            "card", "payment card number: Luhn and a plausible issuer and length",
            (_t(HS_DIGITS_START + rb"[2-6][0-9]{3}(?:[ \-]?[0-9]){8}"),),
            re.compile(DIGITS_START + _CARD + rb"(?![0-9])"),
            lambda m, r: _shrinking(m, "card", r, 12),
            reach=22, after=12,
            native=(triggers.CARD,),
        ),
        Detector(
            "email", "e-mail address",
            (_t(rb"@[A-Za-z0-9\-]+\.[A-Za-z]{2}"),),
            re.compile(_EMAIL),
            lambda m, r: identifiers.normalize("email", _text(m)),
            reach=140, after=200,
        ),
        Detector(
            "phone", "phone number valid for its country (default region from the engine)",
            (_t(rb"(?:\+|\b00)[1-9][0-9]{0,2}[ .\-]?(?:\(0\)[ .\-]?)?[0-9]"),
             _t(rb"\b0[1-9](?:[ .\-]?[0-9]){8}\b")),  # any grouping: "06 12 345 678"
            None, None, reach=18, after=24, custom=_phones,
        ),
        Detector(
            "private_key", "private key block (-----BEGIN ... PRIVATE KEY-----)",
            (_t(rb"-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----"),),
            re.compile(rb"-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----[ \t]*\r?\n"
                       rb"(?:[A-Za-z\-]+:[^\n]*\r?\n)*\s*(?P<body>[A-Za-z0-9+/=]{32,})"),
            _private_key, reach=80, after=600,
        ),
        Detector(
            "aws_access_key", "AWS access key id (AKIA…, ASIA…)",
            (_t(rb"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA|ABIA|ACCA)[A-Z2-7]{16}\b"),),
            re.compile(rb"(?<![A-Za-z0-9])(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA|ABIA|ACCA)"
                       rb"[A-Z2-7]{16}(?![A-Za-z0-9])"),
            _secret(0, 2.8), reach=22, after=2,
        ),
        Detector(
            "aws_secret_key", "AWS secret access key assigned to an aws…secret… name",
            (_t(rb"aws[A-Za-z0-9_\-]{0,20}secret[A-Za-z0-9_\-]{0,20}[\"']?[ \t]*[:=][ \t]*[\"']?"
                rb"[A-Za-z0-9/+]{40}", CASELESS),),
            re.compile(rb"(?i)aws[a-z0-9_\-]{0,20}secret[a-z0-9_\-]{0,20}[\"']?[ \t]*[:=][ \t]*"
                       rb"[\"']?([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])"),
            _secret(1, 4.0), reach=140, after=4,
        ),
        Detector(
            "google_api_key", "Google API key (AIza…)",
            (_t(rb"AIza[0-9A-Za-z_\-]{35}"),),
            re.compile(rb"(?<![A-Za-z0-9_\-])AIza[0-9A-Za-z_\-]{35}(?![A-Za-z0-9_\-])"),
            _secret(0, 3.5), reach=40, after=2,
        ),
        Detector(
            "stripe_key", "Stripe live secret or restricted key (sk_live_, rk_live_)",
            (_t(rb"\b[sr]k_live_[0-9A-Za-z]{24}"),),
            re.compile(rb"(?<![A-Za-z0-9_])[sr]k_live_[0-9A-Za-z]{24,247}(?![A-Za-z0-9])"),
            _secret(0, 3.5), reach=34, after=256,
        ),
        Detector(
            "combo", "credential combo line: email:password or user:password (also ; and |)",
            (_t(rb"@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,24}[:;|][^\s:;|]"),
             _t(rb"^[ \t]*[A-Za-z0-9][A-Za-z0-9._\-]{2,}:[^\s:]{4,}[ \t]*\r?$", MULTILINE)),
            re.compile(rb"^[ \t]*(?P<user>[^\s:;|@]{1,64}@[A-Za-z0-9.\-]+\.[A-Za-z]{2,24}|"
                       rb"[A-Za-z0-9][A-Za-z0-9._\-]{2,63})[:;|](?P<pw>(?!//)[^\s:;|]{3,128})"
                       rb"(?:[ \t]*[:;|][^\n]*)?[ \t]*\r?$", re.MULTILINE),
            _combo, lines=True,
            native=(triggers.COMBO_AT, triggers.COMBO_LINE),
        ),
    )
}
DETECTORS.update(SECRET_DETECTORS)  # one module per vendor family: monitor/matching/secrets/


def _line_region(data: bytes, start: int, end: int) -> tuple[int, int]:
    ls = data.rfind(b"\n", max(0, start - 1024), start) + 1
    if ls == 0 and start > 1024:
        ls = start - 1024
    le = data.find(b"\n", end, end + 1024)
    if le < 0:
        le = min(len(data), end + 1024)
    return ls, le


@dataclass(slots=True)
class Findings:
    """Validated matches, and by how much to scale their count: 1.0 when every candidate was
    validated, more when validation stopped at MAX_VALIDATIONS (the count is then
    extrapolated from the share of trigger matches that were looked at)."""

    found: list[Found]
    scale: float = 1.0


def find(detector: Detector, data: bytes, ends: list[int], region: str = "FR",
         unseen: int = 0, *, enough: int | None = None,
         max_validations: int = MAX_VALIDATIONS) -> Findings:
    """Validated matches of `detector` in the regions around its trigger match `ends`
    (offsets in `data`; `unseen` more triggers were counted but not kept). Regions are built
    lazily in document order, so a dump with a million candidates costs `max_validations`
    validations, not a million region objects. With `enough`, validation also stops once
    that many distinct values are confirmed (a bulk rule's threshold is proven: one value
    repeated at many places proves nothing); the count is then extrapolated the same way as
    past the validation cap."""
    limit = max(1, max_validations)
    ends = sorted(ends)
    found: dict[int, Found] = {}
    values: set[str] = set()
    validations = 0
    stopped_at: int | None = None
    rs = re_ = -1
    size = len(data)

    def validate(rs: int, re_: int) -> int:
        """Validate one merged region; returns the offset reached if the cap stopped it."""
        nonlocal validations
        if detector.custom is not None:
            validations += 1
            for f in detector.custom(data, rs, re_, region):
                found.setdefault(f[0], f)
                values.add(f[2])
            return -1
        assert detector.precise is not None and detector.validate is not None
        for m in detector.precise.finditer(data, rs, re_):
            validations += 1
            value = detector.validate(m, region)
            if value is not None:
                found.setdefault(m.start(), (m.start(), m.end(), value))
                values.add(value)
            if validations >= limit or (enough is not None and len(values) >= enough):
                return m.end()
        return -1

    for e in ends:
        if detector.lines:
            s2, e2 = _line_region(data, max(0, e - 1), e)
        else:
            s2, e2 = max(0, e - detector.reach), min(size, e + detector.after)
        if s2 <= re_:
            re_ = max(re_, e2)
            continue
        if re_ >= 0:
            reached = validate(rs, re_)
            if reached >= 0 or validations >= limit:
                stopped_at = reached if reached >= 0 else re_
                break
        rs, re_ = s2, e2
    else:
        if re_ >= 0:
            reached = validate(rs, re_)
            if reached >= 0:
                stopped_at = reached
    scale = 1.0
    if stopped_at is not None or unseen:
        seen = bisect.bisect_right(ends, stopped_at) if stopped_at is not None else len(ends)
        scale = (len(ends) + unseen) / max(1, seen)
    return Findings([found[k] for k in sorted(found)], scale)
