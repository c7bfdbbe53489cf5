"""card: a payment card number, Luhn checked, with a plausible issuer and length.

The C reader reads it among digit runs (code 2).
"""

from __future__ import annotations

from monitor.matching import _native, triggers
from monitor.matching.kinds._common import (
    DIGITS_START,
    HS_DIGITS_START,
    SEPARATORS,
    shrinking,
)
from monitor.matching.kinds.base import DetectorSpec, Kind
from monitor.matching.lazy_re import lazy


def issuer_ok(number: str) -> bool:
    """Does the length fit the issuer the first digits name?"""
    n = len(number)
    p2, p4 = int(number[:2]), int(number[:4])
    if number[0] == "4":  # Visa
        return n in (13, 16, 19)
    if 51 <= p2 <= 55 or 2221 <= p4 <= 2720:  # Mastercard
        return n == 16
    if p2 in (34, 37):  # American Express
        return n == 15
    if number.startswith("6011") or p2 == 65 or 644 <= int(number[:3]) <= 649:  # Discover
        return 16 <= n <= 19
    if 3528 <= p4 <= 3589:  # JCB
        return 16 <= n <= 19
    if p2 in (36, 38, 39) or 300 <= int(number[:3]) <= 305:  # Diners Club
        return 14 <= n <= 19
    if p2 == 62:  # UnionPay
        return 16 <= n <= 19
    if p2 == 50 or 56 <= p2 <= 69:  # Maestro
        return 12 <= n <= 19
    return False


def normalize(value: str, region: str = "FR") -> str | None:
    number = SEPARATORS.sub("", value)
    if not number.isdigit() or not 12 <= len(number) <= 19:
        return None
    if len(set(number)) == 1:  # 0000 0000 0000 0000 passes Luhn; no issuer uses it
        return None
    import stdnum.luhn  # imported on first use: not at start-up

    if not stdnum.luhn.is_valid(number) or not issuer_ok(number):
        return None
    return number


_CARD = rb"[2-6][0-9]{3}(?:[ \-]?[0-9]){9,15}"

KIND = Kind(
    name="card", normalize=normalize, domain=b"card", weight=0.95, unique=True, native=2,
    detector=DetectorSpec(
        "payment card number: Luhn and a plausible issuer and length",
        (HS_DIGITS_START + rb"[2-6][0-9]{3}(?:[ \-]?[0-9]){8}",),
        lazy(DIGITS_START + _CARD + rb"(?![0-9])"),
        lambda m, r: shrinking(m, normalize, r, 12),
        reach=22, after=12, native=(triggers.CARD,), native_matches=_native.card_matches,
    ),
)
