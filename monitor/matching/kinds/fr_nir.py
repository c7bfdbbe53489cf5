"""fr_nir: the French social security number (NIR), 15 characters with its key, 2A/2B Corsica.

Fingerprinted without its 2-digit key (the first 13 characters), so that a dump quoting the
NIR without its key still matches. The C reader reads it among digit runs (code 1).
"""

from __future__ import annotations

from monitor.matching import _native, triggers
from monitor.matching.kinds._common import DIGITS_START, HS_DIGITS_START, SEPARATORS, text_of
from monitor.matching.kinds.base import DetectorSpec, Kind
from monitor.matching.lazy_re import lazy

_DIGITS = frozenset("0123456789")


def nir_key_ok(c: str) -> bool:
    """python-stdnum's `fr.nir.is_valid` for a 15-character compact value, without its
    exception machinery (~5x faster; a feed of record dumps checks ~100,000s of candidates):
    ASCII digits, department digits or 2A/2B, key = 97 - body mod 97. The tests check it
    against stdnum on random and edge values."""
    dept = c[5:7]
    if not _DIGITS.issuperset(c[:5]) or not _DIGITS.issuperset(c[7:]):
        return False
    if dept == "2A":
        body = c[:5] + "19" + c[7:13]
    elif dept == "2B":
        body = c[:5] + "18" + c[7:13]
    elif _DIGITS.issuperset(dept):
        body = c[:13]
    else:
        return False
    return f"{97 - int(body) % 97:02d}" == c[13:]


def _valid(compact: str) -> bool:
    if len(compact) != 15 or not nir_key_ok(compact):
        return False
    # stdnum checks format and key; also reject impossible sex digits and months, which
    # removes most random 15-digit numbers whose key happens to fit (1 in 97).
    if compact[0] not in "123478":
        return False
    month = int(compact[3:5])
    return 1 <= month <= 12 or 20 <= month <= 42 or 50 <= month <= 99


def normalize(value: str, region: str = "FR") -> str | None:
    compact = SEPARATORS.sub("", value).upper()
    return compact if _valid(compact) else None


def hashed(normalized: str) -> str | None:
    return normalized[:13] if len(normalized) >= 13 else None


_NIR = (rb"[1-478](?:[ .\-]?[0-9]{2}){2}[ .\-]?(?:[0-9]{2}|2[ABab])[ .\-]?[0-9]{3}"
        rb"[ .\-]?[0-9]{3}[ .\-]?[0-9]{2}")

KIND = Kind(
    name="fr_nir", normalize=normalize, domain=b"fr_nir", weight=0.95, unique=True,
    hashed=hashed, native=1,
    detector=DetectorSpec(
        "French social security number (NIR), key checked, 2A/2B Corsica",
        (HS_DIGITS_START + _NIR + rb"\b",),
        lazy(DIGITS_START + _NIR + rb"(?![0-9A-Za-z])"),
        lambda m, r: normalize(text_of(m)),
        reach=24, after=2, native=(triggers.NIR,), native_matches=_native.nir_matches,
    ),
)
