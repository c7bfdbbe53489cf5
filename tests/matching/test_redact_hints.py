"""redact() on the bits of one C pass (native/redact.c redact_hints) against the chain of
Python tests it replaces.

Each bit is checked against its Python expression (kept here as the oracle) on generated
strings mixing the trigger words in every case, digits, separators, '*', white space of
every kind and the non-ASCII letters whose lower case is special ('İ' lowers to two
characters, the Kelvin sign to 'k'; 'ı' and 'ſ' stay themselves). Then redact() is checked
against a copy of the redact() that asked the chain (`old_redact`, on the same patterns) on
excerpts built from fragments of every family, with mask_names True and False.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from monitor.matching import redact as r
from monitor.matching._native import (
    contains_any,
    longest_run,
    longest_word,
    mask_combos,
    mask_emails,
    mask_long_numbers,
    mask_nirs,
    redact_hints,
    redact_hints_late,
    redact_rows,
)
from monitor.matching.redact import MASK, redact


def _lower_hint(words: tuple[str, ...]) -> Callable[[str], bool]:
    return lambda t: contains_any(t.lower(), words)


# Each bit and the expression redact() used to compute (on the text at that point).
ORACLES: dict[str, Callable[[str], bool]] = {
    "HINT_PRIVATE_KEY": lambda t: "PRIVATE KEY" in t,
    "HINT_AUTH_WORD": _lower_hint(r._AUTH_WORDS),
    "HINT_TOKEN_PREFIX": lambda t: contains_any(t, r._TOKEN_PREFIXES),
    "HINT_URL": lambda t: "://" in t,
    "HINT_SECRET": lambda t: (contains_any(t.lower(), r._SECRET_WORDS)
                              and r._SECRET_HINT.search(t.lower()) is not None),
    "HINT_CARD_WORD": _lower_hint(r._CARD_WORDS),
    "HINT_COMBO_PUNCT": lambda t: ":" in t or ";" in t or "|" in t,
    "HINT_AT": lambda t: "@" in t,
    "HINT_DIGIT_RUN": lambda t: r._DIGIT_RUN.search(t) is not None,
    "HINT_IBAN": lambda t: r._IBAN_HINT.search(t) is not None,
    "HINT_PHONE": lambda t: r._PHONE_HINT.search(t) is not None,
    "HINT_WORD20": lambda t: longest_word(t) >= 20,
    "HINT_RUN20": lambda t: longest_run(t, r._MIXED_EXTRA) >= 20,
    "HINT_WORD40": lambda t: longest_word(t) >= 40,
    "HINT_BLOB40": lambda t: longest_run(t, "+/") >= 40,
    "HINT_YEAR": lambda t: "19" in t or "20" in t,
    "HINT_DMY": lambda t: r._DMY_HINT.search(t) is not None,
    "HINT_YMD": lambda t: r._YMD_HINT.search(t) is not None,
    "HINT_DIGIT": lambda t: any(map(str.isdigit, t)),
}

WORDS = ("authorization", "Authorization", "AUTHORİZATION", "bearer", "BeArEr", "basic",
         "BASIC", "secret", "SECRET", "pass", "Pass", "password", "PASSWD", "pwd", "token",
         "TOKEN", "toKen", "key", "KEY", "Key", "mdp", "MDP", "mot de passe", "Mot De Passe",
         "api_key", "apikey", "access-key", "cvv", "CVV", "cvc", "Cvc", "cryptogramme",
         "PRIVATE KEY", "private key", "PRIVATE  KEY", "AKIA", "ASIA", "AIza", "ACCA", "AGPA",
         "AIDA", "AROA", "ANPA", "ANVA", "AIPA", "ABIA", "ghp_",
         "gh", "xox", "xoxb-", "sk_live_", "k_test_", "eyJ", "EYJ", "://", ":/", "http", "@",
         "19", "20", "1985", "2024", "1.9", "FR76", "GB", "DE89", "+33", "+0", "0033", "00",
         "000", "( 06 )", "/1985", "-2024", ".19", "1985/", "2001.", "2020-", "/20", "İ", "ı", "ſ", "\u212a", "K", "é", "…", "😀", "日本", "٣", "²")
CHARS = ("aZ09_-.~+=%/:;|@\"'*() \t\n\r\x0b\x0c\x1c\x1f\x85\xa0\u2003\u3000"
         "İıſ\u212a\u0307éß…😀٣²")


def _hint_text(rng: random.Random) -> str:
    parts = []
    for _ in range(rng.randint(0, 12)):
        k = rng.random()
        if k < 0.4:
            parts.append(rng.choice(WORDS))
        elif k < 0.6:
            parts.append("".join(rng.choice("0123456789") for _ in range(rng.randint(1, 8))))
        elif k < 0.7:  # long words and runs, around the 20 and 40 thresholds
            alphabet = rng.choice(("aB9_+/-.=~%", "aB9_+/", "aB9_-.", "aB9 "))
            parts.append("".join(rng.choice(alphabet)
                                 for _ in range(rng.choice((18, 19, 20, 21, 39, 40, 41)))))
        elif k < 0.75:  # a secret's label: root, 0-26 label characters, quote, blanks, : or =
            parts.append(rng.choice(("secret", "pass", "PWD", "token", "to\u212aen", "Key", "mdp"))
                         + "".join(rng.choice("aZ9_-İ") for _ in range(rng.choice((0, 23, 24, 25))))
                         + rng.choice(("", '"', "'", "''")) + rng.choice(("", " ", "\u3000", "\n"))
                         + rng.choice(":= x"))
        else:
            parts.append("".join(rng.choice(CHARS) for _ in range(rng.randint(1, 4))))
    return "".join(parts)


# the bits redact_hints_late has (the others are 0 there)
LATE = sum(getattr(r, n) for n in ORACLES) & -r.HINT_COMBO_PUNCT


def test_bits_are_the_module_constants() -> None:
    names = [n for n in dir(r) if n.startswith("HINT_")]
    assert sorted(names) == sorted(ORACLES)
    bits = [getattr(r, n) for n in names]
    assert all(b and b & (b - 1) == 0 for b in bits) and len(set(bits)) == len(bits)


@pytest.mark.parametrize("seed", range(4))
def test_each_bit_is_its_python_test(seed: int) -> None:
    rng = random.Random(f"hints-{seed}")
    seen = {name: [0, 0] for name in ORACLES}
    for _ in range(5000):
        text = _hint_text(rng)
        h = redact_hints(text)
        for name, oracle in ORACLES.items():
            want = bool(oracle(text))
            assert bool(h & getattr(r, name)) == want, (name, text)
            seen[name][want] += 1
        assert redact_hints_late(text) == h & LATE, text
    # every bit was seen both ways, often: the comparison above tested something
    assert all(no > 100 and yes > 100 for no, yes in seen.values()), str(seen)


@pytest.mark.parametrize("text", [
    "", "PRIVATE KEY", "authorİzation", "basİc", "bearer", "toKen=x", "to\u212aen:",
    "password\u3000: x", "password\u00a0x", "key" + "a" * 24 + "=", "key" + "a" * 25 + "=",
    "passİ: x", "mot de passe x", "pwd\tx", 'secret" \n :', "secret'' :", "x" * 2000 + "@",
    "İ" * 3000 + "PRIVATE KEY", "1 2 3 4 5 6 7", "1 2 3 4 5 6", "(1)...(7)", "12/1985",
    "/1985", "1985-", "198-", "+1", "+0", "0001", "001", "GB12", "Gb12", "٣٣٣٣٣٣٣٣",
])
def test_edge_cases(text: str) -> None:
    h = redact_hints(text)
    for name, oracle in ORACLES.items():
        assert bool(h & getattr(r, name)) == bool(oracle(text)), (name, text)
    assert redact_hints_late(text) == h & LATE


def test_not_a_str() -> None:
    with pytest.raises(TypeError):
        redact_hints(b"PRIVATE KEY")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        redact_hints_late(None)  # type: ignore[arg-type]


def old_redact(text: str, *, mask_names: bool = False) -> str:
    """redact() as it was before redact_hints: the chain of tests, each on the text then."""
    if "PRIVATE KEY" in text:
        text = r._PEM.sub(
            lambda m: f"{m[1]} [REDACTED] {m[3]}" if m[3] else f"{m[1]} [REDACTED]", text)
    lower = text.lower()
    if contains_any(lower, r._AUTH_WORDS):
        text = r._AUTH_HEADER.sub(lambda m: m[1] + MASK * 8, text)
        text = r._AUTH_SCHEME.sub(lambda m: m[1] + MASK * 8, text)
    if contains_any(text, r._TOKEN_PREFIXES):
        text = r._TOKENS.sub(lambda m: m[1] + MASK * min(len(m[2]), 12), text)
    if "://" in text:
        text = r._URL_PASSWORD.sub(lambda m: m[1] + MASK * 8 + m[3], text)
    lower = text.lower()
    if contains_any(lower, r._SECRET_WORDS) and r._SECRET_HINT.search(lower):
        text = r._SECRET_ASSIGN.sub(lambda m: m[1] + MASK * 8, text)
        text = r._SECRET_SPACED.sub(lambda m: m[1] + MASK * 8, text)
    if contains_any(lower, r._CARD_WORDS):
        text = r._CARD_CODE.sub(lambda m: m[1] + MASK * len(m[2]), text)
    if ":" in text or ";" in text or "|" in text:
        text = mask_combos(text)
    if "@" in text:
        text = mask_emails(text)
    if r._DIGIT_RUN.search(text):
        if r._IBAN_HINT.search(text):
            text = r._IBAN.sub(lambda m: m[1] + r._mask(m[2], " "), text)
        text = mask_nirs(text)
        if r._PHONE_HINT.search(text):
            text = r._PHONE_INTL.sub(lambda m: m[1] + r._mask(m[2]), text)
        text = mask_long_numbers(text)
    if longest_word(text) >= 20:
        if longest_run(text, r._MIXED_EXTRA) >= 20:
            text = r._MIXED_TOKEN.sub(r._mask_mixed, text)
        if longest_word(text) >= 40 and longest_run(text, "+/") >= 40:
            text = r._BASE64_BLOB.sub(lambda m: m[1] + MASK * 12, text)
    if "19" in text or "20" in text:
        if r._DMY_HINT.search(text):
            text = r._DATE_DMY.sub(lambda m: f"**{m[1]}**{m[1]}{m[2]}", text)
        if ("19" in text or "20" in text) and r._YMD_HINT.search(text):
            text = r._DATE_YMD.sub(lambda m: f"{m[1]}{m[2]}**{m[2]}**", text)
    text = redact_rows(text)
    if mask_names:
        text = r._redact_names(text)
    return text


# Fragments of every family redact() masks, and of text around them.
FRAGMENTS = (
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA0Z3VS5JJcds3xfn\n-----END RSA PRIVATE KEY-----",
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA",
    "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.abc",
    "authorization=Basic dXNlcjpwYXNzd29yZA==", "Proxy-Authorization: NTLM TlRMTVNTUAAB",
    "bearer AbC123xyz789", "basic training", "BEARER tok/en+9=", "AKIAIOSFODNN7EXAMPLE",
    "ASIA2345ABCDEFGHIJKL", "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ012345", "github_pat_11ABCDEFG_xyz",
    "xoxb-123456789012-abcdefABCDEF", "AIzaSyA1234567890abcdefghijklmnop",
    "sk_live_4eC39HqLyjWDarjtT1zdp7dc", "rk_test_abcdefgh12345678",
    "postgres://app:s3cret@db.internal:5432/prod", "https://user:p%40ss@host/x",
    "ftp://anonymous@ftp.example.org/", "http://example.com/a:b@c", "password=hunter22",
    "PASSWORD: 'Sup3rS3cret!'", "passwd hunter22", "pwd=abcd", "api_key = \"AbCdEf123456\"",
    "access-key:XYZ123abc", "mot de passe: azerty123", "mdp azerty", "secret_token=abc123def",
    "token: ghp_notreally", "toKen=abcdef", "cvv 123", "CVV2: 4567", "cvc=999",
    "cryptogramme visuel : 321", "jdoe@example.fr:hunter22", "jdoe;s3cretpw",
    "j.doe@mail.example.com|azerty12", "  admin:admin123", "jean.dupont@example.fr",
    "x_y+z@sub.domain.co.uk", "@not-an-email", "FR76 3000 6000 0112 3456 7890 189",
    "FR7630006000011234567890189", "DE89370400440532013000", "GB82 WEST 1234 5698 7654 32",
    "1 85 05 78 006 084 36", "185057800608436", "2 69 05 2A 123 456 78", "+33 6 12 34 56 78",
    "0033612345678", "+1 (555) 123-4567", "06.12.34.56.78", "4970 1012 3456 7890",
    "4970101234567890", "12345678", "1234567", "order 20240312", "Ref 00123456789",
    "dGhpcyBpcyBhIGJhc2U2NCBibG9iIHRoYXQgaXMgbG9uZyBlbm91Z2g=",
    "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9w/+AB",
    "glpat-xxxxxxxxxxxxxxxxxxxx12", "hf_AbCdEfGhIjKlMnOpQrStUvWxYz123456",
    "SG.abcdefghijklmnop.qrstuvwxyz0123456789ABCDEFG", "550e8400-e29b-41d4-a716-446655440000",
    "ABCDEFGHIJabcdefghijKLMNO", "a-very-long-word-without-digits-at-all", "12/03/1985",
    "03.12.2001", "1985-03-12", "2020/1/2", "né le 5-6-1990", "19 mars 1985", "14 juillet",
    "March 3rd", "le 1er janvier", "14/07", "3/4/85", "v1.2.3", "3.5", "Jean;Dupont;12 rue des Lilas;75001",
    "1,Jean,Dupont,jean@example.fr,1985-03-12", "| 42 | Marie | Curie |",
    "('Jean', 'Dupont', '0612345678'),", '{"nom": "Dupont", "prenom": "Jean"}',
    "12 rue des Lilas", "3 bis, avenue Foch", "Jean-Pierre d'Artagnan", "İstanbul",
    "\u212aelvin", "ſecret=abcd", "Straße", "日本語のテキスト", "😀", "…", "\x02", "\x03",
    "********", "AKIA************", "j***@example.fr", "the quick brown fox",
    "Lorem ipsum dolor sit amet", "ERROR 2024-01-01T12:00:00Z", "id=123", "key: value",
)
GLUE = (" ", " ", " ", "\n", "\t", "", ", ", "; ", ": ", "=", " | ", "\r\n", "\xa0")


def _excerpt(rng: random.Random) -> str:
    out = []
    for _ in range(rng.randint(1, 8)):
        frag = rng.choice(FRAGMENTS)
        if rng.random() < 0.15:  # cut, as the excerpt window cuts
            a = rng.randint(0, len(frag))
            frag = frag[a:] if rng.random() < 0.5 else frag[:a]
        if rng.random() < 0.1:
            frag = frag.upper() if rng.random() < 0.5 else frag.lower()
        out.append(frag)
        out.append(rng.choice(GLUE))
    return "".join(out)


@pytest.mark.parametrize("mask_names", [False, True])
def test_redact_is_the_old_redact(mask_names: bool) -> None:
    rng = random.Random(f"redact-{mask_names}")
    changed = 0
    for _ in range(6000):
        text = _excerpt(rng)
        want = old_redact(text, mask_names=mask_names)
        assert redact(text, mask_names=mask_names) == want, text
        # the second redaction of an excerpt (engine/excerpts.py) sees redacted text
        assert redact(want, mask_names=mask_names) == old_redact(want, mask_names=mask_names)
        changed += want != text
    assert changed > 3000


@pytest.mark.parametrize("mask_names", [False, True])
def test_redact_on_random_characters(mask_names: bool) -> None:
    rng = random.Random(f"chars-{mask_names}")
    for _ in range(4000):
        text = _hint_text(rng)
        assert redact(text, mask_names=mask_names) == old_redact(text, mask_names=mask_names), text
