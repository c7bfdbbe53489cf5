"""Every secret kind: realistic positives caught, near misses and placeholders not, and no
excerpt ever carries the secret.

The shapes and the kinds of negative come from the peers' suites (gitleaks'
cmd/generate/config/rules/*.go tps/fps, trufflehog's and detect-secrets' tests), the values
from _secretgen (random, checksums valid). The parity test measures, kind by kind, how many
of N generated positives are caught and how many negatives stay quiet.
"""

from __future__ import annotations

import random

import pytest
from _secretgen import KINDS, github, npm

from monitor.matching import detectors as det
from monitor.matching import kinds
from monitor.matching.engine import Engine
from monitor.matching.rules import Rule
from monitor.matching.secrets.checksums import crc32_suffix_ok
from monitor.matching.secrets.placeholders import is_placeholder, random_enough

N = 25
SECRET_NAMES = [n for n in det.DETECTORS if n not in kinds.names() and n != "combo"]


def _engine(name: str) -> Engine:
    return Engine.build([Rule(id=name, title=name, detectors=(name,))])


_ENGINES: dict[str, Engine] = {}


def _hits(name: str, text: str):
    if name not in _ENGINES:
        _ENGINES[name] = _engine(name)
    return _ENGINES[name].scan_text(text)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_parity_positives_caught(kind):
    name = kind.split("/")[0]
    gen, template = KINDS[kind]
    rng = random.Random(kind)
    caught = 0
    for _ in range(N):
        secret = gen(rng)
        text = f"leaked config from a dump:\n{template.format(secret)}\nend of paste\n"
        caught += bool(_hits(name, text))
    assert caught == N, f"{kind}: {caught}/{N}"


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_no_excerpt_carries_the_secret(kind):
    name = kind.split("/")[0]
    gen, template = KINDS[kind]
    rng = random.Random("x" + kind)
    for _ in range(5):
        secret = gen(rng)
        hits = _hits(name, f"found: {template.format(secret)} (posted by @seller)")
        assert hits
        excerpt = hits[0].excerpt
        for part in _secret_parts(secret):
            assert part not in excerpt, (kind, excerpt)


def _secret_parts(secret: str) -> list[str]:
    """The pieces that must not travel: any 12 characters of its random part."""
    if "\n" in secret and "private_key" in secret:  # the JSON file: its key body
        body = secret.split("PRIVATE KEY-----\\n", 1)[1]
        return [body[i:i + 12] for i in range(0, 240, 12)]
    tail = secret.split("=", 1)[-1] if secret.startswith("HEROKU_") else secret
    if "/webhooks/" in tail or "hooks.slack.com" in tail:
        tail = tail.rsplit("/", 1)[-1]  # the webhook's token
    elif "sig=" in tail:
        tail = tail.split("sig=", 1)[1]
    elif "://" in tail:
        tail = tail.split("@")[0].rsplit(":", 1)[-1]  # the URL's password
    return [tail[i:i + 12] for i in range(8, max(9, len(tail) - 12), 12)]


def _gh_bad_checksum() -> str:
    t = github(random.Random(1))
    return t[:-1] + ("A" if t[-1] != "A" else "B")


def _npm_bad_checksum() -> str:
    t = npm(random.Random(2))
    return t[:-1] + ("A" if t[-1] != "A" else "B")


NEGATIVES: dict[str, list[str]] = {
    "github_token": [_gh_bad_checksum(), "ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
                     "ghp_" + "A1b2C3d4E5" * 3 + "AAAAAA", "github_pat_your_token_here"],
    "npm_token": [_npm_bad_checksum(), "npm_" + "x" * 36, "NPM_TOKEN=npm_YOUR_TOKEN_HERE"],
    "pypi_token": ["pypi-AgEIcHlwaS5vcmc" + "x" * 60, "pypi-AgEIcHlwaS5vcmcYOUR-TOKEN"],
    "gitlab_token": ["glpat-xxxxxxxxxxxxxxxxxxxx", "glpat-<your_access_token>", "glptt-" + "0" * 40,
                     "GR1348941XXXXXXXXXXXXXXXXXXXX"],
    "openai_key": ["sk-xxxxxxxxxxxxxxxxxxxxT3BlbkFJxxxxxxxxxxxxxxxxxxxx", "sk-your-key-here",
                   "OPENAI_API_KEY=sk-..."],
    "anthropic_key": ["sk-ant-api03-" + "x" * 93 + "AA", "ANTHROPIC_API_KEY=sk-ant-api03-..."],
    "huggingface_token": ["hf_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "(id)hf_requiredCharacteristicTypes",
                          "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"],
    "telegram_bot_token": ['type="clm12345:AgencyIdentificationCodeContentType"',
                           "1234:AAH" + "a1B2c3D4e5" * 3 + "xyz", "123456789:AAxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"],
    "discord_bot_token": ["Zm9vYmFyYmF6cXV4cXV1eHF1.Gabcde.abcdefghijklmnopqrstuvwxyz01234",
                          "MTIzNDU2Nzg5MDEyMzQ1Njc4.xxxxxx.xxxxxxxxxxxxxxxxxxxxxxxxxxx"],
    "discord_webhook": ["https://discord.com/api/webhooks/123456789012345678/your-webhook-token"],
    "slack_token": ['"token1": "xoxp-1234567890"',
                    "xoxp-XXXXXXXXXX-XXXXXXXXXX-XXXXXXXXXXX-XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
                    "xoxp-572370529330-573807301142-572331691188-####################"],
    "slack_webhook": ["https://hooks.slack.com/services/TXXXXXXXX/BXXXXXXXX/XXXXXXXXXXXXXXXXXXXXXXXX"],
    "jwt": ["eyJhbGciOiJub25lIn0 is just a base64 header",
            # HS256 header and payload without a signature: a token cut short, not usable
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.",
            "eyJub3RhIjoiand0In0.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlc2lnbmF0dXJl"],
    "gcp_service_account": ['{"private_key": "-----BEGIN PRIVATE KEY-----\\nMIIEv...\\n"}',
                            '"private_key": "-----BEGIN PRIVATE KEY-----\\n' + "A" * 300 + '"'],
    "database_url": ["postgres://user:password@localhost:5432/db",
                     "DATABASE_URL=postgres://app:${DB_PASSWORD}@db:5432/prod",
                     "mysql://root:<password>@db.example.com/app", "redis://:****@cache:6379",
                     "mongodb+srv://admin:changeme@cluster0.mongodb.net", "https://user:pw@site.fr/x",
                     "amqp://guest:guest@rabbit:5672"],
    "azure_storage_key": ["AccountKey=" + "x" * 86 + "==", "AccountKey=<your-account-key>"],
    "azure_sas_token": ["?sig=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"],
    "azure_client_secret": ["client_secret=bP88Q~xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
                            "~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~"],
    "digitalocean_token": ["dop_v1_" + "0" * 64, "dop_v1_your_token"],
    "heroku_key": ["832d2129-a846-4e27-99f4-7004b6ad53ef as a request id",
                   "HRKU-AA" + "x" * 58],
    "shopify_token": ["shpat_" + "0" * 32, "shpat_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"],
    "square_token": ["sq0atp-xxxxxxxxxxxxxxxxxxxxxx", "aws-cli@sha256:eaaa7b11777babe28e6133a8b19ff71c"],
    "hashicorp_token": ["hvs." + "x" * 95, "xxxxxxxxxxxxxx.atlasv1." + "x" * 67, "s.makeKubeConfig = args"],
    "sendgrid_key": ["SG.xxxxxxxxxxxxxxxxxxxxxx.xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"],
    "twilio_key": ["AC" + "0" * 32, "ACxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "AC" + "a" * 32],
    "mailgun_key": ["key-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "key-" + "1234567890abcdef" * 2],
}


@pytest.mark.parametrize("name", sorted(NEGATIVES))
def test_parity_negatives_and_placeholders_not_caught(name):
    for text in NEGATIVES[name]:
        assert not _hits(name, f"doc: {text}\n"), (name, text)


def test_every_secret_kind_has_positives_and_negatives():
    kinds = {k.split("/")[0] for k in KINDS}
    new = set(SECRET_NAMES) - {"aws_access_key", "aws_secret_key", "google_api_key", "stripe_key",
                                "private_key"}
    assert new <= kinds
    assert new <= set(NEGATIVES)


def test_checksums_and_placeholder_filter():
    token = github(random.Random(3))
    assert crc32_suffix_ok(token[4:])
    assert not crc32_suffix_ok(token[4:-1] + "0")
    for p in ("EXAMPLE", "your_token_here", "xxxxxxxx", "aaaaaaaa", "${TOKEN}", "<api-key>"):
        assert is_placeholder("ghp_" + p)
    assert not random_enough("abababababababab")
    assert random_enough(token[4:], 3.5)


def test_unsigned_jwt_needs_alg_none_and_json_payload():
    from _secretgen import jwt
    rng = random.Random(4)
    assert _hits("jwt", jwt(rng, "none"))
    assert not _hits("jwt", jwt(rng, "HS256").rsplit(".", 1)[0] + ".")


def test_secrets_on_one_page_are_each_reported():
    """A stealer-log style paste with one of each: every kind fires on its own rule."""
    rng = random.Random(5)
    page = "\n".join(t.format(g(rng)) for g, t in KINDS.values())
    rules = [Rule(id=n, title=n, detectors=(n,)) for n in {k.split("/")[0] for k in KINDS}]
    fired = {h.rule_id for h in Engine.build(rules).scan_text(page)}
    assert fired == {k.split("/")[0] for k in KINDS}
