"""PostgreSQL under the store (psycopg 3): the few calls the store mixins make on SQLite's
sqlite-utils `Database` (`execute`, `query`, `table_names`), so their SQL is written once.

Why an adapter rather than an ORM: the store's SQL is small, portable and already tested on
SQLite; this module only translates `?` placeholders to psycopg's `%s`, keeps the connection in
autocommit mode (the store opens every transaction itself with BEGIN, as on SQLite) and turns
psycopg errors into `StoreError`s naming the database and the statement, never the password.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import pq
from psycopg.rows import dict_row

from monitor.errors import StoreError

SCHEMES = ("postgresql", "postgres")
CONNECT_TIMEOUT_S = 10
# One key for `pg_advisory_xact_lock` while the schema is migrated (any 64-bit constant that
# no other application on the same database is likely to use: "leakmon" in ASCII).
MIGRATION_LOCK = 0x6C65616B6D6F6E

# Outside literals, quoted identifiers and comments `?` is a parameter; `%` is doubled
# everywhere (psycopg reads `%` as a placeholder even inside a literal).
_TOKENS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|/\*.*?\*/|\?|%", re.S)
_WHAT = re.compile(r"\b(INSERT\s+INTO|UPDATE|DELETE\s+FROM|FROM|CREATE\s+(?:UNIQUE\s+)?"
                   r"(?:TABLE|INDEX|VIEW)|ALTER\s+TABLE|DROP\s+TABLE)\s+(\w+)", re.I)


class Cursor(Protocol):
    """What the store reads of a cursor, typed as loosely as sqlite3's (rows as `Any`)."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class PgStoreError(StoreError):
    """A statement failed on PostgreSQL; `sqlstate` is the server's error code (e.g. 23505,
    a unique violation) so callers can tell a conflict from a broken connection."""

    def __init__(self, message: str, sqlstate: str | None = None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


def is_url(value: object) -> bool:
    """True for a `postgresql://` (or `postgres://`) URL."""
    return isinstance(value, str) and urlsplit(value).scheme in SCHEMES


def redact(url: str) -> str:
    """The URL without its password (in the authority or as a `password=` parameter)."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        netloc = f"{userinfo.partition(':')[0]}@{hostport}"
    query = urlencode([(k, "***" if k.lower() == "password" else v)
                       for k, v in parse_qsl(parts.query, keep_blank_values=True)])
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def describe(url: str) -> str:
    """"database D on HOST:PORT" for messages, as written in the URL (libpq's defaults else)."""
    parts = urlsplit(url)
    hostport = parts.netloc.rpartition("@")[2] or "localhost"
    if not re.search(r":[^:\]]*$", hostport):
        hostport += ":5432"
    db = parts.path.lstrip("/") or parts.username or "(default)"
    return f"database {db!r} on {hostport}"


@lru_cache(maxsize=2048)
def translate(sql: str) -> str:
    """SQLite's `?` placeholders as psycopg's `%s` (and literal `%` as `%%`)."""
    return _TOKENS.sub(lambda m: "%s" if m.group(0) == "?" else m.group(0).replace("%", "%%"),
                       sql)


def _what(sql: str) -> str:
    m = _WHAT.search(sql)
    return " ".join([*m.group(1).upper().split(), m.group(2)]) if m else sql.split(None, 1)[0]


def _message(e: psycopg.Error, secret: str | None) -> str:
    diag = getattr(e, "diag", None)
    text = (diag.message_primary if diag is not None and diag.message_primary else str(e))
    text = " ".join(text.split())
    if secret:
        text = text.replace(secret, "***")
    return text


class PgDatabase:
    """One psycopg connection with the sqlite-utils surface the store uses."""

    dialect = "postgresql"

    def __init__(self, conn: psycopg.Connection, url: str, password: str | None = None) -> None:
        self.conn = conn
        self.url = redact(url)
        self._dsn: tuple[str, str | None] | None = (url, password)  # None once closed
        self._txn = False  # inside BEGIN ... COMMIT/ROLLBACK, as the store sent them

    @classmethod
    def connect(cls, url: str, *, password: str | None = None) -> PgDatabase:
        """Connect (autocommit; transactions are opened explicitly by the store)."""
        return cls(cls._connect(url, password), url, password)

    @staticmethod
    def _connect(url: str, password: str | None) -> psycopg.Connection:
        where = f"{describe(url)} ({redact(url)})"
        kwargs: dict[str, Any] = {"autocommit": True, "connect_timeout": CONNECT_TIMEOUT_S,
                                  "application_name": "leakmon"}
        if password:
            kwargs["password"] = password
        secret = password or urlsplit(url).password
        try:
            return psycopg.connect(url, **kwargs)
        except psycopg.Error as e:
            raise PgStoreError(f"cannot open store {where}: {_message(e, secret)}",
                               getattr(e, "sqlstate", None)) from None

    # -- what the mixins call ------------------------------------------------------------------

    def execute(self, sql: str, params: Sequence[Any] | None = ()) -> Cursor:
        """Run one statement; the cursor has `rowcount`, `fetchone()`, `fetchall()`."""
        word = sql.lstrip()[:8].upper()
        if word.startswith("BEGIN"):
            self._reconnect_if_lost(starting=True)
            self._txn = True
        elif word.startswith(("COMMIT", "ROLLBACK")):
            self._txn = False
        else:
            self._reconnect_if_lost()
        try:
            return self.conn.execute(translate(sql), tuple(params or ()))
        except psycopg.Error as e:
            raise self._error(e, sql) from e

    def _reconnect_if_lost(self, *, starting: bool = False) -> None:
        """A connection the server dropped (restart, failover, idle timeout) is opened again
        before the next transaction or autocommit read; inside a transaction it is not (that
        transaction is lost and its error has already reached the caller)."""
        if self.conn.closed and self._dsn is not None and (starting or not self._txn):
            self.conn = self._connect(*self._dsn)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self._reconnect_if_lost()
        try:
            with self.conn.cursor() as cur:
                cur.executemany(translate(sql), [tuple(r) for r in rows])
        except psycopg.Error as e:
            raise self._error(e, sql) from e

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = ()
              ) -> Iterator[dict[str, Any]]:
        """Rows as dicts, as sqlite-utils' `Database.query` gives them (`?` parameters only:
        SQLite's `:name` ones are not translated)."""
        if isinstance(params, dict):
            raise TypeError("named parameters are SQLite-only; use ? placeholders")
        self._reconnect_if_lost()
        try:
            with self.conn.cursor(row_factory=dict_row) as cur:
                rows = cur.execute(translate(sql), tuple(params or ())).fetchall()
        except psycopg.Error as e:
            raise self._error(e, sql) from e
        return iter(rows)

    def table_names(self) -> list[str]:
        return [r[0] for r in self.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = "
            "current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name").fetchall()]

    def view_names(self) -> list[str]:
        return [r[0] for r in self.execute(
            "SELECT table_name FROM information_schema.views WHERE table_schema = "
            "current_schema() ORDER BY table_name").fetchall()]

    @property
    def in_transaction(self) -> bool:
        """True inside an open (or failed) transaction; False on a lost connection, which has
        nothing left to roll back."""
        return not self.conn.closed and self.conn.info.transaction_status in (
            pq.TransactionStatus.INTRANS, pq.TransactionStatus.INERROR,
            pq.TransactionStatus.ACTIVE)

    def close(self) -> None:
        self._dsn = None  # closed on purpose: never opened again behind the caller's back
        self.conn.close()

    def _error(self, e: psycopg.Error, sql: str) -> PgStoreError:
        return PgStoreError(f"store {self.url}: {_what(sql)} failed: {_message(e, None)}",
                            getattr(e, "sqlstate", None))
