"""Excerpts: about 200 redacted characters around a rule's first match, on one line."""

from __future__ import annotations

from monitor.matching._native import one_line
from monitor.matching.redact import redact

EXCERPT_CHARS = 200
# On one line: runs of white space, controls and invisible characters ([\s\x00-\x1f\x7f-\x9f
# \u200b-\u200f\u2028\u2029\ufeff]+) become one space, none at either end (native one_line).
_MARGIN = 48  # extra bytes redacted then dropped, so identifiers cut at the edge are masked
_SNAP_LIMIT = 64  # bytes a marker may move to reach white space
def excerpt(data: bytes, start: int, end: int, width: int = EXCERPT_CHARS, *,
            mask_names: bool = False) -> str:
    """About `width` characters around data[start:end], redacted, on one line.

    A wider window is redacted first (so an identifier cut by the window edge is still
    recognized and masked), with markers around the match; the final cut is made around the
    markers, since redaction may change lengths.
    """
    end = min(end, start + width)
    # Markers inside a token (an e-mail, a combo line) would stop the redaction patterns from
    # recognising it: move them out to the surrounding white space first.
    start, end = _snap_to_blanks(data, start, end)
    ctx = max(0, (width - (end - start)) // 2)
    a, b = _widen_to_blanks(data, max(0, start - ctx - _MARGIN), min(len(data), end + ctx + _MARGIN))
    text = (data[a:start].decode("utf-8", "replace") + "\x02"
            + data[start:end].decode("utf-8", "replace") + "\x03"
            + data[end:b].decode("utf-8", "replace"))
    text = redact(text, mask_names=mask_names)
    i, j = text.find("\x02"), text.find("\x03")
    if i < 0 or j < i:  # markers swallowed by a redaction: keep the middle
        half = len(text) // 2
        left, mid, right = text[:half], "", text[half:]
    else:
        left, mid, right = text[:i], text[i + 1:j], text[j + 1:]
    # A token the window's edge cuts (no blank near it) was not recognised by redaction
    # ("lydia.chatys@wanadoo.f" is no e-mail): it goes, whatever is cut off in the end. The
    # margin alone does not keep it out: masking shortens the text it redacts.
    if a > 0:
        left = left[_first_blank(left) + 1:]
    if b < len(data):
        right = right[:_last_blank(right)]
    if len(left) > ctx:
        left = left[-ctx:]
        cut = left.find(" ")
        left = "…" + (left[cut + 1:] if 0 <= cut < 24 else left)
    if len(right) > ctx:
        right = right[:ctx]
        cut = right.rfind(" ")
        right = (right[:cut] if cut > len(right) - 24 else right) + "…"
    out = (left + mid + right).replace("\x02", "").replace("\x03", "")
    # Redact again once the markers are gone: redaction is idempotent, and a token the
    # markers still split is whole again here.
    return one_line(redact(out, mask_names=mask_names))



def _widen_to_blanks(data: bytes, a: int, b: int) -> tuple[int, int]:
    """The window [a, b) widened to a blank at each end that is not the data's (within
    _SNAP_LIMIT bytes), blank included: the text redacted then holds whole tokens only."""
    if a > 0:
        lo = max(0, a - _SNAP_LIMIT)
        cut = max(data.rfind(b" ", lo, a), data.rfind(b"\n", lo, a), data.rfind(b"\t", lo, a))
        a = cut if cut >= 0 else lo
    if b < len(data):
        hi = min(len(data), b + _SNAP_LIMIT)
        stops = [i for i in (data.find(b" ", b, hi), data.find(b"\n", b, hi),
                             data.find(b"\t", b, hi)) if i >= 0]
        b = min(stops) + 1 if stops else hi
    return a, b


def _first_blank(text: str) -> int:
    """The index of the first blank (space, newline, tab) of `text`, len(text) if none."""
    found = [i for i in (text.find(" "), text.find("\n"), text.find("\t")) if i >= 0]
    return min(found) if found else len(text)


def _last_blank(text: str) -> int:
    """The index of the last blank of `text`, 0 if none."""
    return max(0, text.rfind(" "), text.rfind("\n"), text.rfind("\t"))


def _snap_to_blanks(data: bytes, start: int, end: int) -> tuple[int, int]:
    lo = max(0, start - _SNAP_LIMIT)
    cut = max(data.rfind(b" ", lo, start), data.rfind(b"\n", lo, start),
              data.rfind(b"\t", lo, start))
    if cut >= 0 or lo == 0:
        start = cut + 1
    hi = min(len(data), end + _SNAP_LIMIT)
    stops = [i for i in (data.find(b" ", end, hi), data.find(b"\n", end, hi),
                         data.find(b"\t", end, hi)) if i >= 0]
    if stops:
        end = min(stops)
    elif hi == len(data):
        end = hi
    return start, end
