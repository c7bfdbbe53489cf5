"""date: a date in any written form, as an ISO date; the set's first date column is the
birth date that, with the last and first names, recognizes a record (matcher.py).

The C reader reads dates in the same forms (native/reader.c match_date) with MONTHS.
"""

from __future__ import annotations

import re
from datetime import date

from monitor.matching.kinds._common import fold
from monitor.matching.kinds.base import Kind

MONTHS: dict[str, int] = {  # folded month name -> number (the C reader gets it too)
    # French
    "janvier": 1, "janv": 1, "fevrier": 2, "fevr": 2, "fev": 2, "mars": 3, "avril": 4, "avr": 4,
    "mai": 5, "juin": 6, "juillet": 7, "juil": 7, "aout": 8, "septembre": 9, "octobre": 10,
    "novembre": 11, "decembre": 12,
    # English
    "january": 1, "jan": 1, "february": 2, "feb": 2, "march": 3, "mar": 3, "april": 4,
    "apr": 4, "may": 5, "june": 6, "jun": 6, "july": 7, "jul": 7, "august": 8, "aug": 8,
    "september": 9, "sep": 9, "sept": 9, "october": 10, "oct": 10, "november": 11, "nov": 11,
    "december": 12, "dec": 12,
}
_DATE_ISO = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[T ].*)?$")
_DATE_DMY = re.compile(r"^(\d{1,2})[-/. ](\d{1,2})[-/. ](\d{4})$")
_DATE_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_DATE_WORDS = re.compile(r"^(\d{1,2})(?:er|st|nd|rd|th)?\s+([a-z]+)\.?,?\s+(\d{4})$")
_DATE_WORDS_US = re.compile(r"^([a-z]+)\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})$")


def _iso(year: int, month: int, day: int) -> str | None:
    try:
        d = date(year, month, day)
    except ValueError:
        return None
    return d.isoformat() if 1850 <= d.year <= 2100 else None


def normalize_date(value: str, region: str = "FR") -> str | None:
    """ISO date from 1985-03-12, 12/03/1985, 12.03.1985, 12-03-1985, 19850312, 12 mars 1985,
    1er mars 1985, 12 March 1985, March 12, 1985. Numeric forms are read day first (French)."""
    text = fold(value).strip()
    if m := _DATE_ISO.match(text):
        return _iso(int(m[1]), int(m[2]), int(m[3]))
    if m := _DATE_DMY.match(text):
        return _iso(int(m[3]), int(m[2]), int(m[1]))
    if m := _DATE_COMPACT.match(text):
        return _iso(int(m[1]), int(m[2]), int(m[3]))
    if (m := _DATE_WORDS.match(text)) and m[2] in MONTHS:
        return _iso(int(m[3]), MONTHS[m[2]], int(m[1]))
    if (m := _DATE_WORDS_US.match(text)) and m[1] in MONTHS:
        return _iso(int(m[3]), MONTHS[m[1]], int(m[2]))
    return None


KIND = Kind(name="date", normalize=normalize_date, domain=b"date", weight=0.3, unique=False)
