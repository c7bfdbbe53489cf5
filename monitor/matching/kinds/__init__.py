"""The registry of identifier kinds: one module per kind, read by every consumer.

`identifiers` (normalize, validate), `detectors` (DETECTORS), `fingerprints.hashing`
(DOMAINS, the hashed form), `fingerprints.matcher` (WEIGHTS, field order),
`fingerprints.build` (the unique kinds, the "no unique identifier" warning) and
`fingerprints.candidates` (the C reader's kind codes and hash domains) all read the `Kind`
records here instead of keeping tables of their own. Adding a kind is one module with a
`Kind` (see base.py), its line in BUILTIN and its tests; a kind the C reader cannot read
gives a Python `find`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TypeVar

from monitor.matching.kinds import be_nn, card, date, email, fr_nir, iban, name, phone, text
from monitor.matching.kinds.base import DetectorSpec, Kind

__all__ = [
    "BUILTIN", "Column", "DetectorSpec", "Kind", "all_kinds", "get", "names", "position", "register",
    "unique_names", "unregister", "version",
]

# In this order: it is the order of `--field` kinds in help and errors and of RecordMatch.fields.
BUILTIN: tuple[Kind, ...] = (
    fr_nir.KIND, email.KIND, phone.KIND, iban.KIND, card.KIND, name.FIRST, name.LAST,
    date.KIND, text.KIND, be_nn.KIND,
)

_kinds: dict[str, Kind] = {}
_order: dict[str, int] = {}
_version = 0  # bumped by every change, for consumers that cache what they build from kinds


def register(kind: Kind) -> Kind:
    """Add `kind`; ValueError when its name is taken or it would share a hash domain or a C
    reader code with a kind that hashes differently."""
    if kind.name in _kinds:
        raise ValueError(f"identifier kind {kind.name!r} is already registered")
    for other in _kinds.values():
        if other.domain == kind.domain and not (
                other.hashed is kind.hashed and other.normalize is kind.normalize
                and not kind.unique):
            raise ValueError(f"kind {kind.name!r}: hash domain {kind.domain!r} is already "
                             f"used by {other.name!r}")
        if kind.native is not None and other.native == kind.native:
            raise ValueError(f"kind {kind.name!r}: C reader code {kind.native} is already "
                             f"used by {other.name!r}")
    global _version
    _kinds[kind.name] = kind
    _order[kind.name] = len(_order)
    _version += 1
    return kind


def unregister(name: str) -> None:
    """Remove a kind added with `register` (a plug-in, a test's throw-away kind)."""
    global _version
    del _kinds[name]
    _version += 1
    _order.clear()
    _order.update((n, i) for i, n in enumerate(_kinds))


def get(name: str) -> Kind:
    """The kind `name`; ValueError naming the known kinds when there is none."""
    try:
        return _kinds[name]
    except KeyError:
        raise ValueError(
            f"unknown field kind {name!r}; expected one of {', '.join(_kinds)}") from None


def names() -> tuple[str, ...]:
    """Every kind's name, in registry order."""
    return tuple(_kinds)


def unique_names() -> frozenset[str]:
    """Kinds that identify a record (or a family) on their own; the rest only corroborate."""
    return frozenset(k.name for k in _kinds.values() if k.unique)


def all_kinds() -> tuple[Kind, ...]:
    return tuple(_kinds.values())


def version() -> int:
    """Changes whenever a kind is registered or removed."""
    return _version


def position(name: str) -> int:
    """The registry rank of kind `name` (fields are listed in this order)."""
    return _order[name]


T = TypeVar("T")


class Column(Mapping[str, T]):
    """One attribute of every kind, by kind name, read from the registry at each lookup (so a
    kind registered later is in it too): `Column(lambda k: k.domain)` is the table of hash
    domains. A name that is no kind is a KeyError, as in a dict."""

    def __init__(self, attribute: Callable[[Kind], T]) -> None:
        self._attribute = attribute

    def __getitem__(self, kind: str) -> T:
        found = _kinds.get(kind)
        if found is None:
            raise KeyError(kind)
        return self._attribute(found)

    def __iter__(self) -> Iterator[str]:
        return iter(tuple(_kinds))

    def __len__(self) -> int:
        return len(_kinds)


for _kind in BUILTIN:
    register(_kind)
del _kind
