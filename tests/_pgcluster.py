"""A throw-away PostgreSQL cluster for the tests: initdb + pg_ctl in a folder, on 127.0.0.1.

Used by the `pg_url` fixture (tests/conftest.py) when `LEAKMON_TEST_PG_URL` is not set, and by
`.ci/run` (`python3 tests/_pgcluster.py start DIR` prints the URL, `... stop DIR` stops it),
so that both start the cluster the same way. Standard library only: `.ci/run` calls it before
the virtual environment exists.

Why these settings: initdb refuses to run as root, so as root the cluster belongs to the
`postgres` OS user (the Debian package creates it); password (scram) authentication on TCP so
the tests can check a wrong password; C locale so text order is byte order, as in SQLite;
fsync off because a test cluster need not survive a power cut.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import sys
from pathlib import Path

USER = "leakmon"
_SERVER_OPTS = ("-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={dir} "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                "-c max_connections=200 -c shared_buffers=32MB")


def bin_dir() -> Path | None:
    """The newest /usr/lib/postgresql/N/bin that has initdb (Debian's layout), or PATH's."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parent.parent.name) if
                   Path(p).parent.parent.name.isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(args: list[str], *, owner: pwd.struct_passwd | None) -> None:
    """Run a server tool, as `owner` when we are root (initdb and postgres refuse root)."""
    kwargs: dict = {}
    if owner is not None:
        kwargs = {"user": owner.pw_uid, "group": owner.pw_gid, "extra_groups": []}
    done = subprocess.run(args, capture_output=True, text=True, check=False, **kwargs)
    if done.returncode:
        raise RuntimeError(f"{' '.join(args[:2])} failed ({done.returncode}): "
                           f"{(done.stderr or done.stdout).strip()[-2000:]}")


def _owner() -> pwd.struct_passwd | None:
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        raise RuntimeError("running as root, but there is no 'postgres' OS user to own the "
                           "test cluster (install Debian's postgresql package)") from None


def start(folder: Path) -> str:
    """Create and start a cluster in `folder` (created); returns a URL of a CREATEDB role."""
    bins = bin_dir()
    if bins is None:
        raise RuntimeError("no PostgreSQL server found (initdb); install Debian's postgresql "
                           "package, or set LEAKMON_TEST_PG_URL to a database the tests may use")
    owner = _owner()
    folder.mkdir(parents=True, exist_ok=True)
    password = secrets.token_hex(16)
    pwfile = folder / "pwfile"
    pwfile.write_text(password + "\n")
    os.chmod(folder, 0o700)
    if owner is not None:
        for p in (folder, pwfile):
            os.chown(p, owner.pw_uid, owner.pw_gid)
    data, port = folder / "data", _free_port()
    _run([str(bins / "initdb"), "-D", str(data), "-U", USER, f"--pwfile={pwfile}",
          "--auth-host=scram-sha-256", "--auth-local=trust", "--locale=C", "-E", "UTF8",
          "--no-sync"], owner=owner)
    pwfile.unlink()
    _run([str(bins / "pg_ctl"), "-D", str(data), "-l", str(folder / "server.log"), "-w",
          "-t", "60", "-o", _SERVER_OPTS.format(port=port, dir=folder), "start"], owner=owner)
    return f"postgresql://{USER}:{password}@127.0.0.1:{port}/postgres"


def stop(folder: Path) -> None:
    """Stop the cluster in `folder` (fast shutdown: clients are disconnected) and remove it."""
    bins, data = bin_dir(), folder / "data"
    if bins is not None and (data / "postmaster.pid").exists():
        _run([str(bins / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
             owner=_owner())
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("start", "stop"):
        sys.exit("usage: _pgcluster.py start|stop FOLDER")
    if sys.argv[1] == "start":
        print(start(Path(sys.argv[2])))
    else:
        stop(Path(sys.argv[2]))
