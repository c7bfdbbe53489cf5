"""DOCX and ODT text: one line per paragraph, one line per table row (cells tab-separated)."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from xml.etree import ElementTree as ET

from monitor.matching.readers import ReaderError

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_TEXT = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}"
_TABLE = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"
# kind -> (member, paragraph tag, row tag, cell tag, text tags)
_LAYOUT = {
    "docx": ("word/document.xml", f"{_W}p", f"{_W}tr", f"{_W}tc", (f"{_W}t",)),
    "odt": ("content.xml", f"{_TEXT}p", f"{_TABLE}table-row", f"{_TABLE}table-cell", ()),
}


def _text(elem: ET.Element, text_tags: tuple[str, ...]) -> str:
    if not text_tags:
        return "".join(elem.itertext())
    return "".join(t.text or "" for t in elem.iter() if t.tag in text_tags)


def rows(zf: zipfile.ZipFile, kind: str, max_bytes: int) -> Iterator[str]:
    """Paragraphs and table rows of the main document part, read at most `max_bytes`."""
    member, para, row, cell, text_tags = _LAYOUT[kind]
    try:
        info = zf.getinfo(member)
        if info.file_size > max_bytes:
            raise ReaderError(f"{kind} body declares {info.file_size} bytes: beyond the "
                              "unpacked-size cap, not opened")
        with zf.open(info) as fh:
            in_row = 0
            for event, elem in ET.iterparse(fh, events=("start", "end")):
                if elem.tag == row:
                    if event == "start":
                        in_row += 1
                        continue
                    in_row -= 1
                    yield "\t".join(_text(c, text_tags).strip() for c in elem.iter(cell))
                    elem.clear()
                elif event == "end" and elem.tag == para and not in_row:
                    line = _text(elem, text_tags).strip()
                    if line:
                        yield line
                    elem.clear()
    except ReaderError:
        raise
    except Exception as e:  # KeyError (no body), ParseError, BadZipFile, zlib.error
        raise ReaderError(f"unreadable {kind} document: {e}") from None
