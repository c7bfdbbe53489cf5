"""What the table mixins (documents, incidents, outbox, sources) use of `Store` (db.py).

The mixins hold the SQL of one table group each and run it through the connection and the
transaction of the `Store` they are mixed into; this protocol declares that surface so the
type checker can follow `self.db`, `self.query` and the rest inside a mixin.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any, Protocol

import sqlite_utils

from monitor.store._postgres import PgDatabase


class StoreMixin(Protocol):
    db: sqlite_utils.Database | PgDatabase  # the same execute/query surface on both
    dialect: str

    def transaction(self) -> AbstractContextManager[Any]: ...

    @property
    def in_transaction(self) -> bool: ...

    def query(self, sql: str, params: tuple | dict = ()) -> list[dict[str, Any]]: ...

    def _fetchone(self, sql: str, params: tuple = ()) -> tuple | None: ...

    def _fetchall(self, sql: str, params: tuple = ()) -> list[tuple]: ...

    def _executemany(self, sql: str, rows: list[tuple]) -> None: ...

    def _lock_row(self, table: str, id: int) -> None: ...
