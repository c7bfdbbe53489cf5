"""phone: a phone number valid for its country (phonenumbers), as E.164.

The region (the set's or the engine's, "FR" by default) reads national numbers. The C reader
reads phones among digit runs (code 0); the detector is phonenumbers' own matcher.
"""

from __future__ import annotations

import re

from monitor.matching.kinds._common import digits_free
from monitor.matching.kinds.base import DetectorSpec, Found, Kind

# Overseas departments dialled with France's trunk 0 but their own country code: "0692 12 34
# 56" written in France is +262 692 12 34 56 (Réunion). Saint-Barthélemy and Saint-Martin
# share +590 with Guadeloupe, so GP covers them.
NATIONAL_PEERS: dict[str, tuple[str, ...]] = {"FR": ("RE", "YT", "GP", "MQ", "GF")}
# National prefixes of those peers (trunk 0 included): only these are worth the extra parses.
PEER_PREFIXES: dict[str, re.Pattern[str]] = {"FR": re.compile(r"0(?:26[239]|59[046]|639|69[0-7]|709)")}


def normalize(value: str, region: str = "FR") -> str | None:
    text = value.strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    region = region.upper()
    peers: tuple[str, ...] = ()
    prefixes = PEER_PREFIXES.get(region)
    if (prefixes is not None and not text.startswith("+")
            and prefixes.match("".join(c for c in text if c.isdigit()))):
        peers = NATIONAL_PEERS[region]
    import phonenumbers  # imported on first use: not at start-up

    for r in (region, *peers):
        try:
            parsed = phonenumbers.parse(text, r)
        except phonenumbers.NumberParseException:
            return None
        if phonenumbers.is_valid_number(parsed):
            return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return None


# Ten national digits in any grouping ("06 12 345 678", "0692 12 34 56"): what phonenumbers'
# matcher leaves for the region's peers (NATIONAL_PEERS) is tried with them.
_NATIONAL = re.compile(r"(?<![0-9])0[1-9](?:[ .\-]?[0-9]){8}(?![0-9])")


def find_phones(data: bytes, start: int, end: int, region: str) -> list[Found]:
    """phonenumbers' own matcher on the decoded region (it knows every national format),
    then national numbers of the region's overseas peers, which it does not know."""
    text = data[start:end].decode("utf-8", "replace")
    out = _region_phones(data, start, text, region)
    prefixes = PEER_PREFIXES.get(region.upper())
    if prefixes is not None:
        taken = {s for s, _, _ in out}
        for m in _NATIONAL.finditer(text):
            if not prefixes.match(m.group(0).replace(" ", "").replace(".", "").replace("-", "")):
                continue  # a metropolitan number: phonenumbers' matcher had its chance
            s = start + len(text[:m.start()].encode("utf-8"))
            if s in taken or not digits_free(data, s):
                continue
            value = normalize(m.group(0), region)
            if value is not None:
                out.append((s, s + len(m.group(0).encode("utf-8")), value))
    return out


def _region_phones(data: bytes, start: int, text: str, region: str) -> list[Found]:
    import phonenumbers  # imported on first use: not at start-up

    out: list[Found] = []
    for pm in phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.VALID):
        s = start + len(text[:pm.start].encode("utf-8"))
        if not digits_free(data, s):
            continue  # "4.0612345678", "blk_-0612345678"
        value = normalize(pm.raw_string, region) if pm.raw_string.strip() else None
        if value is None:
            continue
        out.append((s, s + len(pm.raw_string.encode("utf-8")), value))
    return out


KIND = Kind(
    name="phone", normalize=normalize, domain=b"phone", weight=0.8, unique=True, native=0,
    detector=DetectorSpec(
        "phone number valid for its country (default region from the engine)",
        (rb"(?:\+|\b00)[1-9][0-9]{0,2}[ .\-]?(?:\(0\)[ .\-]?)?[0-9]",
         rb"\b0[1-9](?:[ .\-]?[0-9]){8}\b"),  # any grouping: "06 12 345 678"
        reach=18, after=24, custom=find_phones,
    ),
)
