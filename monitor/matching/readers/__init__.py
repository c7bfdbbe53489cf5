"""Readers for containers and documents that `monitor.matching.extract` hands over by kind.

One module per family: `archives` (7z, RAR, cpio, ISO and password-protected zip through
libarchive, encrypted 7z through py7zr), `passwords` (where archive passwords come from),
`sheets` (XLSX/XLS/ODS), `office` (DOCX/ODT), `pdf`, `sqlite`, `xmlrows` (mysql --xml).
Document readers yield text rows, one record per line, so that the row-based fingerprint
reader (name + birth date on one line) works on them as on a CSV. They never raise on hostile
content: `ReaderError` carries the reason a caller reports as a skipped part.
"""

from __future__ import annotations


class ReaderError(Exception):
    """The blob cannot be read by this reader; the message is the skip reason."""
