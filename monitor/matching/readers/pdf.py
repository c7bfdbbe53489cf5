"""PDF text through pypdf, one line per text line; encrypted PDFs tried with the passwords."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator, Sequence

from monitor.matching.readers import ReaderError
from monitor.matching.readers.passwords import Password


def rows(data: bytes, passwords: Sequence[Password] = ()) -> Iterator[str]:
    """The text lines of every page."""
    from pypdf import PdfReader

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # hostile files: warnings by the page
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            for pw in ("", *(p.value for p in passwords)):
                if reader.decrypt(pw):
                    break
            else:
                raise ReaderError(f"encrypted PDF, locked: {len(passwords)} candidate "
                                  "password(s) tried")
        pages = reader.pages
    except ReaderError:
        raise
    except Exception as e:
        raise ReaderError(f"unreadable PDF: {e}") from None
    for number, page in enumerate(pages, start=1):
        try:
            text = page.extract_text() or ""
        except Exception as e:
            raise ReaderError(f"PDF page {number} unreadable: {e}") from None
        for line in text.splitlines():
            if line.strip():
                yield line
