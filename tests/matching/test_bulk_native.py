"""_native.bulk_find (native/validate.c), the small-document path of the bulk detectors, against
the path it replaces: _native.triggers, then detectors.find on each detector's trigger ends.

Same findings, scale and disjointness for every document: matches at the very start and end,
non-ASCII combo lines (handed back to Python), the validation cap and the trigger cap; and
_native.bulk_summary's first finding and count of distinct values are those of the same list.
"""

from __future__ import annotations

import random
from array import array

import pytest
from _idgen import cards, ibans, nirs, spaced
from test_validate_native import combo_lines, random_text

from monitor.matching import _native
from monitor.matching import detectors as det
from monitor.matching.engine import bulk

GROUP = ("card", "combo", "fr_nir", "iban")  # the shipped C-triggered bulk detectors


def reference(names: tuple[str, ...], data: bytes, cap: int,
              limit: int) -> dict[str, tuple[list, float, bool]]:
    """The findings of the two-step path: every trigger, then `find` per detector."""
    wanted = 0
    for name in names:
        for tid in det.DETECTORS[name].native:
            wanted |= 1 << tid
    ends, over = _native.triggers(data, 0, len(data), wanted, cap)
    out = {}
    for name in names:
        d = det.DETECTORS[name]
        e = [x for tid in d.native for x in array("q", ends[tid])]
        if e:
            f = det.find(d, data, e, "FR", sum(over[tid] for tid in d.native),
                         max_validations=limit)
            out[name] = (f.found, f.scale, f.disjoint)
    return out


def native(names: tuple[str, ...], data: bytes) -> dict[str, tuple[list, float, bool]]:
    got = bulk.NativePlan.of(names).findings(data, "FR")
    return {n: (f.found, f.scale, f.disjoint) for n, f in got.items()}


def documents(rng: random.Random) -> list[bytes]:
    """Dumps, combo lists, chat-like noise; identifiers at the very start and end."""
    vals = nirs(30, seed=rng.randint(0, 99)) + cards(30, seed=rng.randint(0, 99))
    rows = "\n".join(f"{i};DUPONT;{spaced(v) if i % 3 else v}" for i, v in enumerate(vals))
    return [
        rows.encode(),
        (vals[0] + " " + rows + "\n" + vals[-1]).encode(),
        vals[0].encode(), vals[-1].encode(),
        combo_lines(rng, rng.randint(1, 200)),
        b"user@example.fr:hunter22",  # a combo line that is the whole document
        "jos\u00e9@example.fr:p\u00e4ssword\njean@example.fr:secret99\n".encode(),  # non-ASCII
        random_text(rng, rng.randint(0, 300)),
        "\n".join(ibans(5, seed=rng.randint(0, 99))).encode(),
        b"", b"no identifier here at all\n",
    ]


@pytest.mark.parametrize("names", [GROUP, ("combo",), ("card", "fr_nir"), ("iban",)])
@pytest.mark.parametrize("seed", range(4))
def test_bulk_find_gives_the_findings_of_find(names, seed):
    rng = random.Random(seed)
    for data in documents(rng):
        assert native(names, data) == reference(names, data, bulk.MAX_MATCHES_PER_PATTERN,
                                                det.MAX_VALIDATIONS), data[:200]


@pytest.mark.parametrize("seed", range(4))
def test_the_summary_counts_the_distinct_values_find_finds(seed):
    """bulk_summary's first finding and distinct values, before any list is built, are those
    of find's list; repeated values (combo lines again, in capitals too, one NIR on many rows)
    count once."""
    rng = random.Random(seed)
    twice = "".join(f"user{rng.randint(0, 20)}@example.fr:secret{i % 7}\n" for i in range(60))
    docs = [*documents(rng), (twice + twice.upper()).encode(),
            "\n".join(nirs(5, seed=seed) * 7).encode()]
    for data in docs:
        want = reference(GROUP, data, bulk.MAX_MATCHES_PER_PATTERN, det.MAX_VALIDATIONS)
        got = bulk.NativePlan.of(GROUP).findings(data, "FR")
        assert got.keys() == want.keys()
        for name, f in got.items():
            found = want[name][0]
            assert (f.first(), f.distinct()) == (found[0] if found else None,
                                                 len({v for _, _, v in found})), (name, data[:80])
    for data, name in ((docs[-2], "combo"), (docs[-1], "fr_nir")):  # counted in C, repeats
        f = bulk.NativePlan.of(GROUP).findings(data, "FR")[name]
        assert isinstance(f, det.CountedFindings) and 0 < f.distinct() < len(f.found)


@pytest.mark.parametrize("limit", [1, 2, 7, 40])
def test_the_validation_cap_and_scale_are_those_of_find(monkeypatch, limit):
    monkeypatch.setattr(det, "MAX_VALIDATIONS", limit)
    rng = random.Random(limit)
    for data in documents(rng):
        want = reference(GROUP, data, bulk.MAX_MATCHES_PER_PATTERN, limit)
        assert native(GROUP, data) == want
        for name, f in bulk.NativePlan.of(GROUP).findings(data, "FR").items():
            found = want[name][0]
            assert f.distinct() == len({v for _, _, v in found}), name
    many = "\n".join(nirs(60, seed=4)).encode()
    assert native(("fr_nir",), many)["fr_nir"][1] > 1.0  # capped: the count is extrapolated


@pytest.mark.parametrize("cap", [0, 1, 5])
def test_the_trigger_cap_counts_the_rest_as_unseen(monkeypatch, cap):
    monkeypatch.setattr(bulk, "MAX_MATCHES_PER_PATTERN", cap)
    data = ("\n".join(nirs(20, seed=2)) + "\n" + combo_lines(random.Random(2), 20).decode()).encode()
    got = native(GROUP, data)
    assert got == reference(GROUP, data, cap, det.MAX_VALIDATIONS)
    if cap:
        assert got["fr_nir"][1] > 1.0  # 20 triggers, `cap` kept: scaled up


def test_no_trigger_is_none_and_python_gets_sorted_ends():
    specs = bulk.NativePlan.of(GROUP).specs
    assert _native.bulk_find(b"nothing to see", 10, 10, specs) is None
    iban_only = tuple((m, -1, lines, r, a) for m, _, lines, r, a in specs)  # no C matcher
    text = "\n".join(ibans(3, seed=1)).encode() + b"\nfoo@example.fr:secret99"
    got = _native.bulk_find(text, 10, 10, iban_only)
    by_name = dict(zip(GROUP, got, strict=True))
    assert by_name["card"] is None and by_name["fr_nir"] is None
    for name in ("iban", "combo"):
        ends, unseen = by_name[name]
        assert ends == sorted(ends) and ends and unseen == 0
    with pytest.raises(ValueError, match="bad trigger mask or matcher"):
        _native.bulk_find(text, 10, 10, ((1, 9, False, 1, 1),))
