"""XLSX, XLS and ODS worksheets as text rows (python-calamine), one row per line.

Excel stores a birth date as a number with a date format; calamine turns such cells into
`datetime.date`/`datetime`, which are written ISO (1985-03-12) so that name + birth date
fingerprint records match as they do in a CSV export.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator

from monitor.matching.readers import ReaderError


def cell_text(value: object) -> str:
    """One cell as text: dates ISO, whole floats without '.0', empty for None."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0, 0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return str(value)
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return str(value).replace("\t", " ").replace("\r", " ").replace("\n", " ")


def rows(data: bytes, kind: str) -> Iterator[str]:
    """Each non-empty row of every sheet, cells separated by tabs (a header line per sheet)."""
    from python_calamine import CalamineWorkbook

    try:
        wb = CalamineWorkbook.from_filelike(io.BytesIO(data))
    except Exception as e:  # CalamineError, ZipError, XmlError, PasswordError, ...
        raise ReaderError(f"unreadable {kind} workbook: {e}") from None
    for sheet_name in wb.sheet_names:
        try:
            sheet = wb.get_sheet_by_name(sheet_name)
            yield f"# sheet {sheet_name}"
            for row in sheet.iter_rows():
                line = "\t".join(cell_text(v) for v in row).rstrip("\t")
                if line:
                    yield line
        except Exception as e:
            raise ReaderError(f"{kind} sheet {sheet_name!r} unreadable: {e}") from None
