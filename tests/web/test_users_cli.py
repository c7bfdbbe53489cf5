"""`leakmon users`: accounts and tokens from the command line, over the store functions."""

from __future__ import annotations

import io

from monitor.cli import main
from monitor.store import Store
from monitor.store.users import user_for_token, verify_password


def run(capsys, monkeypatch, *argv, stdin: str = "") -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(["--state-dir", str(argv[0]), *argv[1:]])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_add_list_token_remove(tmp_path, capsys, monkeypatch):
    sd = tmp_path / "st"
    code, out, _ = run(capsys, monkeypatch, sd, "users", "add", "alice", "--role", "analyst",
                       "--password-stdin", stdin="correct horse battery\n")
    assert code == 0 and out == "user alice added with role analyst\n"
    code, _, err = run(capsys, monkeypatch, sd, "users", "add", "alice", "--role", "viewer",
                       "--password-stdin", stdin="another password\n")
    assert code != 0 and "already exists" in err
    code, _, err = run(capsys, monkeypatch, sd, "users", "add", "bob", "--role", "viewer",
                       "--password-stdin", stdin="short\n")
    assert code != 0 and "at least 8" in err
    code, _, err = run(capsys, monkeypatch, sd, "users", "add", "b<b>", "--role", "viewer",
                       "--no-password")
    assert code != 0 and "user name" in err
    code, token, _ = run(capsys, monkeypatch, sd, "users", "token", "alice")
    assert code == 0 and token.startswith("lm_")
    code, out, _ = run(capsys, monkeypatch, sd, "users", "list")
    assert out.split()[:2] == ["alice", "analyst"]
    with Store.open(sd) as s:
        assert verify_password(s, "alice", "correct horse battery").role == "analyst"
        assert verify_password(s, "alice", "wrong") is None
        assert user_for_token(s, token.strip()).name == "alice"
    assert run(capsys, monkeypatch, sd, "users", "remove", "alice")[0] == 0
    with Store.open(sd) as s:
        assert user_for_token(s, token.strip()) is None
        assert verify_password(s, "alice", "correct horse battery") is None
