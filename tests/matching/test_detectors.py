"""Every detector: valid identifiers count, invalid ones (bad checksum, placeholders) do not."""

from __future__ import annotations

import base64
import json
import random
import string

import pytest
from _idgen import broken, cards, ibans, nirs, spaced, spaced_nir

from monitor.matching.engine import Engine
from monitor.matching.rules import Rule
from monitor.matching.secrets.checksums import crc32_base62


def fired(detector: str, text: str, region: str = "FR") -> int:
    """Count of the one-detector rule on `text` (0 when it does not fire)."""
    engine = Engine.build([Rule(id="d", title="d", detectors=(detector,))], phone_region=region)
    hits = engine.scan_text(text)
    return hits[0].count if hits else 0


def rand(n: int, alphabet: str = string.ascii_letters + string.digits, seed: int = 3) -> str:
    rnd = random.Random(seed)
    return "".join(rnd.choice(alphabet) for _ in range(n))


# --- fr_nir -------------------------------------------------------------------------------

def test_nir_valid_in_every_written_form():
    a, b, c = nirs(3)
    text = f"patient {a}; other: {spaced_nir(b)}, dotted {c[:1]}.{c[1:3]}.{c[3:5]}.{c[5:7]}.{c[7:10]}.{c[10:13]}.{c[13:]}"
    assert fired("fr_nir", text) == 3


def test_nir_corsica_2a_2b():
    corsican = [v for v in nirs(60) if v[5:7] in ("2A", "2B")][:2]
    assert len(corsican) == 2
    assert fired("fr_nir", " ".join(corsican)) == 2


def test_nir_bad_key_and_glued_digits_do_not_count():
    good = nirs(1)[0]
    assert fired("fr_nir", f"nir {broken(good)}") == 0
    assert fired("fr_nir", f"ref 9{good}1") == 0  # inside a longer number


def test_nir_repeated_value_counts_once():
    v = nirs(1)[0]
    assert fired("fr_nir", f"{v}\n{v}\n{spaced_nir(v)}") == 1


# --- iban ---------------------------------------------------------------------------------

def test_iban_compact_and_grouped_followed_by_words():
    a, b = ibans(2)
    assert fired("iban", f"virement {a} merci, ou {spaced(b)} BIC BNPAFRPP") == 2


def test_iban_bad_checksum_and_unknown_country():
    a = ibans(1)[0]
    bad = a[:2] + f"{(int(a[2:4]) + 1) % 100:02d}" + a[4:]
    assert fired("iban", bad) == 0
    assert fired("iban", "ZZ" + a[2:]) == 0


# --- card ---------------------------------------------------------------------------------

def test_card_luhn_and_issuer():
    a, b = cards(2)
    assert fired("card", f"cb {a} exp 12/27, {spaced(b)}") == 2
    assert fired("card", f"cb {broken(a)}") == 0
    assert fired("card", "0000 0000 0000 0000") == 0
    # Luhn-valid but no issuer uses 9-prefixed 16-digit numbers
    assert fired("card", "9999999999999995") == 0


def test_card_amex_grouping():
    assert fired("card", "amex 3782 822463 10005 ok") == 1


# --- email and phone ----------------------------------------------------------------------

def test_email():
    assert fired("email", "contact: Jean.Dupont+tag@chu-exemple.fr, x@sub.example.co.uk") == 2
    assert fired("email", "not an email: foo@bar, @handle, a@b.c") == 0


def test_email_distinct_case_insensitive():
    assert fired("email", "JEAN@EXAMPLE.FR and jean@example.fr") == 1


def test_phone_fr_formats_are_one_number():
    assert fired("phone", "tel 06 12 34 56 78, +33 6 12 34 56 78, 0033612345678") == 1


def test_phone_invalid_and_default_region():
    assert fired("phone", "tel 06 12 34") == 0
    assert fired("phone", "call +1 650-253-0000 now") == 1
    # a French national number means nothing with a US default region
    assert fired("phone", "tel 01 42 68 53 00", region="US") == 0
    assert fired("phone", "tel 01 42 68 53 00", region="FR") == 1


# --- secrets ------------------------------------------------------------------------------

def test_private_key_block():
    body = "\n".join(rand(64, string.ascii_letters + string.digits + "+/", seed=i) for i in range(3))
    pem = f"-----BEGIN RSA PRIVATE KEY-----\n{body}\n-----END RSA PRIVATE KEY-----"
    assert fired("private_key", pem) == 1
    assert fired("private_key", "-----BEGIN RSA PRIVATE KEY-----\n...\n-----END RSA PRIVATE KEY-----") == 0
    assert fired("private_key", f"-----BEGIN PUBLIC KEY-----\n{body}\n-----END PUBLIC KEY-----") == 0


def test_aws_keys():
    key_id = "AKIA" + rand(16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
    assert fired("aws_access_key", f"id={key_id}") == 1
    assert fired("aws_access_key", "AKIAIOSFODNN7EXAMPLE") == 0  # AWS documentation key
    assert fired("aws_access_key", f"X{key_id}") == 0
    secret = rand(40, string.ascii_letters + string.digits + "/+")
    assert fired("aws_secret_key", f'aws_secret_access_key = "{secret}"') == 1
    assert fired("aws_secret_key", "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY") == 0
    assert fired("aws_secret_key", f"password = {secret}") == 0  # not named as an AWS secret


def test_github_slack_google_stripe():
    body = rand(30)
    assert fired("github_token", f"ghp_{body}{crc32_base62(body)}") == 1
    assert fired("github_token", f"ghp_{rand(36)}") == 0  # its CRC32 suffix does not hold
    assert fired("github_token", f"github_pat_{rand(22)}_{rand(59)}") == 1
    assert fired("github_token", "ghp_" + "x" * 36) == 0
    assert fired("slack_token", f"xoxb-{rand(12, string.digits)}-{rand(13, string.digits)}-{rand(24)}") == 1
    assert fired("slack_token", "xoxb-your-token-here") == 0
    assert fired("google_api_key", f"AIza{rand(35, string.ascii_letters + string.digits + '_-')}") == 1
    assert fired("stripe_key", f"sk_live_{rand(24)}") == 1
    assert fired("stripe_key", f"sk_test_{rand(24)}") == 0


def b64u(obj: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def test_jwt():
    token = f"{b64u({'alg': 'HS256', 'typ': 'JWT'})}.{b64u({'sub': '42'})}.{rand(43, string.ascii_letters + string.digits + '_-')}"
    assert fired("jwt", f"Authorization: Bearer {token}") == 1
    no_alg = f"{b64u({'typ': 'JWT', 'foo': 'barbaz'})}.{b64u({'sub': '42'})}.{rand(43)}"
    assert fired("jwt", no_alg) == 0


# --- combos -------------------------------------------------------------------------------

def test_combo_lines():
    text = "\n".join([
        "jean.dupont@orange.fr:Soleil2024!",
        "marie@free.fr;azerty123",
        "paul@gmail.com|Motdepasse1|FR",
        "root:toor1234",
        "https://example.org/login",
        "meeting at 10:30",
        "see: http://x.y",
        "note: this is prose, not a combo",
    ])
    assert fired("combo", text) == 4


@pytest.mark.parametrize("name", ["fr_nir", "iban", "card", "email", "phone", "private_key",
                                  "aws_access_key", "github_token", "jwt", "combo"])
def test_detectors_quiet_on_prose(name):
    prose = ("Bonjour à tous, la réunion est déplacée à jeudi 14h. Le rapport 2024-11 compte "
             "42 pages et 1 200 000 lignes au total. Merci de votre patience.")
    assert fired(name, prose) == 0


def test_validation_cap_extrapolates_count_of_big_dumps():
    from monitor.matching import detectors

    values = nirs(3 * detectors.MAX_VALIDATIONS, seed=9)
    text = "\n".join(f"{i};DUPONT;{v}" for i, v in enumerate(values))
    count = fired("fr_nir", text)
    assert abs(count - len(values)) <= len(values) * 0.05
    small = "\n".join(values[:50])
    assert fired("fr_nir", small) == 50  # below the cap: exact
