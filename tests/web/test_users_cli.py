"""`leakmon users`: accounts and tokens from the command line, over the store functions."""

from __future__ import annotations

from monitor.store import Store
from monitor.store.users import user_for_token, verify_password
from tests.support.cli import run_cli


def run(capsys, *argv, stdin: str = "") -> tuple[int, str, str]:
    """`leakmon --state-dir ARGV[0] ARGV[1:]...` reading `stdin`."""
    return run_cli(capsys, "--state-dir", *argv, stdin=stdin)


def test_add_list_token_remove(tmp_path, capsys):
    sd = tmp_path / "st"
    code, out, _ = run(capsys, sd, "users", "add", "alice", "--role", "analyst",
                       "--password-stdin", stdin="correct horse battery\n")
    assert code == 0 and out == "user alice added with role analyst\n"
    code, _, err = run(capsys, sd, "users", "add", "alice", "--role", "viewer",
                       "--password-stdin", stdin="another password\n")
    assert code != 0 and "already exists" in err
    code, _, err = run(capsys, sd, "users", "add", "bob", "--role", "viewer",
                       "--password-stdin", stdin="short\n")
    assert code != 0 and "at least 8" in err
    code, _, err = run(capsys, sd, "users", "add", "b<b>", "--role", "viewer",
                       "--no-password")
    assert code != 0 and "user name" in err
    code, token, _ = run(capsys, sd, "users", "token", "alice")
    assert code == 0 and token.startswith("lm_")
    code, out, _ = run(capsys, sd, "users", "list")
    assert out.split()[:2] == ["alice", "analyst"]
    with Store.open(sd) as s:
        assert verify_password(s, "alice", "correct horse battery").role == "analyst"
        assert verify_password(s, "alice", "wrong") is None
        assert user_for_token(s, token.strip()).name == "alice"
    assert run(capsys, sd, "users", "remove", "alice")[0] == 0
    with Store.open(sd) as s:
        assert user_for_token(s, token.strip()) is None
        assert verify_password(s, "alice", "correct horse battery") is None
