"""Excerpts: about 200 redacted characters around a rule's first match, on one line."""

from __future__ import annotations

import re

from monitor.matching._native import excerpt_window, one_line
from monitor.matching.redact import redact

EXCERPT_CHARS = 200
# On one line: runs of white space, controls and invisible characters ([\s\x00-\x1f\x7f-\x9f
# \u200b-\u200f\u2028\u2029\ufeff]+) become one space, none at either end (native one_line).
_MARGIN = 48  # bytes redacted beyond those shown: their context (a label before a secret)
_SNAP_LIMIT = 64  # bytes a marker (or the window's edge) may move to reach white space
_BLANK = re.compile("[ \n\t]")


def excerpt(data: bytes, start: int, end: int, width: int = EXCERPT_CHARS, *,
            mask_names: bool = False) -> str:
    """About `width` characters around data[start:end], redacted, on one line.

    A wider window, its edges moved to blanks, is redacted first (every identifier in it is
    whole when redaction looks for it; a token an edge still cuts is dropped), with markers
    around the match; the final cut is made around the markers, since redaction changes
    lengths.
    """
    # The match moved out to the blanks around it (markers inside a token, an e-mail or a
    # combo line, would stop the redaction patterns from recognising it), and the window
    # redacted widened to blanks: one C call (native excerpt_window).
    a, start, end, b, ctx = excerpt_window(data, start, end, width, _MARGIN, _SNAP_LIMIT)
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
        blank = _BLANK.search(left)
        left = left[blank.end():] if blank else ""
    if b < len(data):
        right = right[:max(0, right.rfind(" "), right.rfind("\n"), right.rfind("\t"))]
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

