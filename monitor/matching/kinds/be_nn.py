"""be_nn: the Belgian national number (NN, NISS, RRN), 11 digits, checked by python-stdnum.

Written "85.07.30-033.28", "85 07 30 033 28" or "85073003328"; kept and hashed as its 11
digits. The C candidate reader has no function for it: when a set holds this kind, `find`
reads its candidates in Python (one regular expression over the document).
"""

from __future__ import annotations

from monitor.matching.kinds._common import DIGITS_START, HS_DIGITS_START, text_of
from monitor.matching.kinds.base import DetectorSpec, Kind
from monitor.matching.lazy_re import lazy

_SEP = rb"[ .\-]?"
_NN = rb"[0-9]{2}" + _SEP + rb"[0-9]{2}" + _SEP + rb"[0-9]{2}" + _SEP + rb"[0-9]{3}" + _SEP + \
    rb"[0-9]{2}"
_PRECISE = lazy(DIGITS_START + _NN + rb"(?![0-9A-Za-z])")


def normalize(value: str, region: str = "FR") -> str | None:
    """The 11 digits when the number is a valid NN (date part, counter, check digits)."""
    import stdnum.be.nn  # imported on first use: not at start-up

    nn = stdnum.be.nn
    return nn.compact(value) if nn.is_valid(value) else None


def find(data: bytes, region: str) -> list[tuple[int, str]]:
    """(offset, 11 digits) of each valid NN written in `data`."""
    out: list[tuple[int, str]] = []
    for m in _PRECISE.finditer(data):
        value = normalize(m.group(0).decode("ascii"))
        if value is not None:
            out.append((m.start(), value))
    return out


KIND = Kind(
    name="be_nn", normalize=normalize, domain=b"be_nn", weight=0.95, unique=True, find=find,
    detector=DetectorSpec(
        "Belgian national number (NN/NISS/RRN), check digits verified",
        (HS_DIGITS_START + _NN + rb"\b",),
        _PRECISE,
        lambda m, r: normalize(text_of(m)),
        reach=20, after=2,
    ),
)
