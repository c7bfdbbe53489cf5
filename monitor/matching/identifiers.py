"""Validation and normalization of identifiers and record fields, one place for every kind.

Detectors call `is_valid` to decide whether a candidate counts; fingerprints call `normalize`
before hashing, on the imported CSV and on text found in documents, so that both sides of a
comparison agree. Checksums come from python-stdnum and phonenumbers, not from hand-written code.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

import phonenumbers
from stdnum import iban as _iban
from stdnum import luhn as _luhn
from stdnum.exceptions import ValidationError

KINDS: tuple[str, ...] = (
    "fr_nir", "email", "phone", "iban", "card", "first_name", "last_name", "date", "text",
)
# Kinds that identify one record (or a family) on their own; the rest only corroborate.
UNIQUE_KINDS: frozenset[str] = frozenset({"fr_nir", "email", "phone", "iban", "card"})

_SEPARATORS = re.compile(r"[\s.\-_/]+")
_NAME_SEPARATORS = re.compile(r"[\s.\-_'’`,;:/|]+")
# The local part may hold non-ASCII letters (RFC 6531: "chlipała@..."); domains are ASCII/IDNA.
_EMAIL = re.compile(r"^[\w!#$%&'*+/=?^`{|}~.-]+@[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*\.[a-z]{2,63}$")


def fold(text: str) -> str:
    """NFKC, case-fold and strip accents: "Société Générale" -> "societe generale"."""
    text = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text).casefold())
    return "".join(c for c in text if not unicodedata.combining(c))


# --- fr_nir -------------------------------------------------------------------------------

def _nir_compact(value: str) -> str:
    return _SEPARATORS.sub("", value).upper()


_DIGITS = frozenset("0123456789")


def _nir_key_ok(c: str) -> bool:
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


def _nir_valid(compact: str) -> bool:
    if len(compact) != 15 or not _nir_key_ok(compact):
        return False
    # stdnum checks format and key; also reject impossible sex digits and months, which
    # removes most random 15-digit numbers whose key happens to fit (1 in 97).
    if compact[0] not in "123478":
        return False
    month = int(compact[3:5])
    return 1 <= month <= 12 or 20 <= month <= 42 or 50 <= month <= 99


# --- card ---------------------------------------------------------------------------------

def _card_issuer_ok(number: str) -> bool:
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


def _card_normalize(value: str) -> str | None:
    number = _SEPARATORS.sub("", value)
    if not number.isdigit() or not 12 <= len(number) <= 19:
        return None
    if len(set(number)) == 1:  # 0000 0000 0000 0000 passes Luhn; no issuer uses it
        return None
    if not _luhn.is_valid(number) or not _card_issuer_ok(number):
        return None
    return number


# --- phone, email, iban -------------------------------------------------------------------

# Overseas departments dialled with France's trunk 0 but their own country code: "0692 12 34
# 56" written in France is +262 692 12 34 56 (Réunion). Saint-Barthélemy and Saint-Martin
# share +590 with Guadeloupe, so GP covers them.
NATIONAL_PEERS: dict[str, tuple[str, ...]] = {"FR": ("RE", "YT", "GP", "MQ", "GF")}
# National prefixes of those peers (trunk 0 included): only these are worth the extra parses.
PEER_PREFIXES: dict[str, re.Pattern[str]] = {"FR": re.compile(r"0(?:26[239]|59[046]|639|69[0-7]|709)")}


def _phone_normalize(value: str, region: str) -> str | None:
    text = value.strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    region = region.upper()
    peers: tuple[str, ...] = ()
    prefixes = PEER_PREFIXES.get(region)
    if (prefixes is not None and not text.startswith("+")
            and prefixes.match("".join(c for c in text if c.isdigit()))):
        peers = NATIONAL_PEERS[region]
    for r in (region, *peers):
        try:
            parsed = phonenumbers.parse(text, r)
        except phonenumbers.NumberParseException:
            return None
        if phonenumbers.is_valid_number(parsed):
            return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return None


def _email_normalize(value: str) -> str | None:
    text = value.strip().strip("<>\"'").lower()
    if text.startswith("mailto:"):
        text = text[7:]
    return text if len(text) <= 254 and _EMAIL.match(text) else None


def _iban_normalize(value: str) -> str | None:
    try:
        return _iban.validate(_SEPARATORS.sub("", value).upper())
    except ValidationError:
        return None


# --- dates --------------------------------------------------------------------------------

_MONTHS = {
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
MONTHS: dict[str, int] = _MONTHS  # folded month name -> number (fingerprint scans use it too)
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


def normalize_date(value: str) -> str | None:
    """ISO date from 1985-03-12, 12/03/1985, 12.03.1985, 12-03-1985, 19850312, 12 mars 1985,
    1er mars 1985, 12 March 1985, March 12, 1985. Numeric forms are read day first (French)."""
    text = fold(value).strip()
    if m := _DATE_ISO.match(text):
        return _iso(int(m[1]), int(m[2]), int(m[3]))
    if m := _DATE_DMY.match(text):
        return _iso(int(m[3]), int(m[2]), int(m[1]))
    if m := _DATE_COMPACT.match(text):
        return _iso(int(m[1]), int(m[2]), int(m[3]))
    if (m := _DATE_WORDS.match(text)) and m[2] in _MONTHS:
        return _iso(int(m[3]), _MONTHS[m[2]], int(m[1]))
    if (m := _DATE_WORDS_US.match(text)) and m[1] in _MONTHS:
        return _iso(int(m[3]), _MONTHS[m[1]], int(m[2]))
    return None


# --- names and free text ------------------------------------------------------------------

def normalize_name(value: str) -> str | None:
    """Folded name with separators collapsed: "Jean-Pierre" and "JEAN PIERRE" -> "jean pierre"."""
    text = _NAME_SEPARATORS.sub(" ", fold(value)).strip()
    return text or None


def normalize_text(value: str) -> str | None:
    text = " ".join(fold(value).split())
    return text or None


# --- public API ---------------------------------------------------------------------------

def normalize(kind: str, value: str, *, region: str = "FR") -> str | None:
    """The canonical form of `value` as a `kind`, or None when it is not a usable value."""
    if value is None:
        return None
    value = str(value)
    if not value.strip():
        return None
    match kind:
        case "fr_nir":
            compact = _nir_compact(value)
            return compact if _nir_valid(compact) else None
        case "email":
            return _email_normalize(value)
        case "phone":
            return _phone_normalize(value, region)
        case "iban":
            return _iban_normalize(value)
        case "card":
            return _card_normalize(value)
        case "first_name" | "last_name":
            return normalize_name(value)
        case "date":
            return normalize_date(value)
        case "text":
            return normalize_text(value)
    raise ValueError(f"unknown field kind {kind!r}; expected one of {', '.join(KINDS)}")


def is_valid(kind: str, value: str, *, region: str = "FR") -> bool:
    """True when `value` is a well-formed `kind` whose checksums (if any) are right."""
    return normalize(kind, value, region=region) is not None
