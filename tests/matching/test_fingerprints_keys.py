"""The fingerprint key: created once 0600, overridable by the environment, never weakened."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import stat

import pytest

from monitor.errors import FingerprintError
from monitor.matching.fingerprints.hashing import Hasher
from monitor.matching.keys import KEY_ENV, KEY_FILE, key_id, load_key, parse_key


def test_key_file_created_0600_and_reused(tmp_path):
    key = load_key(tmp_path)
    path = tmp_path / KEY_FILE
    assert len(key) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_key(tmp_path) == key  # not regenerated
    assert bytes.fromhex(path.read_text().strip()) == key


def test_key_created_in_a_new_state_dir(tmp_path):
    state = tmp_path / "new" / "state"
    assert len(load_key(state)) == 32
    assert stat.S_IMODE(state.stat().st_mode) == 0o700


def test_no_key_without_create(tmp_path):
    with pytest.raises(FingerprintError, match="no fingerprint key"):
        load_key(tmp_path, create=False)
    assert not (tmp_path / KEY_FILE).exists()


def test_group_readable_key_file_refused(tmp_path):
    load_key(tmp_path)
    os.chmod(tmp_path / KEY_FILE, 0o640)
    with pytest.raises(FingerprintError, match="chmod 600"):
        load_key(tmp_path)


def test_env_key_hex_and_base64_override_file(tmp_path, monkeypatch):
    file_key = load_key(tmp_path)
    raw = bytes(range(40))
    monkeypatch.setenv(KEY_ENV, raw.hex())
    assert load_key(tmp_path) == raw
    monkeypatch.setenv(KEY_ENV, base64.b64encode(raw).decode())
    assert load_key(tmp_path) == raw
    monkeypatch.setenv(KEY_ENV, base64.urlsafe_b64encode(raw).decode().rstrip("="))
    assert load_key(tmp_path) == raw
    assert raw != file_key


@pytest.mark.parametrize("bad", ["abcd", "00" * 31, "not a key!!"])
def test_short_or_garbled_env_key_refused_without_echoing_it(tmp_path, monkeypatch, bad):
    monkeypatch.setenv(KEY_ENV, bad)
    with pytest.raises(FingerprintError) as err:
        load_key(tmp_path)
    assert KEY_ENV in str(err.value)
    assert bad not in str(err.value)


def test_key_never_logged(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    key = load_key(tmp_path)
    assert key.hex() not in caplog.text


def test_parse_key_binary_file_refused():
    with pytest.raises(FingerprintError, match="hex or base64"):
        parse_key(b"\xff" * 40, where="x")


def test_key_id_is_stable_and_reveals_nothing():
    key = bytes(32)
    assert key_id(key) == key_id(bytes(32))
    assert key_id(key) != key_id(b"\x01" * 32)
    assert key.hex()[:16] != key_id(key)


def test_hasher_is_hmac_sha256():
    key = os.urandom(32)
    h = Hasher(key)
    assert h.digest(b"name\0dupont") == hmac.digest(key, b"name\0dupont", "sha256")
    expected = int.from_bytes(hmac.digest(key, b"email\0a@b.fr", "sha256")[:8], "little")
    assert h.hash(b"email", "a@b.fr") == expected
    long_key = os.urandom(100)  # longer than the block: hashed first, as RFC 2104 says
    assert Hasher(long_key).digest(b"x") == hmac.new(long_key, b"x", hashlib.sha256).digest()


def test_systemd_credential_key_is_used_before_the_state_file(tmp_path, monkeypatch):
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "fingerprint.key").write_text("ab" * 32 + "\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    state = tmp_path / "state"
    assert load_key(state) == bytes.fromhex("ab" * 32)
    assert not (state / "fingerprint.key").exists()  # no second key made beside it
    monkeypatch.setenv("LEAKMON_FINGERPRINT_KEY", "cd" * 32)
    assert load_key(state) == bytes.fromhex("cd" * 32)  # the variable still comes first
