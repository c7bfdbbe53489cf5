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
from array import array
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import cast

from monitor.matching import _native, identifiers, kinds, triggers
from monitor.matching.detector_base import Detector, Found, text_of, trigger
from monitor.matching.hyperscan_db import CASELESS, MULTILINE
from monitor.matching.kinds import Kind
from monitor.matching.kinds._common import DIGITS_START, HS_DIGITS_START, digits_free
from monitor.matching.kinds.base import NativeMatches
from monitor.matching.lazy_re import lazy
from monitor.matching.secrets import SECRET_DETECTORS
from monitor.matching.secrets.placeholders import random_enough

# DIGITS_START, HS_DIGITS_START, digits_free: the digit-start rule of the identifier kinds
# (kinds/_common.py), importable from here too.
__all__ = ["DETECTORS", "DIGITS_START", "HS_DIGITS_START", "AnyFindings", "CountedFindings",
           "Detector", "Findings", "Found", "digits_free", "find", "kind_detector"]

# A dump can hold millions of candidates and a checksum costs microseconds (an IBAN through
# python-stdnum ~25 us). Past this many validations per detector and document the detector
# stops and the count is extrapolated (see Findings.scale); hits and excerpts are unaffected.
MAX_VALIDATIONS = 500


_t = trigger
_text = text_of


# --- identifiers --------------------------------------------------------------------------

def kind_detector(kind: Kind) -> Detector:
    """The detector of an identifier kind, from its `DetectorSpec`."""
    spec = kind.detector
    if spec is None:
        raise ValueError(f"identifier kind {kind.name!r} has no detector")
    return Detector(kind.name, spec.description, tuple(_t(t) for t in spec.triggers),
                    spec.precise, spec.validate, reach=spec.reach, after=spec.after,
                    custom=spec.custom, native=spec.native,
                    native_matches=spec.native_matches)


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


_OTHERS: dict[str, Detector] = {
    d.name: d for d in (
        Detector(
            "private_key", "private key block (-----BEGIN ... PRIVATE KEY-----)",
            (_t(rb"-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----"),),
            lazy(rb"-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----[ \t]*\r?\n"
                       rb"(?:[A-Za-z\-]+:[^\n]*\r?\n)*\s*(?P<body>[A-Za-z0-9+/=]{32,})"),
            _private_key, reach=80, after=600,
        ),
        Detector(
            "aws_access_key", "AWS access key id (AKIA…, ASIA…)",
            (_t(rb"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA|ABIA|ACCA)[A-Z2-7]{16}\b"),),
            lazy(rb"(?<![A-Za-z0-9])(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA|ABIA|ACCA)"
                       rb"[A-Z2-7]{16}(?![A-Za-z0-9])"),
            _secret(0, 2.8), reach=22, after=2,
        ),
        Detector(
            "aws_secret_key", "AWS secret access key assigned to an aws…secret… name",
            (_t(rb"aws[A-Za-z0-9_\-]{0,20}secret[A-Za-z0-9_\-]{0,20}[\"']?[ \t]*[:=][ \t]*[\"']?"
                rb"[A-Za-z0-9/+]{40}", CASELESS),),
            lazy(rb"(?i)aws[a-z0-9_\-]{0,20}secret[a-z0-9_\-]{0,20}[\"']?[ \t]*[:=][ \t]*"
                       rb"[\"']?([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])"),
            _secret(1, 4.0), reach=140, after=4,
        ),
        Detector(
            "google_api_key", "Google API key (AIza…)",
            (_t(rb"AIza[0-9A-Za-z_\-]{35}"),),
            lazy(rb"(?<![A-Za-z0-9_\-])AIza[0-9A-Za-z_\-]{35}(?![A-Za-z0-9_\-])"),
            _secret(0, 3.5), reach=40, after=2,
        ),
        Detector(
            "stripe_key", "Stripe live secret or restricted key (sk_live_, rk_live_)",
            (_t(rb"\b[sr]k_live_[0-9A-Za-z]{24}"),),
            lazy(rb"(?<![A-Za-z0-9_])[sr]k_live_[0-9A-Za-z]{24,247}(?![A-Za-z0-9])"),
            _secret(0, 3.5), reach=34, after=256,
        ),
        Detector(
            "combo", "credential combo line: email:password or user:password (also ; and |)",
            (_t(rb"@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,24}[:;|][^\s:;|]"),
             _t(rb"^[ \t]*[A-Za-z0-9][A-Za-z0-9._\-]{2,}:[^\s:]{4,}[ \t]*\r?$", MULTILINE)),
            lazy(rb"^[ \t]*(?P<user>[^\s:;|@]{1,64}@[A-Za-z0-9.\-]+\.[A-Za-z]{2,24}|"
                       rb"[A-Za-z0-9][A-Za-z0-9._\-]{2,63})[:;|](?P<pw>(?!//)[^\s:;|]{3,128})"
                       rb"(?:[ \t]*[:;|][^\n]*)?[ \t]*\r?$", re.MULTILINE),
            _combo, lines=True,
            native=(triggers.COMBO_AT, triggers.COMBO_LINE),
            native_matches=_native.combo_matches,
        ),
    )
}
_OTHERS.update(SECRET_DETECTORS)  # one module per vendor family: monitor/matching/secrets/


class _Detectors(Mapping[str, Detector]):
    """Every detector by name: the identifier kinds' (from the registry, so that a kind
    registered later is here too), then the secrets and combo lines. Rebuilt only when the
    registry changes."""

    def __init__(self, others: dict[str, Detector]) -> None:
        self._others = others
        self._version = -1
        self._all: dict[str, Detector] = {}

    def _current(self) -> dict[str, Detector]:
        version = kinds.version()
        if version != self._version:
            built = {k.name: kind_detector(k) for k in kinds.all_kinds() if k.detector}
            clash = sorted(built.keys() & self._others.keys())
            if clash:
                raise ValueError(f"identifier kind(s) {', '.join(clash)} clash with a "
                                 "detector of the same name")
            self._all, self._version = {**built, **self._others}, version
        return self._all

    def __getitem__(self, name: str) -> Detector:
        return self._current()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._current())

    def __len__(self) -> int:
        return len(self._current())


DETECTORS: Mapping[str, Detector] = _Detectors(_OTHERS)


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
    disjoint: bool = False  # found is sorted by start, no two overlap, no value None (see find)

    def first(self) -> Found | None:
        """The first finding (by start when `disjoint`), None without any."""
        return self.found[0] if self.found else None

    def distinct(self) -> int:
        """How many different values were found."""
        return len({f[2] for f in self.found})


@dataclass(slots=True)
class CountedFindings:
    """Findings validated in C that are only counted (engine/bulk.py, `_native.bulk_summary`):
    the first one and the number of distinct values, which is all a rule that counts one
    detector's values needs, without a Python object for every other match; `found` builds
    the whole list on first use (the same `_native.bulk_find` gives), for a rule that mixes
    them with other matches."""

    head: Found | None
    values: int
    scale: float
    rest: Callable[[], list[Found]]  # the whole list, called once when `found` is read
    _found: list[Found] | None = None
    disjoint: bool = True

    @property
    def found(self) -> list[Found]:
        if self._found is None:
            self._found = self.rest()
        return self._found

    def first(self) -> Found | None:
        return self.head

    def distinct(self) -> int:
        return self.values


AnyFindings = Findings | CountedFindings  # what a detector found in a document


def _native_find(detector: Detector, matches: NativeMatches, data: bytes, ends: list[int],
                 region: str, limit: int, enough: int | None, found: dict[int, Found],
                 values: set[str]) -> int | None:
    """The region loop of `find` for a detector whose precise matches and validation are in
    C: the same regions (`_native.regions`), matches in the same order, the same caps; the
    end of the match at which a cap stopped, or None."""
    assert detector.precise is not None and detector.validate is not None
    spans = _native.regions(data, array("q", ends).tobytes(), detector.lines, detector.reach,
                            detector.after)
    results = matches(data, spans, limit)
    answers = [r[2] for r in results]
    if True not in answers:  # C decided every answer (True: a non-ASCII line, for Python)
        stop = None
        if len(results) >= limit:
            stop = results[-1][1]
        if enough is not None and enough <= len(results):  # where `enough` values are in
            seen: set[str | bool] = set()
            for i, a in enumerate(answers):
                if a is not None:
                    seen.add(a)
                    if len(seen) >= enough:
                        results, answers, stop = results[:i + 1], answers[:i + 1], results[i][1]
                        break
        for s, e, answer in reversed(results):  # reversed: the first match of a start is kept
            if isinstance(answer, str):
                found[s] = (s, e, answer)
        values.update(cast("list[str]", filter(None, answers)))  # no True here: str or None
        return stop
    for validations, (s, e, answer) in enumerate(results, start=1):
        if answer is True:  # C leaves this one to Python (non-ASCII): the same match
            m = detector.precise.match(data, s, e)
            value = detector.validate(m, region) if m is not None else None
        else:
            value = answer if isinstance(answer, str) else None
        if value is not None:
            found.setdefault(s, (s, e, value))
            values.add(value)
        if validations >= limit or (enough is not None and len(values) >= enough):
            return e
    return None


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

    if detector.native_matches is not None:
        stopped_at = _native_find(detector, detector.native_matches, data, ends, region, limit,
                                  enough, found, values)
    else:
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
    # Matches of one pattern in disjoint regions, in order: sorted, no two overlapping (a
    # custom detector's findings are not known to be).
    return Findings([found[k] for k in sorted(found)], scale, detector.custom is None)
