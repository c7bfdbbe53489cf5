"""XML record dumps (`mysql --xml`, `mysqldump --xml`, exports with one element per record)
as one line per record.

`mysql --xml` writes each field on its own line (`<field name="nom">Dupont</field>`), so the
fields of one record never share a line and row-based matching (name + birth date) misses
them. A record is an element whose children are all leaves: its fields become one line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from xml.etree import ElementTree as ET

_HEAD = 4096


def looks_like(head: bytes) -> bool:
    """A mysql XML dump: <resultset> (mysql --xml) or <mysqldump> (mysqldump --xml) near the
    start. Other XML is scanned as it is (its text between tags may matter as written)."""
    start = head[:_HEAD].lstrip(b"\xef\xbb\xbf \t\r\n")
    if start.startswith(b"<?xml"):
        start = start[start.find(b"?>") + 2:].lstrip()
    return start.startswith((b"<resultset", b"<mysqldump"))


def to_rows(data: bytes) -> bytes | None:
    """The records of `data`, one per line (values tab-separated), or None when `data` is not
    well-formed XML or holds no record (then the text is scanned as it is)."""
    from xml.etree import ElementTree as ET  # only for an XML dump: not in every start-up

    parser: ET.XMLPullParser[ET.Element] = ET.XMLPullParser(events=("end",))
    lines: list[str] = []
    try:
        parser.feed(data)
        parser.close()
    except ET.ParseError:
        return None
    records: set[int] = set()
    for event in parser.read_events():
        elem = event[-1]
        if not isinstance(elem, ET.Element):  # "end" events carry elements only
            continue
        children = list(elem)
        if children and all(len(c) == 0 and id(c) not in records for c in children):
            records.add(id(elem))
            values = [v for v in elem.attrib.values()]
            values += [(c.text or "").strip().replace("\t", " ").replace("\n", " ")
                       for c in children]
            lines.append("\t".join(values))
            elem.clear()
    return ("\n".join(lines) + "\n").encode("utf-8") if lines else None
