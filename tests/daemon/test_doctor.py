from __future__ import annotations

import socket
import threading

import pytest

from monitor.cli import main
from monitor.daemon.doctor import FAIL, OK, WARN, run_checks, socks5_greeting
from monitor.daemon.lock import StateLock

RULE = """\
[[rules]]
id = "org.x"
title = "x"
severity = "low"
keywords = ["Dedalus"]

[[rules.tests]]
text = "Dedalus"
match = true
"""


class Listener:
    """A TCP listener on 127.0.0.1 that answers each connection with `answer` (if any)."""

    def __init__(self, answer: bytes | None = None) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        self.answer = answer
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                if self.answer is not None:
                    conn.recv(3)
                    conn.sendall(self.answer)

    def close(self) -> None:
        self.sock.close()


def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture
def setup(tmp_path):
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "org.toml").write_text(RULE)
    return tmp_path, state


def write_config(tmp_path, body: str):
    path = tmp_path / "config.toml"
    path.write_text('rules = ["rules"]\n' + body)
    return path


def by_what(checks):
    return {c.what: c for c in checks}


def test_a_clean_setup_passes(setup):
    tmp, state = setup
    hook = Listener()
    try:
        config = write_config(tmp, f"""
[[sources]]
name = "inbox"
type = "files"
path = "inbox"

[[sinks]]
name = "soar"
type = "webhook"
url = "http://127.0.0.1:{hook.port}/hook"
secret = "s"

[[sinks]]
name = "file"
type = "jsonl"
path = "state/alerts.jsonl"
""")
        checks = run_checks(config, state)
    finally:
        hook.close()
    assert [c for c in checks if c.status == FAIL] == []
    found = by_what(checks)
    assert found["rules"].status == OK and "1 rules" in found["rules"].detail
    assert found["sink soar"].status == OK and "accepts connections" in found["sink soar"].detail
    assert found["state dir"].status == OK


def test_permissions_and_unreachable_sink_fail_with_a_fix(setup, capsys):
    tmp, state = setup
    state.chmod(0o755)
    key = state / "fingerprint.key"
    key.write_bytes(b"k" * 32)
    key.chmod(0o644)
    config = write_config(tmp, f"""
[[sinks]]
name = "soar"
type = "webhook"
url = "http://127.0.0.1:{closed_port()}/hook"
secret = "s"
""")
    found = by_what(run_checks(config, state))
    assert found["state dir"].status == FAIL and f"chmod 700 {state}" in found["state dir"].fix
    assert found["fingerprint key"].status == FAIL and "chmod 600" in found["fingerprint key"].fix
    assert found["sink soar"].status == FAIL and "cannot connect" in found["sink soar"].detail
    assert main(["--config", str(config), "--state-dir", str(state), "doctor"]) == 1
    out = capsys.readouterr().out
    assert "FAIL state dir" in out and "fix: chmod 700" in out


def test_broken_rules_name_file_and_line(setup):
    tmp, state = setup
    (tmp / "rules" / "bad.toml").write_text('[[rules]]\nid = "bad"\nseverity = "huge"\n'
                                            'keywords = ["x"]\n')
    found = [c for c in run_checks(write_config(tmp, ""), state) if c.what == "rule problem"]
    assert any("bad.toml:" in c.detail and c.status == FAIL for c in found)


def test_tor_proxy_is_checked_with_a_socks5_greeting(setup):
    tmp, state = setup
    socks, not_socks = Listener(b"\x05\x00"), Listener(b"HTTP/1.0 400 Bad\r\n\r\n")
    source = """
[[sources]]
name = "leaksite"
type = "http"
format = "html"
tor = true
url = "http://example.onion/"
items = "div.post"
"""
    try:
        assert socks5_greeting("127.0.0.1", socks.port) is None
        assert "does not speak SOCKS5" in socks5_greeting("127.0.0.1", not_socks.port)
        ok = write_config(tmp, f'[network]\ntor_proxy = "socks5h://127.0.0.1:{socks.port}"\n'
                          + source)
        assert by_what(run_checks(ok, state))["tor proxy"].status == OK
        down = write_config(tmp, f'[network]\ntor_proxy = "socks5h://127.0.0.1:{closed_port()}"\n'
                            + source)
        tor = by_what(run_checks(down, state))["tor proxy"]
        assert tor.status == FAIL and "start Tor" in tor.fix
    finally:
        socks.close()
        not_socks.close()


def make_session(path, port: int) -> None:
    """A real Telethon session file pointing its data center at 127.0.0.1:port."""
    from telethon.crypto import AuthKey
    from telethon.sessions import SQLiteSession

    session = SQLiteSession(str(path.with_suffix("")))
    session.set_dc(2, "127.0.0.1", port)
    session.auth_key = AuthKey(b"\x01" * 256)
    session.save()
    session.close()
    path.chmod(0o600)


TELEGRAM = """
[[sources]]
name = "tg"
type = "telegram"
channel = "somechannel"
api_id = 12345
api_hash = "0123456789abcdef0123456789abcdef"
"""


def test_telegram_session_checks(setup):
    tmp, state = setup
    config = write_config(tmp, TELEGRAM)
    check = by_what(run_checks(config, state))["telegram session"]
    assert check.status == FAIL and "telegram login" in check.fix

    make_session(state / "telegram.session", closed_port())  # Telegram unreachable
    found = by_what(run_checks(config, state))
    assert found["telegram session"].status == OK
    assert found["telegram login"].status == FAIL
    assert "cannot reach Telegram" in found["telegram login"].detail

    with StateLock(state):  # the daemon is using the session: do not open it a second time
        found = by_what(run_checks(config, state))
    assert found["telegram login"].status == WARN and "is using the session" in \
        found["telegram login"].detail

    (state / "telegram.session").chmod(0o644)
    found = by_what(run_checks(config, state))
    assert found["telegram session file"].status == FAIL
    assert "chmod 600" in found["telegram session file"].fix
