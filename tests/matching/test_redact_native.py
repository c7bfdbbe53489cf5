"""The C field masking of redaction (native/redact.c) against the Python definition it
replaces: each field keeps its first str.isalnum() character, its other ones become '*'.

Generated text mixes what decides the result: field separators, letters and digits of every
script (and Unicode digits, numerics, combining marks that are not alnum), '_', blanks.
"""

from __future__ import annotations

import random
import re

import pytest
from _idgen import nirs, spaced_nir

from monitor.matching import redact as r
from monitor.matching._native import (
    contains_any,
    longest_run,
    longest_word,
    mask_capitalised,
    mask_combos,
    mask_emails,
    mask_fields,
    mask_long_numbers,
    mask_nirs,
    one_line,
    redact_rows,
)
from monitor.matching.redact import MASK, redact

SEPARATORS = ("", ";", "|", "\t", ",")
ALPHABET = ("aZ09_ -.;|,\t\"'@é€ßİı٣²½Ⅻ\u0301\u200b日本\U0001d400\U0001f600"
            + "".join(chr(c) for c in range(0x80, 0x100)))


def python_mask_word(text: str) -> str:
    out, kept = [], False
    for c in text:
        if c.isalnum():
            out.append(c if not kept else MASK)
            kept = True
        else:
            out.append(c)
    return "".join(out)


def python_mask_fields(text: str, sep: str) -> str:
    if not sep:
        return python_mask_word(text)
    return sep.join(python_mask_word(f) for f in text.split(sep))


@pytest.mark.parametrize("sep", SEPARATORS)
def test_mask_fields_matches_python(sep: str) -> None:
    rng = random.Random(f"mask-{sep}")
    for _ in range(3000):
        text = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 40)))
        assert mask_fields(text, sep) == python_mask_fields(text, sep), (text, sep)


def test_every_code_point_classified_as_str_isalnum() -> None:
    text = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c < 0xE000)
    masked = mask_fields("x" + text, "")
    assert masked == "x" + "".join(MASK if c.isalnum() else c for c in text)


def test_longest_run_is_the_longest_match_of_the_class() -> None:
    """longest_run(text, extra) is the longest match of [\\w<extra>]+ (redact's guard)."""
    run = re.compile(r"[\w\-.~+=%]+")
    rng = random.Random("runs")
    for _ in range(5000):
        text = "".join(rng.choice(ALPHABET + "~+=%/:") for _ in range(rng.randint(0, 60)))
        assert longest_run(text, "-.~+=%") == max(map(len, run.findall(text)), default=0), text
    word = re.compile(r"\w")
    for c in map(chr, range(0x110000)):  # every code point: re's \w, as C classifies it
        assert longest_run(c, "") == (word.match(c) is not None), hex(ord(c))


def test_bad_separator_is_an_error() -> None:
    with pytest.raises(ValueError, match="one character"):
        mask_fields("a;b", ";;")


def test_dump_row_in_redaction_keeps_first_letters() -> None:
    # each field of the row keeps its first character only (the phone number is masked
    # by the long-number rule first, which keeps two digits)
    assert (redact("Jean Pierre;Dupont;12 rue des Lilas;0601020304")
            == "J*** ******;D*****;1* *** *** *****;0*********")


# The look-behind-first forms of the patterns redact.py writes class-first (for speed).
LOOKBEHIND_FIRST = {
    "_IBAN": r"(?<![A-Za-z0-9])([A-Z]{2}[0-9]{2})((?:[ ]?[A-Z0-9]){11,30})(?![A-Za-z0-9])",
}
PATTERN_PIECES = [*"0123456789  .-@_%+abzAZ\né日", "FR76", "2A", "example.fr", "1 85", "00"]


@pytest.mark.parametrize("name", sorted(LOOKBEHIND_FIRST))
def test_class_first_patterns_match_as_look_behind_first(name: str) -> None:
    ours, reference = getattr(r, name), re.compile(LOOKBEHIND_FIRST[name])
    rng = random.Random(name)
    for _ in range(20000):
        text = "".join(rng.choice(PATTERN_PIECES) for _ in range(rng.randint(0, 50)))
        assert ([(m.span(), m.groups()) for m in ours.finditer(text)]
                == [(m.span(), m.groups()) for m in reference.finditer(text)]), text


# The rows pass of redaction as it was written in Python (redact_rows replaces it).
_QUOTED = re.compile(r"""(["'])(.{1,200}?)\1""")
_KEY_FOLLOWS = re.compile(r"\s*:")


def python_redact_rows(text: str) -> str:
    def quoted(m: re.Match[str]) -> str:
        if _KEY_FOLLOWS.match(m.string, m.end()):  # a JSON key: kept
            return m[0]
        return m[1] + python_mask_word(m[2]) + m[1]

    lines = text.split("\n")
    for n, line in enumerate(lines):
        sep = next((s for s in (";", "|", "\t", ",") if line.count(s) >= (3 if s == "," else 2)),
                   None)
        if sep is None and '":' not in line:
            continue
        if '"' in line or "'" in line:
            line = _QUOTED.sub(quoted, line)
        if sep is not None:
            line = python_mask_fields(line, sep)
        lines[n] = line
    return "\n".join(lines)


ROW_PIECES = [*ALPHABET, "\n", '":', "':", '" :', '"\u2003:', '"\x1c:', '"\u00a0:', ":", "\r",
              '"' + "x" * 199 + '"', '"' + "y" * 200 + '"', "'" + "z" * 201 + "'", '""', "''",
              ";;", "||", "\t\t", ",,,", '{"name": "Jean", "nir": "1850375"}',
              "('Dupont', 'Jean', 'Paris')", "12;DUPONT;Jean\n", 'a,"b,c",d,e']


def test_redact_rows_matches_python() -> None:
    rng = random.Random("rows")
    for _ in range(20000):
        text = "".join(rng.choice(ROW_PIECES) for _ in range(rng.randint(0, 30)))
        assert redact_rows(text) == python_redact_rows(text), text
    for text in ("", "\n", "a;b;c", '"a";"bc";', "x\n'a' 'b'\n1;2;3\n", "é;ß;日本\n\U0001f600|a|b"):
        assert redact_rows(text) == python_redact_rows(text), text
    assert redact_rows('{"nom": "Dupont", "age": "42"}') == '{"nom": "D*****", "age": "4*"}'


# The combo-line pass of redaction as a regular expression (mask_combos replaces it).
_COMBO = re.compile(
    r"(?m)^([ \t]*(?:[^\s:;|@]{1,64}@[A-Za-z0-9.\-]+\.[A-Za-z]{2,24}|[A-Za-z0-9][A-Za-z0-9._\-]{2,63}))"
    r"([:;|])((?!//)[^\s:;|]{3,128})")
COMBO_PIECES = ["a", "Z", "0", ".", "-", "_", "@", "x.fr", "example.com", "a" * 63, "a" * 64,
                "b" * 65, ":", ";", "|", "//", "/", " ", "\t", "\n", "\r", "é", "日", "\u2003",
                "\x1c", "p" * 127, "q" * 129, "ab", "abc", "jean@mail.fr", "a@b.c", "x@y." + "z" * 25,
                "x@y." + "z" * 24, "@a.fr:", "http://x", "\U0001f600"]


def test_mask_combos_matches_the_regular_expression() -> None:
    rng = random.Random("combos")
    for _ in range(30000):
        text = "".join(rng.choice(COMBO_PIECES) for _ in range(rng.randint(0, 25)))
        assert mask_combos(text) == _COMBO.sub(lambda m: m[1] + m[2] + MASK * 8, text), text
    # at the very start and end of the text, on the last line without a newline
    assert mask_combos("jean@mail.fr:hunter22") == "jean@mail.fr:********"
    assert mask_combos("x\n  jdoe|s3cret") == "x\n  jdoe|********"
    assert mask_combos("http://example.com") == "http://example.com"


# The e-mail pass of redaction as a regular expression (mask_emails replaces it).
_EMAIL = re.compile(r"(?<![A-Za-z0-9._%+\-])([A-Za-z0-9])[A-Za-z0-9._%+\-]*"
                    r"(@[A-Za-z0-9.\-]+\.[A-Za-z]{2,24})")
EMAIL_PIECES = [*PATTERN_PIECES, "Z", "%", "+", ".c", ".co", "z" * 30, ":", "\U0001f600", "a@b.c",
                "x@y.", ".x1", "..", "@@", "jean.dupont@mail.fr"]


def test_mask_emails_matches_the_regular_expression() -> None:
    rng = random.Random("emails")
    for _ in range(30000):
        text = "".join(rng.choice(EMAIL_PIECES) for _ in range(rng.randint(0, 25)))
        assert mask_emails(text) == _EMAIL.sub(lambda m: f"{m[1]}***{m[2]}", text), text
    assert mask_emails("jean@mail.fr") == "j***@mail.fr"  # the whole text, at start and end
    assert mask_emails("a@b.com.x1 é@x.fr") == "a***@b.com.x1 é@x.fr"  # the last label tried first


# The NIR and long-number passes of redaction as regular expressions (mask_nirs and
# mask_long_numbers replace them); _mask keeps the separators.
_NIR = re.compile(r"(?<![0-9A-Za-z])([1-478][ .\-]?[0-9]{2}[ .\-]?[0-9]{2}[ .\-]?(?:[0-9]{2}|2[ABab]))"
                  r"([ .\-]?[0-9]{3}[ .\-]?[0-9]{3}[ .\-]?[0-9]{2})(?![0-9A-Za-z])")
_LONG_NUMBER = re.compile(r"(?<![0-9])([0-9]{2})((?:[ .\-]?[0-9]){6,})")
DIGIT_PIECES = [*"0123456789  .-_()aAbBzZé日\n", "2A", "2b", "1 85", "\U0001f600", "١", "²",
                *nirs(6, seed=3), *map(spaced_nir, nirs(6, seed=4)), "4111 1111 1111 1111"]


def test_mask_nirs_and_long_numbers_match_the_regular_expressions() -> None:
    rng = random.Random("digits")
    for _ in range(30000):
        text = "".join(rng.choice(DIGIT_PIECES) for _ in range(rng.randint(0, 25)))
        assert mask_nirs(text) == _NIR.sub(lambda m: m[1][0] + r._mask(m[1][1:] + m[2]), text), text
        assert mask_long_numbers(text) == _LONG_NUMBER.sub(lambda m: m[1] + r._mask(m[2]), text), text
    nir = nirs(1, seed=7)[0]
    assert mask_nirs(nir) == nir[0] + "*" * 14  # the whole text: at its start and its end
    assert mask_nirs(spaced_nir(nir) + "x") == spaced_nir(nir) + "x"  # a letter after: no NIR
    assert mask_long_numbers("0601020304") == "06********"
    assert mask_long_numbers("1234567") == "1234567"  # seven digits: too short


def test_contains_any_is_any_substring() -> None:
    rng = random.Random("contains")
    words = ("ab", "ax", "abx", "bab", "é", "日本", "\U0001f600", "x" * 5, "")  # shared starts
    for _ in range(5000):
        text = "".join(rng.choice(ALPHABET + "bx") for _ in range(rng.randint(0, 30)))
        needles = tuple(rng.sample(words, rng.randint(0, 4)))
        assert contains_any(text, needles) == any(n in text for n in needles), (text, needles)
    for text in ("ab", "xxab", "日本ab", "\U0001f600ab", "日本a", "a", ""):  # every str kind, edges
        for needles in (("ab",), ("b", "x"), ("日本",), ("",), ()):
            assert contains_any(text, needles) == any(n in text for n in needles), (text, needles)
    assert contains_any("…Bearer abc", r._AUTH_WORDS) is False  # case matters: lower() first
    with pytest.raises(TypeError):
        contains_any("abc", ["a"])  # a tuple of str only


# The capitalised-word pass of mask_names as a regular expression (mask_capitalised replaces it).
_WORD = re.compile(r"(?<![^\W_])[^\W\d_][^\W_]*(?:-[^\W_]+)*")


def python_mask_name(m: re.Match[str]) -> str:
    word, first = m[0], m[0][0]
    if not (first.isupper() or first.istitle()) or word in r._LABELS:
        return word
    if m.string.startswith(MASK, m.end()):
        return word
    return first + "".join(c if c == "-" else MASK for c in word[1:])


WORD_PIECES = ["Jean", "Pierre", "-", "Dupont", "d'", "Artagnan", "BEGIN", "KEY", "Keyx", "*", "a",
               "É", "é", "ǅ", "Ⅻ", "²", "٣", "_", "1", "A1", "\n", " ", "İ", "ß", "日本", "Σ", "AKIA",
               "\U0001d400", "--", "-a"]


def test_mask_capitalised_matches_the_regular_expression() -> None:
    rng = random.Random("words")
    for _ in range(30000):
        text = "".join(rng.choice(WORD_PIECES) for _ in range(rng.randint(0, 15)))
        assert mask_capitalised(text, r._LABELS) == _WORD.sub(python_mask_name, text), text
    chars = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c < 0xE000)
    for k in range(0, len(chars), 4096):  # every code point as a word start and inside one
        text = " ".join(chars[k:k + 4096]) + " " + " ".join("A" + c + "b" for c in chars[k:k + 4096])
        assert mask_capitalised(text, r._LABELS) == _WORD.sub(python_mask_name, text), k
    assert mask_capitalised("Jean-Pierre BEGIN", r._LABELS) == "J***-****** BEGIN"


def test_longest_word_is_the_longest_item_of_split() -> None:
    rng = random.Random("split")
    for _ in range(5000):
        text = "".join(rng.choice(ALPHABET + "\u2003\x1c\n\r\x85") for _ in range(rng.randint(0, 40)))
        assert longest_word(text) == max(map(len, text.split()), default=0), text


_BLANKS = re.compile(r"[\s\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\ufeff]+")  # one_line's runs


def test_one_line_is_the_blank_runs_as_one_space() -> None:
    chars = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c < 0xE000)
    for k in range(0, len(chars), 4096):  # every code point, alone between letters and at the ends
        text = "a".join(chars[k:k + 4096])
        assert one_line(text) == _BLANKS.sub(" ", text).strip(), k
        assert one_line(chars[k:k + 4096]) == _BLANKS.sub(" ", chars[k:k + 4096]).strip(), k
    rng = random.Random("blanks")
    for _ in range(5000):
        text = "".join(rng.choice(ALPHABET + "\n\r\x00\x7f\x9f\u200b\u2028\ufeff\u3000") for _ in range(rng.randint(0, 30)))
        assert one_line(text) == _BLANKS.sub(" ", text).strip(), text
    assert one_line(" \n a \t\u200b b \x00") == "a b"
