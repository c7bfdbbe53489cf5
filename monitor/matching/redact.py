"""Redaction of excerpts before they are stored or sent.

An excerpt of a leak must not become a second leak: every identifier-shaped thing is masked,
valid or not (over-masking an order number is cheap; a leaked NIR in a Slack channel is not).
Enough is kept for a human to recognise the kind of data: `1 ** ** ** *** *** **` (only the
NIR's first digit: birth year, month and département are personal data too), `j***@example.fr`, `AKIA************`, `FR76 **** **** **** **** **** ***`. Rows of a dump
(delimited lines, SQL tuples, JSON values) keep only each field's first character, and birth
dates keep only their year, so names and addresses do not travel either.
Secrets are masked after their label (`password ********`, `Authorization: Bearer ********`,
`cvv ***`), so the reader still knows what leaked.

`mask_names=True` is for excerpts of documents in which one of our fingerprinted records was
recognised: there, plain prose ("Jean Dupont habite 12 rue des Lilas") is a record of ours, so
every capitalised word keeps only its first letter, street addresses and the day and month of
any date are masked as well.
Works on short texts (excerpts): Python `re` for most families; the passes that cost a
callback per match (dump rows, combo lines, e-mails, NIRs, long numbers, capitalised words)
are one C call each (native/redact.c), equal to the regular expressions they replace. The
cheap tests that say which passes can change an excerpt are the bits of one C pass as well
(redact_hints, HINT_* below).
"""

from __future__ import annotations

import re

from monitor.matching._native import (
    contains_any,
    mask_capitalised,
    mask_combos,
    mask_emails,
    mask_fields,
    mask_long_numbers,
    mask_nirs,
    redact_hints,
    redact_hints_late,
    redact_rows,
)
from monitor.matching.lazy_re import lazy

MASK = "*"

_PEM = re.compile(
    r"(-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----)(.*?)(-----END [A-Z0-9 ]{0,40}"
    r"PRIVATE KEY(?: BLOCK)?-----|\Z)", re.S)
_TOKENS = re.compile(
    r"(?<![A-Za-z0-9_\-])("
    r"(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA|ABIA|ACCA)(?=[A-Z2-7]{16})|"
    r"gh[pousr]_|github_pat_|xox[abprs]-|AIza|[sr]k_live_|[sr]k_test_|eyJ"
    r")([A-Za-z0-9_\-./+=]{8,})")
_SECRET_ASSIGN = re.compile(
    r"(?i)((?:secret|password|passwd|pwd|token|api[_-]?key|access[_-]?key|(?<![a-z])pass|"
    r"mot[ _\-]?de[ _\-]?passe|(?<![a-z])mdp)[A-Za-z0-9_\-]{0,20}"
    r"[\"']?\s*[:=]\s*[\"']?)([^\s\"',;]{4,})")
# `password hunter22`: a label followed by a single blank and the value (no `:` or `=`).
_SECRET_SPACED = re.compile(
    r"(?i)((?<![a-z])(?:password|passwd|pwd|mdp|mot de passe)[ \t])(?![:=])([^\s\"',;]{4,})")
# Card verification codes: three or four digits after their label.
_CARD_CODE = re.compile(
    r"(?i)((?<![a-z])(?:cvv2?|cvc2?|cryptogramme(?: visuel)?)\s*[:=]?\s*)([0-9]{3,4})(?![0-9])")
# HTTP credentials: the whole value of an Authorization header (after its scheme), and a
# Bearer/Basic credential wherever it appears (it must look like a token: a digit, an upper-case
# letter, `+`, `/` or `=` after its first character, so "basic training" is left alone).
_AUTH_HEADER = re.compile(
    r"(?i)((?<![a-z])(?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?"
    r"(?:(?:bearer|basic|token|digest|negotiate|ntlm)\s+)?)([^\s\"',;]{4,})")
_AUTH_SCHEME = re.compile(
    r"(?<![A-Za-z0-9])((?i:bearer|basic)\s+)"
    r"([A-Za-z0-9\-._~+/](?=[A-Za-z0-9\-._~+/]*[0-9A-Z+/=])[A-Za-z0-9\-._~+/]{7,}=*)")
# Combo lines (`user@mail.fr:password`, `jdoe;password`): the password of each becomes eight
# '*', in C (native/redact.c mask_combos: the line, maybe after blanks, starts with an e-mail
# or a user name of 3-64 of [A-Za-z0-9._-], then ':' ';' or '|', then 3-128 characters that
# are no blank and none of :;| and do not start with '//'; tests/matching/test_redact_native
# has the regular expression).
# E-mail addresses keep the first character of their local part and their domain, in C
# (native/redact.c mask_emails: (?<![A-Za-z0-9._%+\-])([A-Za-z0-9])[A-Za-z0-9._%+\-]*
# (@[A-Za-z0-9.\-]+\.[A-Za-z]{2,24}) -> \1***\2, checked against that regex in
# tests/matching/test_redact_native.py).
# _IBAN starts with a character class, its look-behind right after it (on that character and
# the one before): `re` then skips quickly to the candidates instead of trying the
# look-behind at every offset. Same matches as with the look-behind first.
_IBAN = re.compile(r"([A-Z](?<![A-Za-z0-9][A-Z])[A-Z][0-9]{2})((?:[ ]?[A-Z0-9]){11,30})"
                   r"(?![A-Za-z0-9])")
# NIRs keep their first digit (native/redact.c mask_nirs: (?<![0-9A-Za-z])[1-478], then the
# NIR's digits, each group maybe after one of ' ' '.' '-', the département maybe 2A/2B, no
# letter or digit after); then any other run of 8+ digits (with separators: cards, phones,
# account numbers) its first two (mask_long_numbers: (?<![0-9])[0-9]{2}(?:[ .\-]?[0-9]){6,}).
# Separators are kept. tests/matching/test_redact_native.py has both regular expressions.
_PHONE_INTL = re.compile(r"((?:\+|(?<![0-9])00)[1-9][0-9]?)([0-9 .\-()]{6,20}[0-9])")
# Any other long token mixing letters and digits is taken for a secret (API keys of every
# vendor, bot tokens, SAS signatures, UUID keys): its vendor prefix ("glpat-", "hf_", "SG.")
# or first four characters are kept. '/' and ':' end a token, so URLs keep their shape.
_MIXED_TOKEN = re.compile(r"(?<![\w\-.~+=%])[\w\-.~+=%]{20,}")
_MIXED_EXTRA = "-.~+=%"  # _MIXED_TOKEN's class besides \w
_VENDOR_PREFIX = re.compile(r"[A-Za-z][A-Za-z0-9]{0,9}[_\-.](?:v1_)?")
# The password of a URL's credentials (postgres://app:s3cret@db...), whatever its shape.
_URL_PASSWORD = re.compile(r"(?i)(\b[a-z][a-z0-9+.\-]{1,20}://[^\s:/@]*:)([^\s@/]{1,128})(@)")
_BASE64_BLOB = re.compile(r"(?<![A-Za-z0-9+/=])([A-Za-z0-9+/]{6})[A-Za-z0-9+/]{34,}={0,2}")


def _mask(text: str, keep: str = " .-()") -> str:
    """Every character except separators replaced by the mask (lengths kept)."""
    if not any(k in text for k in keep):  # most masked values hold no separator
        return MASK * len(text)
    return "".join(c if c in keep else MASK for c in text)


# Cheap necessary conditions of the costly patterns above, tested before them: substrings
# (`in` is the fastest test), then patterns starting with a literal or a small class, which
# `re` skips to quickly (most full patterns start with a look-behind, tried at every offset).
_TOKEN_PREFIXES = ("AKIA", "ASIA", "AGPA", "AIDA", "AROA", "ANPA", "ANVA", "AIPA", "ABIA", "ACCA",
                   "gh", "xox", "AIza", "k_live_", "k_test_", "eyJ")
_AUTH_WORDS = ("authorization", "bearer", "basic")
_CARD_WORDS = ("cvv", "cvc", "cryptogramme")
_SECRET_WORDS = ("secret", "pass", "pwd", "token", "key", "mdp")
# The hint patterns below define bits of redact_hints (native/redact.c computes them in its
# one pass; tests/matching/test_redact_hints.py holds it to them): redact() never runs them,
# so they are compiled only when a test asks (lazy_re), not at every start.
# On the lower-cased text: _SECRET_ASSIGN or _SECRET_SPACED can match. A label's root here, then
# what is left of the longest label ("password": "word", 4) plus its 20-character suffix.
_SECRET_HINT = lazy(
    r"(?:secret|pass|pwd|token|key|mdp)[a-z0-9_\-]{0,24}[\"']?\s*[:=]"
    r"|(?:password|passwd|pwd|mdp|mot de passe)[ \t]")
_IBAN_HINT = lazy(r"[A-Z]{2}[0-9]{2}")
_PHONE_HINT = lazy(r"\+[1-9]|00[1-9]")
_DMY_HINT = lazy(r"[/.\-](?:19|20)[0-9]{2}")  # the year of _DATE_DMY
_YMD_HINT = lazy(r"(?:19|20)[0-9]{2}[/.\-]")  # the year of _DATE_YMD and its separator
_DIGIT_RUN = lazy(r"[0-9][0-9 .\-()]{5,}[0-9]")


# Rows of a dump (CSV/TSV/pipe lines, SQL tuples, JSON objects) carry names, addresses and
# birth dates that no identifier pattern catches: their fields are masked as a whole, in C
# (native/redact.c redact_rows: a line with 2+ ';', '|' or tabs, or 3+ ',', or a '":', has
# each quoted value of 1-200 characters keep its first letter or digit, unless ':' follows
# it (a JSON key names a column), then each field of it keeps its first letter or digit).
_DATE_DMY = re.compile(r"(?<![0-9])[0-9]{1,2}([/.\-])[0-9]{1,2}\1((?:19|20)[0-9]{2})(?![0-9])")
_DATE_YMD = re.compile(r"(?<![0-9])((?:19|20)[0-9]{2})([/.\-])[0-9]{1,2}\2[0-9]{1,2}(?![0-9])")


def _mask_word(text: str) -> str:
    """Keep the first letter or digit of a value, mask its other letters and digits."""
    return mask_fields(text, "")


# --- mask_names mode -----------------------------------------------------------------------

_STREET = re.compile(
    r"(?i)(?<![0-9A-Za-z])([0-9]{1,5})((?:[ ]?(?:bis|ter|[a-d]))?,?\s+)"
    r"(rue|avenue|av\.|bd|boulevard|chemin|all[ée]e|impasse|place|route|quai)"
    r"(?![^\W_])([^,\n]*)")
_MONTHS = (r"janvier|f[ée]vrier|mars|avril|mai|juin|juillet|ao[uû]t|septembre|octobre|novembre|"
           r"d[ée]cembre|january|february|march|april|may|june|july|august|september|october|"
           r"november|december|janv?|f[ée]vr?|feb|avr|apr|juil|jul|aug|sept?|oct|nov|d[ée]c")
_DATE_TEXT_DM = re.compile(
    rf"(?i)(?<![0-9A-Za-z])([0-9]{{1,2}}(?:er|st|nd|rd|th)?)(\s+)({_MONTHS})(\.?)(?![^\W_])")
_DATE_TEXT_MD = re.compile(
    rf"(?i)(?<![0-9A-Za-z])({_MONTHS})(\.?\s+)([0-9]{{1,2}}(?:st|nd|rd|th)?)(?![0-9A-Za-z])")
# `14/07`, `3/4/85`, `03.04.85` (a year of four digits was handled by _DATE_DMY already); not
# `1.2.3` or `3.5`, which are versions and decimals.
_DATE_SHORT = re.compile(
    r"(?<![0-9])(?<![0-9][/.\-])[0-9]{1,2}(?:/[0-9]{1,2}(?:/[0-9]{2})?|([.\-])[0-9]{1,2}\1[0-9]{2})"
    r"(?![0-9]|[/.\-][0-9])")
# Capitalised words keep their first letter (native/redact.c mask_capitalised: a word is
# letters and digits, hyphenated parts included (`Jean-Pierre`), not starting with a digit;
# `'` splits words, so the `A` of `d'Artagnan` starts one; a word a '*' follows is the prefix
# an earlier mask kept (`AKIA****`) and stays). Upper-case words that are redaction labels,
# not names, are kept so excerpts stay readable.
_LABELS = frozenset({"BEGIN", "END", "PRIVATE", "KEY", "RSA", "DSA", "EC", "OPENSSH", "PGP",
                     "ENCRYPTED", "BLOCK", "REDACTED", "Authorization", "Bearer", "Basic"})


# Necessary conditions of _STREET and the month-name dates, searched first on a case-folded
# copy: the full patterns are case-insensitive alternations tried at every offset. The copy
# maps the letters `re` matches case-insensitively beyond str.lower() (dotless and dotted i,
# long s, Kelvin sign) to the ASCII ones the patterns name.
_HINT_FOLD = str.maketrans({"ı": "i", "İ": "i", "ſ": "s", "K": "k"})
_STREET_WORDS = ("rue", "av", "bd", "boulevard", "chemin", "all", "impasse", "place", "route",
                 "quai")
_MONTH_HINT = re.compile(rf"(?:{_MONTHS})")


def _redact_names(text: str) -> str:
    """Mask street addresses, day and month of dates, then every capitalised word."""
    if any(map(str.isdigit, text)):
        folded = text.translate(_HINT_FOLD).lower()
        if contains_any(folded, _STREET_WORDS):
            text = _STREET.sub(
                lambda m: _mask(m[1], "") + m[2] + m[3] + _mask_word_each(m[4]), text)
        if _MONTH_HINT.search(folded):
            text = _DATE_TEXT_DM.sub(
                lambda m: _mask(m[1], "") + m[2] + _mask(m[3], "") + m[4], text)
            text = _DATE_TEXT_MD.sub(lambda m: _mask(m[1], "") + m[2] + _mask(m[3], ""), text)
        text = _DATE_SHORT.sub(lambda m: _mask(m[0], "/.-"), text)
    return mask_capitalised(text, _LABELS)


def _mask_word_each(text: str) -> str:
    """Every word of `text` keeps only its first letter or digit."""
    return re.sub(r"[^\W_]+", lambda m: _mask_word(m[0]), text)


def _mask_mixed(m: re.Match[str]) -> str:
    token = m[0]
    if m.string.startswith((":", "=", '":', "':"), m.end()):  # a label or key, not a value
        return token
    if m.start() and m.string[m.start() - 1] == MASK:  # the rest of a value masked already
        return token
    if not ((any(c.isdigit() for c in token) and any(c.isalpha() for c in token))
            or (sum(c.isupper() for c in token) >= 5 and sum(c.islower() for c in token) >= 5)):
        return token
    p = _VENDOR_PREFIX.match(token)
    keep = p.end() if p is not None and p.end() <= 12 else 4
    return token[:keep] + MASK * 12


# The bits of redact_hints(text) (native/redact.c, one pass over the text): each is one of the
# cheap tests redact() asks before a pass; tests/matching/test_redact_hints.py checks each
# against its Python expression. redact_hints_late(text) has only the bits from
# HINT_COMBO_PUNCT on (the others 0), a little quicker.
HINT_PRIVATE_KEY = 1 << 0  # "PRIVATE KEY" in text
HINT_AUTH_WORD = 1 << 1  # contains_any(text.lower(), _AUTH_WORDS)
HINT_TOKEN_PREFIX = 1 << 2  # contains_any(text, _TOKEN_PREFIXES)
HINT_URL = 1 << 3  # "://" in text
HINT_SECRET = 1 << 4  # contains_any(lower, _SECRET_WORDS) and _SECRET_HINT.search(lower)
HINT_CARD_WORD = 1 << 5  # contains_any(text.lower(), _CARD_WORDS)
HINT_COMBO_PUNCT = 1 << 6  # ":" in text or ";" in text or "|" in text
HINT_AT = 1 << 7  # "@" in text
HINT_DIGIT_RUN = 1 << 8  # _DIGIT_RUN.search(text)
HINT_IBAN = 1 << 9  # _IBAN_HINT.search(text)
HINT_PHONE = 1 << 10  # _PHONE_HINT.search(text)
HINT_WORD20 = 1 << 11  # longest_word(text) >= 20
HINT_RUN20 = 1 << 12  # longest_run(text, _MIXED_EXTRA) >= 20
HINT_WORD40 = 1 << 13  # longest_word(text) >= 40
HINT_BLOB40 = 1 << 14  # longest_run(text, "+/") >= 40
HINT_YEAR = 1 << 15  # "19" in text or "20" in text
HINT_DMY = 1 << 16  # _DMY_HINT.search(text)
HINT_YMD = 1 << 17  # _YMD_HINT.search(text)
HINT_DIGIT = 1 << 18  # any(map(str.isdigit, text))


def _pem_block(m: re.Match[str]) -> str:
    return f"{m[1]} [REDACTED] {m[3]}" if m[3] else f"{m[1]} [REDACTED]"


def _label_and_8(m: re.Match[str]) -> str:
    return m[1] + MASK * 8


def _token(m: re.Match[str]) -> str:
    return m[1] + MASK * min(len(m[2]), 12)


def _url_password(m: re.Match[str]) -> str:
    return m[1] + MASK * 8 + m[3]


def _card_code(m: re.Match[str]) -> str:
    return m[1] + MASK * len(m[2])


def _iban(m: re.Match[str]) -> str:
    return m[1] + _mask(m[2], " ")


def _phone(m: re.Match[str]) -> str:
    return m[1] + _mask(m[2])


def _blob(m: re.Match[str]) -> str:
    return m[1] + MASK * 12


def _date_dmy(m: re.Match[str]) -> str:
    return f"**{m[1]}**{m[1]}{m[2]}"


def _date_ymd(m: re.Match[str]) -> str:
    return f"{m[1]}{m[2]}**{m[2]}**"


def redact(text: str, *, mask_names: bool = False) -> str:
    """`text` with identifiers, secrets and passwords masked. Idempotent.

    Each family is only looked for when a cheap test says it can be there: excerpts are
    redacted once per hit, on the scan path. The tests are the bits of one redact_hints(text)
    call (C, one pass), asked again of the text each pass changed, so that each is what it
    would be on the text at that point. `mask_names` also masks capitalised words, street
    addresses and the day and month of dates (see the module docstring). After the secrets'
    passes, only the later tests are asked again (redact_hints_late, the bits from
    HINT_COMBO_PUNCT on).
    """
    h = redact_hints(text)
    if h & HINT_PRIVATE_KEY:
        new = _PEM.sub(_pem_block, text)
        if new != text:
            text, h = new, redact_hints(new)
    if h & HINT_AUTH_WORD:  # before tokens: a JWT is masked as a whole
        new = _AUTH_SCHEME.sub(_label_and_8, _AUTH_HEADER.sub(_label_and_8, text))
        if new != text:
            text, h = new, redact_hints(new)
    if h & HINT_TOKEN_PREFIX:
        new = _TOKENS.sub(_token, text)
        if new != text:
            text, h = new, redact_hints(new)
    if h & HINT_URL:
        new = _URL_PASSWORD.sub(_url_password, text)
        if new != text:
            text, h = new, redact_hints(new)
    card = h & HINT_CARD_WORD  # of the text before the secrets' passes, as they were
    if h & HINT_SECRET:
        new = _SECRET_SPACED.sub(_label_and_8, _SECRET_ASSIGN.sub(_label_and_8, text))
        if new != text:
            text, h = new, redact_hints_late(new)
    if card:
        new = _CARD_CODE.sub(_card_code, text)
        if new != text:
            text, h = new, redact_hints_late(new)
    if h & HINT_COMBO_PUNCT:
        new = mask_combos(text)
        if new != text:
            text, h = new, redact_hints_late(new)
    if h & HINT_AT:
        new = mask_emails(text)
        if new != text:
            text, h = new, redact_hints_late(new)
    if h & HINT_DIGIT_RUN:
        if h & HINT_IBAN:
            new = _IBAN.sub(_iban, text)
            if new != text:
                text, h = new, redact_hints_late(new)
        new = mask_nirs(text)
        if new != text:
            text, h = new, redact_hints_late(new)
        if h & HINT_PHONE:
            new = _PHONE_INTL.sub(_phone, text)
            if new != text:
                text, h = new, redact_hints_late(new)
        new = mask_long_numbers(text)
        if new != text:
            text, h = new, redact_hints_late(new)
    # cheap: a token never spans a blank, a blob is a token of 40+ characters
    if h & HINT_WORD20:
        if h & HINT_RUN20:  # a run of _MIXED_TOKEN's class
            new = _MIXED_TOKEN.sub(_mask_mixed, text)
            if new != text:
                text, h = new, redact_hints_late(new)
        # a blob is 40+ of [A-Za-z0-9+/]: a run of \w, '+' and '/' at least that long
        if h & HINT_WORD40 and h & HINT_BLOB40:
            new = _BASE64_BLOB.sub(_blob, text)
            if new != text:
                text, h = new, redact_hints_late(new)
    # both date patterns hold a year 19xx or 20xx (HINT_DMY and HINT_YMD imply HINT_YEAR)
    if h & HINT_DMY:
        new = _DATE_DMY.sub(_date_dmy, text)
        if new != text:
            text, h = new, redact_hints_late(new)
    if h & HINT_YMD:
        text = _DATE_YMD.sub(_date_ymd, text)
    text = redact_rows(text)
    if mask_names:
        text = _redact_names(text)
    return text
