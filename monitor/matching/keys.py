"""The secret key under which record fingerprints are computed.

Fingerprints are HMAC-SHA-256 of normalized field values. Without the key, a stolen set is
useless to an attacker (they cannot test guesses such as "is Jean Dupont born 1985-03-12 in
it?"); with it, they can. So the key lives apart from the sets when possible: in
`LEAKMON_FINGERPRINT_KEY` (e.g. a vault-injected variable), else in a systemd credential
(`LoadCredential=fingerprint.key:...`, read from `$CREDENTIALS_DIRECTORY`), else in
`<state_dir>/fingerprint.key`, created once with 32 random bytes and mode 0600. The key is never
logged and never appears in an error message.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import secrets
from pathlib import Path

from monitor.errors import FingerprintError
from monitor.paths import ensure_state_dir, is_private, write_secret

KEY_ENV = "LEAKMON_FINGERPRINT_KEY"
KEY_FILE = "fingerprint.key"
CREDENTIALS_ENV = "CREDENTIALS_DIRECTORY"  # set by systemd for LoadCredential=
MIN_KEY_BYTES = 32

_HEX = re.compile(r"^[0-9a-fA-F]+$")
_B64 = re.compile(r"^[A-Za-z0-9+/_-]+={0,2}$")


def parse_key(text: str | bytes, *, where: str) -> bytes:
    """Decode a key written as hex or base64 (standard or URL-safe); at least 32 bytes.

    `where` names the origin (the variable or file) in errors; the value itself never does.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("ascii")
        except UnicodeDecodeError:
            raise FingerprintError(
                f"{where}: the fingerprint key must be written as hex or base64 text"
            ) from None
    value = "".join(text.split())
    key: bytes | None = None
    if value and _HEX.match(value) and len(value) % 2 == 0:
        key = bytes.fromhex(value)
    elif value and _B64.match(value):
        padded = value + "=" * (-len(value) % 4)
        try:
            key = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
        except (binascii.Error, ValueError):
            key = None
    if key is None:
        raise FingerprintError(
            f"{where}: the fingerprint key is neither hex nor base64; generate one with "
            "`python -c 'import secrets; print(secrets.token_hex(32))'`"
        )
    if len(key) < MIN_KEY_BYTES:
        raise FingerprintError(
            f"{where}: the fingerprint key is {len(key)} bytes long; at least "
            f"{MIN_KEY_BYTES} bytes are required"
        )
    return key


def key_path(state_dir: Path) -> Path:
    return Path(state_dir) / KEY_FILE


def load_key(state_dir: Path, *, create: bool = True) -> bytes:
    """The fingerprint key: $LEAKMON_FINGERPRINT_KEY, else the systemd credential
    `fingerprint.key`, else `<state_dir>/fingerprint.key`.

    With `create`, a missing key file is created (32 random bytes, hex, mode 0600). A key file
    that group or others can read is refused: a key that leaked makes every set guessable.
    """
    env = os.environ.get(KEY_ENV)
    if env is not None and env.strip():
        return parse_key(env, where=f"${KEY_ENV}")
    credentials = os.environ.get(CREDENTIALS_ENV)
    if credentials and (Path(credentials) / KEY_FILE).is_file():
        # systemd made this file readable by the service only; its mode is systemd's business.
        credential = Path(credentials) / KEY_FILE
        return parse_key(credential.read_bytes(), where=f"systemd credential {credential}")
    path = key_path(state_dir)
    if not path.exists():
        if not create:
            raise FingerprintError(
                f"no fingerprint key: set ${KEY_ENV} or create {path} "
                "(`leakmon fingerprints import` creates it)"
            )
        ensure_state_dir(Path(state_dir))
        try:
            write_secret(path, (secrets.token_hex(MIN_KEY_BYTES) + "\n").encode("ascii"))
        except OSError as e:
            raise FingerprintError(
                f"cannot create fingerprint key file {path}: {e.strerror}"
            ) from None
    if not is_private(path):
        raise FingerprintError(
            f"fingerprint key file {path} is readable or writable by group or others; "
            f"run `chmod 600 {path}`"
        )
    try:
        data = path.read_bytes()
    except OSError as e:
        raise FingerprintError(f"cannot read fingerprint key file {path}: {e.strerror}") from None
    return parse_key(data, where=str(path))


def key_id(key: bytes) -> str:
    """A short public tag of the key, stored with each set to detect a key mismatch at load.

    Derived through HMAC so it reveals nothing about the key itself.
    """
    return hmac.new(key, b"leakmon fingerprint key id v1", hashlib.sha256).hexdigest()[:16]
