"""SQLite database files: every table's rows, one line each (values tab-separated).

The file is opened from memory (`deserialize`), read-only, with untrusted schema features off:
a hostile database cannot run triggers or views' functions against us.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

from monitor.matching.readers import ReaderError
from monitor.matching.readers.sheets import cell_text


def _value(v: object) -> str:
    if isinstance(v, bytes):
        try:
            return v.decode("utf-8")
        except UnicodeDecodeError:
            return ""
    return cell_text(v)


def rows(data: bytes) -> Iterator[str]:
    """A `# table NAME` line with the column names, then each row of each table."""
    con = sqlite3.connect(":memory:")
    try:
        try:
            con.deserialize(data)
            con.execute("PRAGMA query_only = ON")
            con.execute("PRAGMA trusted_schema = OFF")
            tables = [r[0] for r in con.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY rowid")]
        except sqlite3.Error as e:
            raise ReaderError(f"unreadable SQLite database: {e}") from None
        for table in tables:
            quoted = '"' + table.replace('"', '""') + '"'
            try:
                cur = con.execute(f"SELECT * FROM {quoted}")
                yield f"# table {table}: " + "\t".join(d[0] for d in cur.description or ())
                for row in cur:
                    yield "\t".join(_value(v) for v in row)
            except sqlite3.Error as e:
                raise ReaderError(f"SQLite table {table!r} unreadable: {e}") from None
    finally:
        con.close()
