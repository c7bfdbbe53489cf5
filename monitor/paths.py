"""The state directory and the files in it that hold secrets (mode 0600)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from monitor.errors import StateDirError

STATE_ENV = "LEAKMON_STATE_DIR"


def resolve_state_dir(cli_value: str | None, config_value: Path | None) -> Path:
    """--state-dir, else $LEAKMON_STATE_DIR, else the config's state_dir, else ./state."""
    if cli_value:
        return Path(cli_value).expanduser().resolve()
    if os.environ.get(STATE_ENV):
        return Path(os.environ[STATE_ENV]).expanduser().resolve()
    if config_value is not None:
        return config_value.resolve()
    return (Path.cwd() / "state").resolve()


def ensure_state_dir(path: Path) -> Path:
    """Create the state directory (0700) if needed and check that it is a writable folder."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as e:
        raise StateDirError(f"cannot create state directory {path}: {e.strerror}") from None
    if not path.is_dir():
        raise StateDirError(f"state directory {path} exists but is not a folder")
    if not os.access(path, os.W_OK | os.X_OK):
        raise StateDirError(f"state directory {path} is not writable by this user")
    return path


def write_secret(path: Path, data: bytes) -> None:
    """Write a file readable by its owner only, atomically (no moment with wider permissions)."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def is_private(path: Path) -> bool:
    """True when no one but the owner can read or write `path`."""
    mode = path.stat().st_mode
    return not (mode & (stat.S_IRWXG | stat.S_IRWXO))
