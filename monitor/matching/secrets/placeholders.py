"""Is this token a real secret or a placeholder from documentation and tutorials?

Real keys are random: high entropy, no words like EXAMPLE or your_token_here, no long runs of
one character, no ascending filler. Every secret detector asks `random_enough` last.
"""

from __future__ import annotations

import math
import re

_PLACEHOLDER = re.compile(
    r"example|xxxx|your|dummy|sample|redacted|placeholder|changeme|replace|insert|"
    r"token_?here|key_?here|secret_?here|0000000|1234567|abcdef|fake|lorem|\*{3}|\.\.\.|<|>|"
    r"\$\{|\{\{", re.I)
_REPEAT = re.compile(r"(.)\1{5,}")


def entropy(token: str) -> float:
    """Shannon entropy in bits per character."""
    if not token:
        return 0.0
    counts = {c: token.count(c) for c in set(token)}
    n = len(token)
    return -sum(k / n * math.log2(k / n) for k in counts.values())


def is_placeholder(token: str, repeats: bool = True) -> bool:
    """EXAMPLE, xxxx, your_token_here, ${VAR}, <key>, six times the same character (unless
    `repeats` is off: encoded binary such as an OpenSSH key holds runs of A)..."""
    # A long random body holds a short word by chance ("your" in 1 of ~30 PEM bodies):
    # there only its ends are read for words; filler in the middle fails the entropy test.
    words = token if len(token) <= 64 else token[:32] + " " + token[-32:]
    return bool(_PLACEHOLDER.search(words) or (repeats and _REPEAT.search(token)))


def random_enough(token: str, min_bits: float = 3.0, *, repeats: bool = True) -> bool:
    """Not a placeholder, and random enough (bits per character) to be a generated key."""
    return (bool(token) and not is_placeholder(token, repeats)
            and entropy(token) >= min_bits)
