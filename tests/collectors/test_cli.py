from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from telethon import TelegramClient
from telethon.tl import types

import monitor.cli.telegram as cli_telegram
from monitor.cli import main
from tests.support.http import Reply

DATA = Path(__file__).parent / "data"


def write_config(tmp_path, server_url: str) -> str:
    cfg = tmp_path / "leakmon.toml"
    cfg.write_text(f"""
[[sources]]
name = "leakmarket"
type = "telegram_web"
channel = "leakmarketfr"
base_url = "{server_url}"
every = "10m"

[[sources]]
name = "broken"
type = "http"
every = "5m"

[[sources]]
name = "drop"
type = "files"
path = "drop"
every = "1h"
enabled = false
""")
    return str(cfg)


def test_sources_list_shows_every_source_and_flags_invalid_ones(server, tmp_path, capsys):
    cfg = write_config(tmp_path, server.url(""))
    rc = main(["sources", "list", "--config", cfg, "--state-dir", str(tmp_path / "st")])
    out = capsys.readouterr().out
    assert rc == 1
    assert "leakmarket           telegram_web     10m yes no  leakmarketfr" in out
    assert "drop                 files             1h no  no  drop" in out
    assert "broken" in out and "INVALID: source 'broken': missing key 'url'" in out


def test_sources_test_collects_without_saving(server, tmp_path, capsys):
    server.route("/s/leakmarketfr", Reply(body=(DATA / "tme_s_page1.html").read_text()))
    cfg = write_config(tmp_path, server.url(""))
    state = tmp_path / "st"
    rc = main(["sources", "test", "leakmarket", "--limit", "2", "--config", cfg,
               "--state-dir", str(state)])
    out = capsys.readouterr().out
    assert rc == 0
    lines = out.splitlines()
    assert lines[0].startswith("100 ") and lines[1].startswith("101 ")
    assert "OK, 2 item(s), 2 document(s)" in out and "nothing was saved" in out
    assert not (state / "leakmon.db").exists()
    assert "SOLD OUT" not in out  # content is never printed


def test_sources_test_json_and_unknown_name(server, tmp_path, capsys):
    server.route("/s/leakmarketfr", Reply(body=(DATA / "tme_s_page1.html").read_text()))
    cfg = write_config(tmp_path, server.url(""))
    rc = main(["sources", "test", "leakmarket", "--json", "--limit", "1", "--config", cfg])
    rows = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert rc == 0 and rows[0]["external_id"] == "101" and rows[0]["platform"] == "telegram_web"
    rc = main(["sources", "test", "nope", "--config", cfg])
    err = capsys.readouterr().err
    assert rc == 2 and "no source named 'nope'" in err and "leakmarket" in err


def test_sources_suggested_reads_the_store(tmp_path, capsys):
    from monitor.store import Store

    state = tmp_path / "st"
    state.mkdir()
    store = Store.open(state)
    store.add_suggested_sources("leakmarket", ["https://t.me/leakbackup",
                                               "https://t.me/s/leakbackup/12",
                                               "https://t.me/otherchan"])
    store.close()
    rc = main(["sources", "suggested", "--state-dir", str(state), "--json"])
    rows = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert rc == 0
    assert rows[0]["link"] == "https://t.me/leakbackup" and rows[0]["mentions"] >= 1
    assert {r["link"] for r in rows} == {"https://t.me/leakbackup", "https://t.me/otherchan"}


PROMPTS: list[str] = []


class LoginClient(TelegramClient):
    """Real TelegramClient class; start() drives the same callbacks Telethon would."""

    def __init__(self, state_dir, api_id, api_hash):
        super().__init__(None, api_id, api_hash)
        self.session_file = state_dir / "telegram.session"

    async def start(self, phone, code_callback, password):
        PROMPTS.extend([phone(), code_callback(), password()])
        fd = os.open(self.session_file, os.O_WRONLY | os.O_CREAT, 0o644)  # as sqlite would
        os.close(fd)
        return self

    async def get_me(self):
        return types.User(id=1, first_name="Ana", username="ana_soc")

    async def disconnect(self):
        return None


def test_telegram_login_prompts_and_writes_a_private_session(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LEAKMON_TELEGRAM_API_ID", "12345")
    monkeypatch.setenv("LEAKMON_TELEGRAM_API_HASH", "0123456789abcdef")
    monkeypatch.setattr(cli_telegram, "CLIENT_FACTORY", LoginClient)
    answers = iter(["+33600000000", "12345"])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(answers))
    monkeypatch.setattr("getpass.getpass", lambda prompt="": "2fa-secret")
    state = tmp_path / "st"
    rc = main(["telegram", "login", "--state-dir", str(state)])
    out = capsys.readouterr().out
    assert rc == 0
    assert PROMPTS == ["+33600000000", "12345", "2fa-secret"]
    assert "Logged in as Ana (@ana_soc)" in out and "2fa-secret" not in out
    session = state / "telegram.session"
    assert stat.S_IMODE(session.stat().st_mode) == 0o600


def test_telegram_login_without_api_credentials(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("LEAKMON_TELEGRAM_API_ID", raising=False)
    monkeypatch.delenv("LEAKMON_TELEGRAM_API_HASH", raising=False)
    rc = main(["telegram", "login", "--state-dir", str(tmp_path / "st")])
    assert rc == 2
    assert "Telegram api_id/api_hash missing" in capsys.readouterr().err
