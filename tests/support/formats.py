"""Builders for the archive and document fixtures (make_zip, make_tar, ...), written with the real libraries and tools
(py7zr, the `7z` and `zstd` programs, zstandard, libarchive, openpyxl, fpdf2, sqlite3), plus a
RAR 4 writer for the "stored" method following RARLAB's technote (no free tool writes RAR)."""

from __future__ import annotations

import datetime as dt
import io
import sqlite3
import struct
import subprocess
import tarfile
import zipfile
import zlib
from pathlib import Path

# Our records as a leak would carry them: id, last name, first name, birth date.
RECORDS = [("P1", "Dupont", "Jean-Pierre", dt.date(1985, 3, 12)),
           ("P2", "Le Gall", "Marie", dt.date(1990, 7, 1))]
DECOY = ("X9", "Nobody", "Zoé", dt.date(1970, 1, 1))
HEADER = ("id", "nom", "prenom", "naissance")


def csv_bytes(rows=(*RECORDS, DECOY)) -> bytes:
    lines = [",".join(HEADER)] + [f"{i},{n},{p},{d:%d/%m/%Y}" for i, n, p, d in rows]
    return ("\n".join(lines) + "\n").encode("utf-8")


def make_zip(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A zip archive of `members` (name -> bytes), written by zipfile."""
    bio = io.BytesIO()
    with zipfile.ZipFile(bio, "w", method) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return bio.getvalue()


def make_tar(members: dict[str, bytes], mode: str = "w") -> bytes:
    """A tar archive of `members`; `mode` e.g. "w:gz" compresses it."""
    bio = io.BytesIO()
    with tarfile.open(fileobj=bio, mode=mode) as t:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return bio.getvalue()


def seven_zip(members: dict[str, bytes], password: str | None = None,
              header_encryption: bool = False) -> bytes:
    import py7zr

    bio = io.BytesIO()
    with py7zr.SevenZipFile(bio, "w", password=password,
                            header_encryption=header_encryption) as z:
        for name, data in members.items():
            z.writestr(data, name)
    return bio.getvalue()


def seven_zip_cli(tmp: Path, members: dict[str, bytes], *args: str) -> bytes:
    """An archive written by the real 7z program (p7zip): `args` e.g. "-t7z", "-pX", "-mhe=on"."""
    src = tmp / "src"
    src.mkdir(exist_ok=True)
    for name, data in members.items():
        (src / name).write_bytes(data)
    out = tmp / "out.archive"
    out.unlink(missing_ok=True)
    subprocess.run(["7z", "a", "-bso0", "-bsp0", *args, str(out), *members], cwd=src,
                   check=True)
    return out.read_bytes()


def zstd_cli(tmp: Path, data: bytes) -> bytes:
    """`data` compressed by the real zstd program."""
    src = tmp / "in.bin"
    src.write_bytes(data)
    return subprocess.run(["zstd", "-q", "-c", str(src)], check=True,
                          capture_output=True).stdout


def zstd(data: bytes) -> bytes:
    import zstandard

    return zstandard.ZstdCompressor().compress(data)


def libarchive_write(fmt: str, members: dict[str, bytes]) -> bytes:
    """An archive written by libarchive itself ('cpio', 'iso9660', 'ustar', ...)."""
    import libarchive

    chunks: list[bytes] = []

    def write(data: bytes) -> int:
        chunks.append(bytes(data))
        return len(data)

    with libarchive.custom_writer(write, fmt) as w:
        for name, data in members.items():
            w.add_file_from_memory(name, len(data), data)
    return b"".join(chunks)


def rar4_stored(members: dict[str, bytes], encrypted: bool = False) -> bytes:
    """A RAR 4.x archive whose files use method 0x30 ("store"), as RARLAB's technote.txt
    describes: marker block, archive header (0x73), one file header (0x74) per file with
    its data, end of archive (0x7B). Each header starts with the low 16 bits of the CRC32
    of the header from its type byte on. `encrypted` sets the file headers' 0x04 flag ("file
    encrypted with password") over scrambled data: the shape of a locked RAR."""

    def block(head_type: int, flags: int, body: bytes) -> bytes:
        rest = struct.pack("<BHH", head_type, flags, 7 + len(body)) + body
        return struct.pack("<H", zlib.crc32(rest) & 0xFFFF) + rest

    out = [b"Rar!\x1a\x07\x00", block(0x73, 0, b"\x00" * 6)]
    for name, data in members.items():
        raw = name.encode("ascii")
        dos_time = (2024 - 1980) << 25 | 1 << 21 | 1 << 16
        body = struct.pack("<IIBIIBBHI", len(data), len(data), 3, zlib.crc32(data), dos_time,
                           20, 0x30, len(raw), 0o100644) + raw
        if encrypted:
            data = bytes(b ^ 0x5A for b in data)
        out.append(block(0x74, 0x8000 | (0x04 if encrypted else 0), body) + data)
    out.append(block(0x7B, 0x4000, b""))
    return b"".join(out)


def xlsx(rows=(*RECORDS, DECOY)) -> bytes:
    """A workbook whose birth dates are real date cells (a number with Excel's default
    date format, as Excel writes them), not text."""
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Patients"
    ws.append(HEADER)
    for i, n, p, d in rows:
        ws.append([i, n, p, d])
    bio = io.BytesIO()
    wb.save(bio)
    return bio.getvalue()


def pdf(rows=(*RECORDS, DECOY)) -> bytes:
    from fpdf import FPDF

    doc = FPDF()
    doc.add_page()
    doc.set_font("helvetica", size=11)
    doc.cell(text="Extraction patients")
    doc.ln()
    for i, n, p, d in rows:
        doc.cell(text=f"{i}  {n.upper()}  {p.encode('latin-1', 'replace').decode('latin-1')}"
                      f"  {d:%d/%m/%Y}")
        doc.ln()
    return bytes(doc.output())


def sqlite_db(tmp: Path, rows=(*RECORDS, DECOY)) -> bytes:
    path = tmp / "leak.db"
    path.unlink(missing_ok=True)
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE staff (login TEXT, pass TEXT)")
    con.execute("INSERT INTO staff VALUES ('admin', 'x')")
    con.execute("CREATE TABLE patients (id TEXT, nom TEXT, prenom TEXT, naissance TEXT)")
    con.executemany("INSERT INTO patients VALUES (?, ?, ?, ?)",
                    [(i, n, p, d.isoformat()) for i, n, p, d in rows])
    con.commit()
    con.close()
    return path.read_bytes()


def mysql_xml(rows=(*RECORDS, DECOY)) -> bytes:
    """What `mysql --xml -e 'SELECT * FROM patients'` prints: one field per line."""
    out = ['<?xml version="1.0"?>', "",
           '<resultset statement="SELECT * FROM patients" '
           'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">']
    for row in rows:
        out.append("  <row>")
        for col, value in zip(HEADER, row, strict=True):
            out.append(f'\t<field name="{col}">{value}</field>')
        out.append("  </row>")
    out += ["</resultset>", ""]
    return "\n".join(out).encode("utf-8")


def docx(rows=(*RECORDS, DECOY)) -> bytes:
    """A minimal WordprocessingML package: a paragraph and a table with one row per record."""
    w = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"

    def cell(text: str) -> str:
        return f"<w:tc><w:p><w:r><w:t>{text}</w:t></w:r></w:p></w:tc>"

    table = "".join("<w:tr>" + "".join(cell(str(v)) for v in (i, n, p, f"{d:%d/%m/%Y}"))
                    + "</w:tr>" for i, n, p, d in rows)
    body = (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            f'<w:document xmlns:w="{w}"><w:body><w:p><w:r><w:t>Liste des patients</w:t>'
            f"</w:r></w:p><w:tbl>{table}</w:tbl></w:body></w:document>")
    bio = io.BytesIO()
    with zipfile.ZipFile(bio, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns="http://schemas.'
                   'openxmlformats.org/package/2006/content-types"/>')
        z.writestr("word/document.xml", body)
    return bio.getvalue()


def _vint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def rar5_stored(members: dict[str, bytes]) -> bytes:
    """A RAR 5.0 archive of stored files, as RARLAB's "RAR 5.0 archive format" describes:
    signature, main archive header (type 1), a file header (type 2) with a data area per
    file, end of archive (type 5). Each header is CRC32, header size (vint), then the header
    from its type on; sizes and flags are variable-length integers."""

    def block(head_type: int, flags: int, fields: bytes, data_size: int | None = None) -> bytes:
        body = _vint(head_type) + _vint(flags)
        if data_size is not None:
            body += _vint(data_size)
        body += fields
        sized = _vint(len(body)) + body
        return struct.pack("<I", zlib.crc32(sized)) + sized

    out = [b"Rar!\x1a\x07\x01\x00", block(1, 0, _vint(0))]
    for name, data in members.items():
        raw = name.encode("utf-8")
        fields = (_vint(0x4) + _vint(len(data)) + _vint(0o100644)  # file flags: CRC32 present
                  + struct.pack("<I", zlib.crc32(data))
                  + _vint(0)  # compression info: version 0, method 0 (store)
                  + _vint(1) + _vint(len(raw)) + raw)  # host OS Unix, name
        out.append(block(2, 0x2, fields, data_size=len(data)) + data)
    out.append(block(5, 0, _vint(0)))
    return b"".join(out)
