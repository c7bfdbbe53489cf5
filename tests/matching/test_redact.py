"""Redaction: no identifier, secret or password survives in an excerpt."""

from __future__ import annotations

import random
import re
import string

import pytest
from _idgen import cards, ibans, nirs, spaced, spaced_nir

from monitor.matching.redact import redact


def digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def test_nir_keeps_only_its_first_digit():
    v = nirs(1)[0]
    out = redact(f"patient {spaced_nir(v)} ok")
    assert out == f"patient {v[0]} ** ** ** *** *** ** ok"
    assert redact(f"nir={v}") == f"nir={v[0]}" + "*" * 14


def test_iban_card_phone_masked():
    i, c = ibans(1)[0], cards(1)[0]
    text = f"iban {spaced(i)} / {i} carte {spaced(c)} / {c} tel +33 6 12 34 56 78 ou 0612345678"
    out = redact(text)
    for value in (i, c, "612345678"):
        assert value not in out.replace(" ", "")
    assert "FR" in out and "+33" in out
    assert not re.search(r"\d{5,}", out.replace(" ", ""))  # no long digit run left


def test_email_local_part_and_combo_passwords():
    out = redact("jean.dupont@example.fr:Sup3rS3cret!\nmarie@free.fr;hunter22\nroot:toor1234")
    assert "jean.dupont" not in out and "j***@example.fr" in out
    for secret in ("Sup3rS3cret!", "hunter22", "toor1234"):
        assert secret not in out
    assert "root:********" in out


def test_secrets_masked_keeping_their_kind():
    body = "".join(string.ascii_letters[i % 52] for i in range(64))
    text = (f"-----BEGIN RSA PRIVATE KEY-----\n{body}\n-----END RSA PRIVATE KEY-----\n"
            "AKIAQ2WERTY3UIOP4ASD ghp_aB3dE5gH7jK9mN1pQ3sT5vX7zA9cE1gI3kM5 "
            "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx "
            "password = letmein42 api_key: 9f8e7d6c5b4a")
    out = redact(text)
    assert body not in out and "[REDACTED]" in out
    assert "AKIA************" in out and "Q2WERTY" not in out
    assert "ghp_************" in out and "aB3dE5gH7" not in out
    assert "xoxb-" in out and "AbCdEfGh" not in out
    assert "letmein42" not in out and "9f8e7d6c5b4a" not in out


def test_long_base64_blob_masked():
    blob = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9w"
    assert blob not in redact(f"hash {blob} end")


def test_blob_and_short_date_past_their_cheap_guards():
    """A blob no mixed-token mask takes ('/' cuts it into short runs) and a year-first date
    too short for the long-number mask: each is masked by its own pattern, behind a cheap
    necessary test (a run of 40 of \\w + /, a year then a separator)."""
    assert redact("key " + "abcdefgh/" * 6 + " end") == "key abcdef************ end"
    assert redact("vu le 2020.1.5, puis 1999/12/3") == "vu le 2020.**.**, puis 1999/**/**"


def test_idempotent_and_plain_text_untouched():
    plain = "Réunion jeudi à 14h, salle 3 : ordre du jour en pièce jointe."
    assert redact(plain) == plain
    once = redact(f"{nirs(1)[0]} a@b.fr:pass1234")
    assert redact(once) == once


def test_no_identifier_survives_bulk():
    rows = [(v, spaced_nir(v)) for v in nirs(20, seed=5)]
    rows += [(v, spaced(v)) for v in ibans(20, seed=5) + cards(20, seed=5)]
    vals = [v for v, _ in rows]
    text = "\n".join(f"{i};{v};{sp}" for i, (v, sp) in enumerate(rows))
    out = digits(redact(text))
    for v in vals:
        assert digits(v) not in out


def test_dump_rows_lose_names_places_and_birth_dates():
    rows = [
        "DUPONT;Jean;12/03/1985;Paris",
        "INSERT INTO patients VALUES ('MARTIN','Anne','1985-03-12','Dr Leroy');",
        '{"nom": "Martin", "prenom": "Anne", "ddn": "12.03.1985"}',
        "MARTIN, Anne | 12 mars 1985 | Lyon",
        "LEROY\tPaul\t1990-07-01\tNantes",
    ]
    out = redact("\n".join(rows))
    for value in ("DUPONT", "Jean", "MARTIN", "Martin", "Anne", "Paris", "Leroy", "Lyon",
                  "LEROY", "Paul", "Nantes", "12/03", "03-12", "12.03", "mars", "07-01"):
        assert value not in out, value
    assert '"nom": "M' in out  # JSON keys stay readable: they name the columns


def test_prose_keeps_its_words_but_not_birth_dates():
    out = redact("fuite de la base Dedalus Biologie, 500k lignes, née le 12/03/1985")
    assert out.startswith("fuite de la base Dedalus Biologie")
    assert "12/03" not in out and "1985" in out


def test_excerpt_of_a_combo_list_keeps_every_address_whole_and_every_password_masked():
    from monitor.matching.engine import excerpt

    data = "\n".join(f"user{i}@gmail.com:motdepasse{i * 7919}xyz" for i in range(30)).encode()
    out = excerpt(data, 0, 30)
    assert "motdepasse" not in out
    assert out.count("@gmail.com:********") >= 4  # no address loses a character to the cut
    assert "@gmail.om" not in out


def test_excerpt_never_shows_the_user_of_an_address_the_window_cut():
    # Masking shortens what it masks, so the final cut reached into the window's margin,
    # where an address cut by the window's edge ("lydia.chatys@wanadoo.f", no e-mail any
    # more) had been left as it was: the cut must never show a token the edge cut.
    from monitor.matching.engine import excerpt

    rng = random.Random(7)
    users = ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(4, 14))) + "."
             + "".join(rng.choices(string.ascii_lowercase, k=rng.randint(4, 12)))
             for _ in range(60)]
    domains = ["wanadoo.fr", "proton.me", "sfr.fr", "laposte.net", "yahoo.fr"]
    data = "\n".join(f"{u}@{rng.choice(domains)}:{rng.choice(['admit', 'risk'])}{rng.randint(10, 9999)}?"
                     for u in users).encode()
    for start in range(0, len(data) - 40, 37):
        out = excerpt(data, start, start + 10)
        for u in users:
            assert u[:6] not in out, (start, u, out)


def _window_before_c(data: bytes, start: int, end: int, width: int, margin: int,
                     snap: int) -> tuple[int, int, int, int, int]:
    """excerpt()'s framing as Python did it before native excerpt_window (verbatim)."""
    end = min(end, start + width)
    lo = max(0, start - snap)
    cut = max(data.rfind(b" ", lo, start), data.rfind(b"\n", lo, start),
              data.rfind(b"\t", lo, start))
    if cut >= 0 or lo == 0:
        start = cut + 1
    hi = min(len(data), end + snap)
    stops = [i for i in (data.find(b" ", end, hi), data.find(b"\n", end, hi),
                         data.find(b"\t", end, hi)) if i >= 0]
    if stops:
        end = min(stops)
    elif hi == len(data):
        end = hi
    ctx = max(0, (width - (end - start)) // 2)
    a, b = max(0, start - ctx - margin), min(len(data), end + ctx + margin)
    if a > 0:
        lo = max(0, a - snap)
        cut = max(data.rfind(b" ", lo, a), data.rfind(b"\n", lo, a), data.rfind(b"\t", lo, a))
        a = cut if cut >= 0 else lo
    if b < len(data):
        hi = min(len(data), b + snap)
        stops = [i for i in (data.find(b" ", b, hi), data.find(b"\n", b, hi),
                             data.find(b"\t", b, hi)) if i >= 0]
        b = min(stops) + 1 if stops else hi
    return a, start, end, b, ctx


def test_excerpt_window_frames_as_python_did():
    from monitor.matching._native import excerpt_window

    rng = random.Random(5)
    for _ in range(3000):
        n = rng.choice([0, 1, 5, 60, 300, 2000])
        blanks = rng.choice([0.0, 0.01, 0.2])  # none (one long token), a few, many
        data = bytes(rng.choice(b" \n\t") if rng.random() < blanks else rng.choice(b"ab@:.\xc3")
                     for _ in range(n))
        start = rng.randint(0, n)
        end = rng.randint(start, min(n, start + rng.choice([0, 3, 40, 500])))
        width, margin, snap = rng.choice([(200, 48, 64), (20, 5, 3), (0, 0, 0), (500, 100, 1)])
        assert excerpt_window(data, start, end, width, margin, snap) == \
            _window_before_c(data, start, end, width, margin, snap), (data, start, end)


@pytest.mark.parametrize(("text", "kept", "secret"), [
    ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
     "Authorization: Bearer ********", "eyJhbGci"),
    ("curl -H 'Authorization: Basic dXNlcjpwYXNzd29yZA=='", "Authorization: Basic ********",
     "dXNlcjpw"),
    ("header: Basic dXNlcjpwYXNz sent", "Basic ******** sent", "dXNlcjpwYXNz"),
    ("mot de passe: Soleil2024", "mot de passe: ********", "Soleil2024"),
    ("mdp=azerty12", "mdp=********", "azerty12"),
    ("mdp : azerty12", "mdp : ********", "azerty12"),
    ("password hunter22", "password ********", "hunter22"),
    ("pass: hunter22", "pass: ********", "hunter22"),
    ("pwd hunter22", "pwd ********", "hunter22"),
    ("cvv 123", "cvv ***", "123"),
    ("cvc: 456", "cvc: ***", "456"),
    ("cryptogramme 789", "cryptogramme ***", "789"),
])
def test_labelled_secrets_keep_their_label_only(text, kept, secret):
    out = redact(text)
    assert kept in out
    assert secret not in out
    assert redact(out) == out


def test_secret_labels_do_not_mask_ordinary_words():
    text = "basic training, bypass: true, Bearer of bad news"
    assert redact(text) == text


NAMES_TEXT = ("Jean Dupont habite 12 rue des Lilas, Paris. Élodie DUPONT et Jean-Pierre "
              "d'Artagnan nés le 12 mars 1985 et le 14/07 (version 1.2.3)")


def test_mask_names_masks_capitalised_words_addresses_and_dates():
    out = redact(NAMES_TEXT, mask_names=True)
    assert out == ("J*** D***** habite ** rue d** L****, P****. É***** D***** et J***-****** "
                   "d'A******* nés le ** **** 1985 et le **/** (version 1.2.3)")


def test_mask_names_is_off_by_default():
    assert redact(NAMES_TEXT) == NAMES_TEXT
    assert redact("Authorization: Bearer abc123XYZ789", mask_names=False) == \
        "Authorization: Bearer ********"


def test_mask_names_keeps_the_kind_of_masked_secrets():
    text = ("AKIAQ2WERTY3UIOP4ASD Jean.Dupont@example.fr [REDACTED] 5 bis av. Victor Hugo\n"
            "42 quai de la Tournelle, 75005 Paris")
    out = redact(text, mask_names=True)
    assert out.startswith("AKIA************ J***@example.fr [REDACTED] * bis av. V***** H***\n")
    assert out.endswith("** quai d* l* T********, 75005 P****")


@pytest.mark.parametrize("text", [
    NAMES_TEXT,
    "MARTIN, Anne | 12 mars 1985 | Lyon\nDUPONT;Jean;12/03/1985;Paris",
    "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.abc password Hunter22 cvv 123",
    "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----\nOlivier O'Brien",
    "jean.dupont@example.fr:Sup3rS3cret! 1 85 03 75 123 456 41 FR76 3000 6000 0112 3456 7890 189",
])
def test_mask_names_is_idempotent(text):
    once = redact(text, mask_names=True)
    assert redact(once, mask_names=True) == once


@pytest.mark.parametrize("text", [
    "passwd_for_the_db_server_x = s3cr3tvalue",
    "password_of_the_backup_srv1: s3cr3tvalue",
    "mot_de_passe_du_compte_admin_x: s3cr3tvalue",
    "api_key_for_the_payment_gw=s3cr3tvalue",
])
def test_secret_labels_with_long_suffixes_are_masked(text):
    """A label may carry up to 20 more characters (`password_of_the_backup_srv1`): the cheap
    pre-test before the secret patterns must let all of them through."""
    assert "s3cr3tvalue" not in redact(text)


@pytest.mark.parametrize("text", [
    "né le 12 juillet 1985 au 4 rue des Lilas",
    "né le 12 JUİLLET 1985 au 4 RUE des Lilas",  # dotted capital I: 'i' to the patterns
    "né le 12 juıllet 1985",  # dotless i
    "born ſept. 12, 1985",  # long s
])
def test_names_mode_masks_day_and_month_whatever_the_letter_forms(text):
    """The cheap pre-tests of the month and street patterns must not miss letters that the
    case-insensitive patterns themselves accept."""
    out = redact(text, mask_names=True)
    assert "12" not in out
    assert "1985" in out
