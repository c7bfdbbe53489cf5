"""Realistic fake secrets, in the shapes real services issue (learned from the vendors' docs
and the peers' rule sets: gitleaks, trufflehog, detect-secrets), generated at random so no
real key is ever in the repository. Checksummed formats carry a valid checksum."""

from __future__ import annotations

import base64
import json
import random
import string

from monitor.matching.secrets.checksums import crc32_base62

ALNUM = string.ascii_letters + string.digits
URLSAFE = ALNUM + "_-"
HEX = "0123456789abcdef"


def _r(rng: random.Random, n: int, alphabet: str = ALNUM) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _b64u(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def github(rng: random.Random) -> str:
    body = _r(rng, 30)
    return rng.choice(["ghp_", "gho_", "ghu_", "ghs_", "ghr_"]) + body + crc32_base62(body)


def github_pat(rng: random.Random) -> str:
    return "github_pat_11" + _r(rng, 20) + "_" + _r(rng, 59)


def npm(rng: random.Random) -> str:
    body = _r(rng, 30)
    return "npm_" + body + crc32_base62(body)


def pypi(rng: random.Random) -> str:
    raw = (b"\x02\x01\x08pypi.org\x02\x25\x00\x00" + rng.randbytes(32) + b"\x00\x02\x2a"
           + b'{"version": 1, "permissions": "user"}' + b"\x00\x00\x06\x20" + rng.randbytes(32))
    return "pypi-" + _b64u(raw)


def gitlab(rng: random.Random) -> str:
    return rng.choice([
        lambda: "glpat-" + _r(rng, 20, URLSAFE),
        lambda: "glptt-" + _r(rng, 40, HEX),
        lambda: "gldt-" + _r(rng, 20, URLSAFE),
        lambda: "GR1348941" + _r(rng, 20, URLSAFE),
        lambda: "glrt-" + _r(rng, 20, URLSAFE),
    ])()


def openai(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return "sk-" + _r(rng, 20) + "T3BlbkFJ" + _r(rng, 20)
    return "sk-proj-" + _r(rng, 74, URLSAFE) + "T3BlbkFJ" + _r(rng, 74, URLSAFE)


def anthropic(rng: random.Random) -> str:
    return "sk-ant-api03-" + _r(rng, 93, URLSAFE) + "AA"


def huggingface(rng: random.Random) -> str:
    return "hf_" + _r(rng, 34, string.ascii_letters)


def telegram(rng: random.Random) -> str:
    return str(rng.randrange(10**8, 10**10)) + ":AA" + _r(rng, 33, URLSAFE)


def discord_bot(rng: random.Random) -> str:
    bot_id = str(rng.randrange(10**17, 2 * 10**18)).encode()
    return _b64u(bot_id) + "." + _r(rng, 6, URLSAFE) + "." + _r(rng, 38, URLSAFE)


def discord_webhook(rng: random.Random) -> str:
    return (f"https://discord.com/api/webhooks/{rng.randrange(10**17, 10**19)}/"
            + _r(rng, 68, URLSAFE))


def slack(rng: random.Random) -> str:
    n = lambda k: str(rng.randrange(10 ** (k - 1), 10**k))  # noqa: E731
    return rng.choice([
        lambda: f"xoxb-{n(12)}-{n(13)}-{_r(rng, 24)}",
        lambda: f"xoxp-{n(12)}-{n(12)}-{n(13)}-{_r(rng, 32, HEX)}",
        lambda: f"xapp-1-A{_r(rng, 10, string.ascii_uppercase + string.digits)}-{n(13)}-"
                f"{_r(rng, 64, HEX)}",
        lambda: f"xoxe.xoxp-1-{_r(rng, 164)}",
        lambda: f"xoxs-{n(10)}-{n(11)}-{n(12)}-{_r(rng, 64, HEX)}",
        lambda: f"xoxa-2-{n(11)}-{n(11)}-{n(12)}-{_r(rng, 32, HEX)}",
    ])()


def slack_webhook(rng: random.Random) -> str:
    up = string.ascii_uppercase + string.digits
    return (f"https://hooks.slack.com/services/T{_r(rng, 8, up)}/B{_r(rng, 10, up)}/"
            + _r(rng, 24))


def jwt(rng: random.Random, alg: str = "HS256") -> str:
    head = _b64u(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    body = _b64u(json.dumps({"sub": str(rng.randrange(10**6)), "name": _r(rng, 8),
                             "iat": rng.randrange(1_600_000_000, 1_800_000_000)}).encode())
    return f"{head}.{body}." + ("" if alg == "none" else _r(rng, 43, URLSAFE))


def unsigned_jwt(rng: random.Random) -> str:
    return jwt(rng, "none")


def gcp_service_account(rng: random.Random) -> str:
    der = b"\x30\x82\x04\xbd\x02\x01\x00\x30\x0d\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x01\x01"
    pem = base64.b64encode(der + rng.randbytes(1180)).decode()
    lines = "\n".join(pem[i:i + 64] for i in range(0, len(pem), 64))
    project = "proj-" + _r(rng, 6, string.ascii_lowercase)
    return json.dumps({
        "type": "service_account", "project_id": project,
        "private_key_id": _r(rng, 40, HEX),
        "private_key": f"-----BEGIN PRIVATE KEY-----\n{lines}\n-----END PRIVATE KEY-----\n",
        "client_email": f"deploy@{project}.iam.gserviceaccount.com",
        "client_id": str(rng.randrange(10**20, 10**21)),
    }, indent=2)


def database_url(rng: random.Random) -> str:
    scheme = rng.choice(["postgres", "postgresql", "mysql", "mongodb+srv", "redis", "amqp"])
    host = rng.choice(["db.internal.acme-sante.fr", "10.0.3.17", "cluster0.x1y2z.mongodb.net",
                       "rabbit.prod.local", "pg-main.eu-west-3.rds.amazonaws.com"])
    return f"{scheme}://app_{_r(rng, 4, string.ascii_lowercase)}:{_r(rng, 16)}@{host}:5432/prod"


def azure_storage(rng: random.Random) -> str:
    key = base64.b64encode(rng.randbytes(64)).decode()
    return (f"DefaultEndpointsProtocol=https;AccountName=st{_r(rng, 8, string.ascii_lowercase)};"
            f"AccountKey={key};EndpointSuffix=core.windows.net")


def azure_sas(rng: random.Random) -> str:
    sig = base64.b64encode(rng.randbytes(32)).decode().replace("+", "%2B").replace("/", "%2F")
    sig = sig.replace("=", "%3D")
    return ("https://acme.blob.core.windows.net/backups?sv=2022-11-02&ss=b&srt=co&sp=rl"
            f"&se=2026-12-31T00:00:00Z&st=2025-01-01T00:00:00Z&spr=https&sig={sig}")


def azure_client_secret(rng: random.Random) -> str:
    return _r(rng, 3) + str(rng.randrange(10)) + "Q~" + _r(rng, 34, ALNUM + "_~.-")


def digitalocean(rng: random.Random) -> str:
    return rng.choice(["dop_v1_", "doo_v1_", "dor_v1_"]) + _r(rng, 64, HEX)


def heroku(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return "HRKU-AA" + _r(rng, 58, URLSAFE)
    u = _r(rng, 32, HEX)
    return f"HEROKU_API_KEY={u[:8]}-{u[8:12]}-{u[12:16]}-{u[16:20]}-{u[20:]}"


def shopify(rng: random.Random) -> str:
    return rng.choice(["shpat_", "shpca_", "shppa_", "shpss_"]) + _r(rng, 32, HEX)


def square(rng: random.Random) -> str:
    return rng.choice([lambda: "sq0atp-" + _r(rng, 22, URLSAFE),
                       lambda: "sq0csp-" + _r(rng, 43, URLSAFE),
                       lambda: "EAAA" + _r(rng, 60, URLSAFE)])()


def hashicorp(rng: random.Random) -> str:
    return rng.choice([lambda: "hvs." + _r(rng, 91, URLSAFE),
                       lambda: "hvb." + _r(rng, 140, URLSAFE),
                       lambda: _r(rng, 14) + ".atlasv1." + _r(rng, 67, URLSAFE)])()


def sendgrid(rng: random.Random) -> str:
    return "SG." + _r(rng, 22, URLSAFE) + "." + _r(rng, 43, URLSAFE)


def twilio(rng: random.Random) -> str:
    return rng.choice(["AC", "SK"]) + _r(rng, 32, HEX)


def mailgun(rng: random.Random) -> str:
    return "key-" + _r(rng, 32, HEX)


# detector -> (generator, how it is written in a leak)
KINDS = {
    "github_token": (github, "export GITHUB_TOKEN={}"),
    "github_token/pat": (github_pat, "token: {}"),
    "npm_token": (npm, "//registry.npmjs.org/:_authToken={}"),
    "pypi_token": (pypi, "[pypi]\n  username = __token__\n  password = {}"),
    "gitlab_token": (gitlab, 'CI_TOKEN="{}"'),
    "openai_key": (openai, "OPENAI_API_KEY={}"),
    "anthropic_key": (anthropic, "client = Anthropic(api_key='{}')"),
    "huggingface_token": (huggingface, "huggingface-cli login --token {}"),
    "telegram_bot_token": (telegram, "bot = telebot.TeleBot('{}')"),
    "discord_bot_token": (discord_bot, "client.run('{}')"),
    "discord_bot_token/env": (discord_bot, "DISCORD_BOT_TOKEN={}"),
    "discord_webhook": (discord_webhook, "webhook: {}"),
    "slack_token": (slack, '"token": "{}",'),
    "slack_webhook": (slack_webhook, "curl -X POST {} -d @msg.json"),
    "jwt": (jwt, "Authorization: Bearer {}"),
    "jwt/none": (unsigned_jwt, "cookie session={}; path=/"),
    "gcp_service_account": (gcp_service_account, "{}"),
    "database_url": (database_url, "DATABASE_URL={}"),
    "azure_storage_key": (azure_storage, "AZURE_STORAGE_CONNECTION_STRING={}"),
    "azure_sas_token": (azure_sas, "backup url {}"),
    "azure_client_secret": (azure_client_secret, "client_secret={}"),
    "digitalocean_token": (digitalocean, "DO_TOKEN={}"),
    "heroku_key": (heroku, "{}"),
    "shopify_token": (shopify, "X-Shopify-Access-Token: {}"),
    "square_token": (square, "SQUARE_ACCESS_TOKEN={}"),
    "hashicorp_token": (hashicorp, "VAULT_TOKEN={}"),
    "sendgrid_key": (sendgrid, "SENDGRID_API_KEY={}"),
    "twilio_key": (twilio, "TWILIO_SID={}"),
    "mailgun_key": (mailgun, "MAILGUN_API_KEY={}"),
}
