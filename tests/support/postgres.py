"""PostgreSQL for the tests: a throw-away cluster (initdb + pg_ctl in a folder, on 127.0.0.1)
and `PgDatabases`, which makes one fresh database per test on it.

The cluster is started by the `pg_url` fixture (tests/conftest.py) when `LEAKMON_TEST_PG_URL`
is not set, and by `.ci/run` (`python3 -m tests.support.postgres start DIR` prints the URL,
`... stop DIR` stops it), so that both start it the same way. Standard library only at import:
`.ci/run` calls it before the virtual environment exists.

Why these settings: initdb refuses to run as root, so as root the cluster belongs to the
`postgres` OS user (the Debian package creates it); password (scram) authentication on TCP so
the tests can check a wrong password; C locale so text order is byte order, as in SQLite;
fsync off because a test cluster need not survive a power cut. A test session that is killed
(a timeout, ^C twice) runs no teardown: a watchdog process holding the read end of a pipe from
the session stops and removes the cluster when that pipe closes, so no server is left behind.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

from tests.support.net import LOOPBACK, free_port

USER = "leakmon"
_SERVER_OPTS = ("-c listen_addresses={host} -c port={port} -c unix_socket_directories={dir} "
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


# folder -> its watchdog (see start): this process is its only writer
_WATCHDOGS: dict[Path, subprocess.Popen] = {}
# Blocks on stdin until the starting process closes it or dies, then stops and removes.
_WATCHDOG = 'read _; "$0" -D "$1/data" -m immediate -w stop >/dev/null 2>&1; rm -rf "$1"'


def _as(owner: pwd.struct_passwd | None) -> dict:
    return {} if owner is None else {"user": owner.pw_uid, "group": owner.pw_gid,
                                      "extra_groups": []}


def _run(args: list[str], *, owner: pwd.struct_passwd | None) -> None:
    """Run a server tool, as `owner` when we are root (initdb and postgres refuse root)."""
    done = subprocess.run(args, capture_output=True, text=True, check=False, **_as(owner))
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


def start(folder: Path, *, watchdog: bool = True) -> str:
    """Create and start a cluster in `folder` (created); returns a URL of a CREATEDB role.

    With `watchdog` (the fixture) the cluster lives at most as long as this process; without
    (`.ci/run`, whose shell stops it with a trap) it runs until `stop`."""
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
    data, port = folder / "data", free_port()
    _run([str(bins / "initdb"), "-D", str(data), "-U", USER, f"--pwfile={pwfile}",
          "--auth-host=scram-sha-256", "--auth-local=trust", "--locale=C", "-E", "UTF8",
          "--no-sync"], owner=owner)
    pwfile.unlink()
    _run([str(bins / "pg_ctl"), "-D", str(data), "-l", str(folder / "server.log"), "-w",
          "-t", "60", "-o", _SERVER_OPTS.format(host=LOOPBACK, port=port, dir=folder), "start"],
         owner=owner)
    if watchdog:
        _WATCHDOGS[folder] = subprocess.Popen(
            ["sh", "-c", _WATCHDOG, str(bins / "pg_ctl"), str(folder)], stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **_as(owner))
    return f"postgresql://{USER}:{password}@{LOOPBACK}:{port}/postgres"


def stop(folder: Path) -> None:
    """Stop the cluster in `folder` (fast shutdown: clients are disconnected) and remove it."""
    dog = _WATCHDOGS.pop(folder, None)
    if dog is not None:  # closing its pipe is its signal: it stops the server and removes all
        assert dog.stdin is not None
        dog.stdin.close()
        dog.wait(120)
    bins, data = bin_dir(), folder / "data"
    if bins is not None and (data / "postmaster.pid").exists():
        _run([str(bins / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
             owner=_owner())
    shutil.rmtree(folder, ignore_errors=True)


class PgDatabases:
    """Creates databases (empty, or copies of one migrated to the latest schema) on `pg_url`
    and drops them all at the end of the session."""

    def __init__(self, url: str) -> None:
        import secrets

        import psycopg

        self.url = url
        self._admin = psycopg.connect(url, autocommit=True)
        self._prefix = f"lm_{secrets.token_hex(4)}"
        self._n = 0
        self._template: str | None = None
        self._made: list[str] = []

    def url_of(self, name: str) -> str:
        from urllib.parse import urlsplit, urlunsplit

        parts = urlsplit(self.url)
        return urlunsplit(parts._replace(path=f"/{name}"))

    def create(self, *, migrated: bool = True) -> str:
        """A new database; `migrated=False`: empty (no schema_version table at all)."""
        self._n += 1
        name = f"{self._prefix}_{self._n}"
        template = self._migrated_template() if migrated else "template0"
        self._admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        self._made.append(name)
        return self.url_of(name)

    def drop(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        self._admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self._made.remove(name)

    def _migrated_template(self) -> str:
        if self._template is None:
            from monitor.store import Store

            self._template = f"{self._prefix}_template"
            self._admin.execute(f'CREATE DATABASE "{self._template}" TEMPLATE template0')
            self._made.append(self._template)
            Store.open(self.url_of(self._template)).close()
        return self._template

    def close(self) -> None:
        for name in list(self._made):
            self._admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self._admin.close()


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("start", "stop"):
        sys.exit("usage: python3 -m tests.support.postgres start|stop FOLDER")
    if sys.argv[1] == "start":
        print(start(Path(sys.argv[2]), watchdog=False))
    else:
        stop(Path(sys.argv[2]))
