"""Turn one document's raw bytes into UTF-8 text parts the engine can scan.

A document from a leak channel can be anything: a CSV in cp1252, a UTF-16 export from Excel,
a zip of SQL dumps, a `.tar.gz`, an image, or a hostile zip bomb. `iter_parts` never raises on
content: every input ends up either as a `Part` with UTF-8 `data`, or as a skipped `Part` whose
`skipped` field says why (the caller logs and reports it, nothing is dropped silently).

Defences against decompression bombs, all counted per top-level document:
- archives are decompressed by streaming reads that stop at the cap; nothing is inflated
  fully into memory first;
- `max_unpacked_bytes` bounds the total bytes unpacked from all archives of one document,
  `max_archive_members` the number of members opened, `max_archive_depth` the nesting;
- a member whose output outgrows its compressed input by more than `max_ratio` is abandoned
  as a likely bomb;
- every text part is cut at `max_document_bytes` and flagged `truncated`;
- a zip declaring an absurd number of entries is refused before zipfile parses it.

Member names are made printable (`printable`): a name from a hostile archive cannot carry
newlines or terminal escapes into logs and command output.
"""

from __future__ import annotations

import codecs
import dataclasses
import functools
import io
import struct
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO, Protocol

from monitor.matching import _native
from monitor.matching.readers import ReaderError, archives, xmlrows
from monitor.matching.readers.passwords import Password

if TYPE_CHECKING:
    import zipfile

    from monitor.config import MatchingConfig

MB = 1024 * 1024
_HEAD = 8192  # bytes read from a member before deciding what it is
_CHUNK = MB  # streaming read size
_RATIO_FLOOR = 4 * MB  # the ratio check starts once a member produced this much
_SAMPLE = 65536  # bytes sampled (start and middle) to tell text from binary
_MAX_CONTROL_RATIO = 0.05  # more control bytes than this in the sample: binary
_MAX_ZIP_ENTRIES = 100_000  # directory entries parsed at most (see _zip_parts)
# zipfile, tarfile, gzip, bz2 and lzma raise a zoo of exception types on crafted input
# (BadZipFile, NotImplementedError for "zip file version 18.4", struct.error, EOFError,
# zlib.error, LZMAError, UnicodeDecodeError in names...). Found by mutating archives: at the
# boundary where hostile bytes are parsed, any Exception means "unreadable", never a crash.
_PARSE_ERRORS = (Exception,)

ARCHIVE_KINDS = ("zip", "tar", "gzip", "bzip2", "xz", "zstd", *archives.KINDS)
# Documents read into text rows by monitor.matching.readers (zip-based ones: see _ZIP_DOCS).
DOCUMENT_KINDS = ("pdf", "sqlite", "xls")

# Archive and compression formats we open.
_ARCHIVE_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "zip"),
    (b"PK\x05\x06", "zip"),  # empty zip
    (b"PK\x07\x08", "zip"),  # spanned marker
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"%PDF-", "pdf"),
    (b"SQLite format 3\x00", "sqlite"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "xls"),  # OLE2: Excel 97-2003 (or Word .doc)
)

# Formats we recognise but do not read: skipped with this reason.
_BINARY_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x7fELF", "executable (ELF)"),
    (b"\xcf\xfa\xed\xfe", "executable (Mach-O)"),
    (b"\xce\xfa\xed\xfe", "executable (Mach-O)"),
    (b"\xfe\xed\xfa\xcf", "executable (Mach-O)"),
    (b"\xca\xfe\xba\xbe", "executable (Mach-O universal / Java class)"),
    (b"\x00asm", "executable (WebAssembly)"),
    (b"\x89PNG\r\n\x1a\n", "image (PNG)"),
    (b"\xff\xd8\xff", "image (JPEG)"),
    (b"GIF87a", "image (GIF)"),
    (b"GIF89a", "image (GIF)"),
    (b"II*\x00", "image (TIFF)"),
    (b"MM\x00*", "image (TIFF)"),
    (b"\x00\x00\x01\x00", "image (ICO)"),
    (b"OggS", "audio/video (Ogg)"),
    (b"ID3", "audio (MP3)"),
    (b"fLaC", "audio (FLAC)"),
    (b"\x1aE\xdf\xa3", "video (Matroska/WebM)"),
)

# Bytes that do not occur in text: C0 controls except \t \n \v \f \r and ESC (0x1b).
_CONTROL_BYTES = bytes(b for b in range(32) if b not in (9, 10, 11, 12, 13, 27))
_NON_CONTROL = bytes(b for b in range(256) if b not in _CONTROL_BYTES)
_ASCII = bytes(range(128))
_BOMS = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF8, codecs.BOM_UTF16_LE,
         codecs.BOM_UTF16_BE)


def _cp1252_fallback(err: UnicodeError) -> tuple[str, int]:
    """cp1252 leaves 0x81 0x8D 0x8F 0x90 0x9D undefined: read them as latin-1 instead."""
    if not isinstance(err, UnicodeDecodeError):
        raise err
    return err.object[err.start:err.end].decode("latin-1"), err.end


codecs.register_error("leakmon-latin1", _cp1252_fallback)


@dataclass(slots=True, frozen=True)
class Limits:
    """Caps applied to one document and everything unpacked from it."""

    max_document_bytes: int = 64 * MB
    max_archive_members: int = 1000
    max_unpacked_bytes: int = 256 * MB
    max_archive_depth: int = 2
    max_ratio: float = 100.0  # output/input beyond this (after 4 MB out): likely a bomb

    @classmethod
    def from_config(cls, matching: MatchingConfig) -> Limits:
        """Limits from the `[matching]` section of the config."""
        return cls(
            max_document_bytes=max(1, int(matching.max_document_mb * MB)),
            max_archive_members=max(0, matching.max_archive_members),
            max_unpacked_bytes=max(0, int(matching.max_unpacked_mb * MB)),
            max_archive_depth=max(0, matching.max_archive_depth),
            max_ratio=max(1.0, matching.max_compression_ratio),
        )


@dataclass(slots=True, frozen=True)
class Part:
    """One scannable piece of a document (the document itself, or an archive member).

    `data` is UTF-8 text, empty when `skipped` holds the reason the part was not scanned.
    `note` says why a part was cut short (`truncated`) or how it was decoded oddly.
    """

    name: str
    data: bytes
    truncated: bool = False
    encoding: str | None = None
    skipped: str | None = None
    note: str | None = None


def iter_parts(data: bytes, name: str | None, limits: Limits,
               passwords: Sequence[Password] = ()) -> Iterator[Part]:
    """Every text part of `data` (a file, message or attachment), archives unpacked.

    Never raises on hostile or broken content; unusable pieces come back as skipped parts.
    Part names of archive members are `outer!member` (nested: `a.zip!b.zip!c.csv`).
    `passwords` are tried, in order, on encrypted zip/7z/RAR/PDF (see readers.passwords).
    """
    label = printable(name) if name else "-"
    plain = plain_text_part(data, label, limits)
    if plain is not None:
        yield plain
        return
    yield from full_parts(data, label, limits, passwords)


def full_parts(data: bytes, label: str, limits: Limits,
               passwords: Sequence[Password] = ()) -> Iterator[Part]:
    """`iter_parts` past its fast path: for a caller that has seen `plain_kind` say no
    (`label` is the document's printable name)."""
    return _walk(data, label, 0, _Budget(limits, tuple(passwords)))


_ANY_MAGIC = (*(m for m, _ in _ARCHIVE_MAGIC), *(m for m, _ in _BINARY_MAGIC), *_BOMS,
              *archives.MAGIC_PREFIXES, b"RIFF")
_XML_LEAD = frozenset(b"<\xef\xbb\xbf \t\r\n")  # what xmlrows.looks_like's dump starts with


def plain_text_part(data: bytes, name: str, limits: Limits) -> Part | None:
    """The whole of `data` as one part when it is plain ASCII or UTF-8 text (`plain_kind`),
    else None."""
    kind = plain_kind(data, limits)
    return Part(name, data, encoding=PLAIN_ENCODINGS[kind]) if kind else None


def plain_kind(data: bytes, limits: Limits) -> int:
    """1 when `data` is plain ASCII text that `iter_parts` gives whole as one part, 2 when
    plain UTF-8 text, 0 when it must take the full path.

    The common case (a message, a paste) in a few C calls: no NUL byte (so no UTF-16 to
    guess), no magic number of any format we open or skip, no control byte in the samples
    `binary_reason` looks at, valid UTF-8 (the bytes tests in one pass, `_native.plain_text`).
    Whenever any of these does not hold, 0 sends the document down the full path
    (`_walk`), which gives the same result for the documents accepted here."""
    if not data or len(data) > limits.max_document_bytes:
        return 0
    if data.startswith(_ANY_MAGIC) or data[4:8] == b"ftyp" or data[257:262] == b"ustar":
        return 0
    if archives.is_iso(data) or (data[0] in _XML_LEAD and xmlrows.looks_like(data)):
        return 0  # an ISO image and mysql XML rows take the full path
    return _native.plain_text(data, _SAMPLE)


PLAIN_ENCODINGS = (None, "ascii", "utf-8")  # by plain_kind's answer


def printable(text: str) -> str:
    """`text` with every non-printable character (controls, ANSI escapes, bidi overrides,
    newlines) shown as an escape, so that names taken from hostile archives cannot forge
    log lines or drive the analyst's terminal."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else
                   (f"\\x{ord(c):02x}" if ord(c) < 256 else f"\\u{ord(c):04x}") for c in text)


def sniff(head: bytes) -> str | None:
    """The archive kind of a blob from its first bytes ('zip', 'gzip', ...), else None."""
    for magic, kind in _ARCHIVE_MAGIC:
        if head.startswith(magic):
            if kind == "bzip2" and head[3:4] not in b"123456789":
                continue  # "BZh" + block size digit; plain text may start with "BZh"
            return kind
    if len(head) >= 262 and head[257:262] == b"ustar":
        return "tar"
    return archives.sniff(head)


def binary_reason(sample: bytes) -> str | None:
    """Why `sample` (the start of a blob) is not text, or None if it looks like text."""
    if sample.startswith(_BOMS):
        return None  # a byte-order mark announces text (UTF-16/32 are full of NULs)
    for magic, reason in _BINARY_MAGIC:
        if sample.startswith(magic):
            return reason
    if sample[:4] == b"RIFF" or sample[4:8] == b"ftyp":
        return "audio/video/image container (RIFF/ISO media)"
    if _utf16_guess(sample):
        return None
    if sample:
        controls = len(sample[:_SAMPLE].translate(None, _NON_CONTROL))
        if controls / min(len(sample), _SAMPLE) > _MAX_CONTROL_RATIO:
            return f"binary content ({controls} control/NUL bytes in the first {min(len(sample), _SAMPLE)})"
    return None


class _Budget:
    """What is left of the per-document caps while walking nested archives."""

    def __init__(self, limits: Limits, passwords: tuple[Password, ...] = ()) -> None:
        self.limits = limits
        self.members_left = limits.max_archive_members
        self.bytes_left = limits.max_unpacked_bytes
        self.passwords = passwords


def _skip(name: str, reason: str) -> Part:
    return Part(name=name, data=b"", skipped=reason)


def _walk(data: bytes, name: str, level: int, budget: _Budget,
          cut: str | None = None) -> Iterator[Part]:
    """Dispatch one blob: open it as an archive, skip it as binary, or decode it as text."""
    kind = sniff(data[:archives.ISO_HEAD])
    if kind in DOCUMENT_KINDS:
        yield _document_part(data, kind, name, budget)
        return
    if kind is not None:
        if level >= budget.limits.max_archive_depth:
            yield _skip(name, f"{kind} archive not opened: nested deeper than "
                              f"max_archive_depth={budget.limits.max_archive_depth}")
        elif kind == "zip":
            yield from _zip_parts(data, name, level, budget)
        elif kind == "tar":
            yield from _tar_parts(_BytesReader(data, budget), name, level, budget)
        elif kind in archives.KINDS:
            yield from _libarchive_parts(data, kind, name, level, budget)
        else:
            yield from _compressed_parts(data, kind, name, level, budget)
        return
    yield _text_or_skip(data, name, budget, cut)


def _text_or_skip(data: bytes, name: str, budget: _Budget, cut: str | None = None) -> Part:
    reason = binary_reason(data[:_SAMPLE]) or _middle_binary(data)
    if reason:
        return _skip(name, reason)
    part = _decode(data, name, budget.limits.max_document_bytes, cut)
    if xmlrows.looks_like(part.data):
        rows = xmlrows.to_rows(part.data)
        if rows is not None:  # mysql --xml: one field per line -> one record per line
            part = dataclasses.replace(part, data=rows, note=_join(part.note, "XML records"))
    return part


def _join(note: str | None, extra: str) -> str:
    return f"{note}; {extra}" if note else extra


def _middle_binary(data: bytes) -> str | None:
    """Text at the start and binary in the middle (a text header on a binary blob)."""
    if len(data) <= 2 * _SAMPLE or data.startswith(_BOMS):
        return None
    mid = len(data) // 2
    sample = data[mid:mid + _SAMPLE]
    if _utf16_guess(data[:_SAMPLE]):
        return None
    controls = len(sample.translate(None, _NON_CONTROL))
    if controls / len(sample) > _MAX_CONTROL_RATIO:
        return f"binary content ({controls} control/NUL bytes in a sample from the middle)"
    return None


# --- text decoding -------------------------------------------------------------------------


def _utf16_guess(sample: bytes) -> str | None:
    """'utf-16-le' / 'utf-16-be' for BOM-less UTF-16 text (mostly Latin script), else None."""
    s = sample[:4096]
    if len(s) < 16:
        return None
    even, odd = s[0::2], s[1::2]
    even_nul = even.count(0) / len(even)
    odd_nul = odd.count(0) / len(odd)
    if odd_nul > 0.6 and even_nul < 0.05:
        return "utf-16-le"
    if even_nul > 0.6 and odd_nul < 0.05:
        return "utf-16-be"
    return None


def _cut_utf8(data: bytes, limit: int) -> bytes:
    """`data` cut to at most `limit` bytes without splitting a UTF-8 sequence."""
    if len(data) <= limit:
        return data
    end = limit
    while end > 0 and end > limit - 4 and (data[end] & 0xC0) == 0x80:
        end -= 1
    return data[:end]


def _decode(data: bytes, name: str, limit: int, cut: str | None = None) -> Part:
    """Best-effort transcoding to UTF-8: BOMs, BOM-less UTF-16, UTF-8, else cp1252/latin-1.

    `cut` is set when the bytes are already incomplete (a stream stopped at a cap).
    """
    truncated = len(data) > limit or cut is not None
    note = cut
    if len(data) > limit:
        note = f"cut at max_document_mb ({limit / MB:g} MB)"
    for bom, codec in ((codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"),
                       (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16-le"),
                       (codecs.BOM_UTF16_BE, "utf-16-be")):
        if data.startswith(bom):
            body = data[len(bom):limit + len(bom)] if truncated else data[len(bom):]
            if codec == "utf-8-sig":
                return _from_utf8(_cut_utf8(body, limit), name, truncated, note, "utf-8-sig",
                                  limit)
            text = body.decode(codec, errors="replace")
            return _encoded(text, name, truncated, note, codec, limit)
    guess = _utf16_guess(data[:_SAMPLE])
    if guess:
        body = data[:limit - (limit % 2)] if truncated else data
        return _encoded(body.decode(guess, errors="replace"), name, truncated, note, guess, limit)
    return _from_utf8(_cut_utf8(data, limit), name, truncated, note, "utf-8", limit)


def _from_utf8(data: bytes, name: str, truncated: bool, note: str | None, label: str,
               limit: int) -> Part:
    if data.isascii():
        return Part(name, data, truncated, "ascii" if label == "utf-8" else label, note=note)
    if _valid_utf8(data):
        return Part(name, data, truncated, label, note=note)
    text = data.decode("utf-8", errors="replace")
    bad = text.count("\ufffd")
    high = len(data.translate(None, _ASCII))
    # Valid multi-byte sequences use 2-4 high bytes each; invalid bytes become one U+FFFD.
    if high - bad > 2 * bad:
        extra = f"{bad} invalid UTF-8 sequence(s) replaced"
        return Part(name, text.encode("utf-8"), truncated, "utf-8",
                    note=f"{note}; {extra}" if note else extra)
    text = data.decode("cp1252", errors="leakmon-latin1")
    return _encoded(text, name, truncated, note, "cp1252", limit)


def _valid_utf8(data: bytes) -> bool:
    """Strict UTF-8 check without building the str (up to 4x the bytes for emoji-heavy text):
    `_native.utf8_valid`, about three times as fast as an incremental decode."""
    return _native.utf8_valid(data)


def _encoded(text: str, name: str, truncated: bool, note: str | None, codec: str,
             limit: int) -> Part:
    out = text.encode("utf-8", errors="replace")
    if len(out) > limit:
        out = _cut_utf8(out, limit)
        truncated = True
        note = note or f"cut at max_document_mb ({limit / MB:g} MB)"
    return Part(name, out, truncated, codec, note=note)


# --- archives ------------------------------------------------------------------------------


class _Meter:
    """A read() over a decompressing stream that charges the document's unpacked budget.

    It stops (returns b"" and sets `stop`) when the budget is spent, when the output outgrows
    the compressed input by more than `max_ratio`, or when the stream is corrupt; the caller
    reads `stop` to tell a clean end from a cut.
    """

    def __init__(self, raw: Callable[[int], bytes], consumed: Callable[[], int],
                 budget: _Budget) -> None:
        self._raw = raw
        self._consumed = consumed
        self._budget = budget
        self.produced = 0
        self.stop: str | None = None
        self.ratio_exceeded = False

    def read(self, n: int = -1) -> bytes:
        if self.stop or n == 0:
            return b""
        want = _CHUNK if n is None or n < 0 else n
        allowed = min(want, self._budget.bytes_left)
        if allowed <= 0:
            self.stop = (f"unpacked-size cap reached (max_unpacked_mb="
                         f"{self._budget.limits.max_unpacked_bytes / MB:g})")
            return b""
        try:
            chunk = self._raw(allowed)
        except _PARSE_ERRORS as e:
            self.stop = f"corrupt or truncated stream: {e}"
            return b""
        self.produced += len(chunk)
        self._budget.bytes_left -= len(chunk)
        ratio_cap = self._budget.limits.max_ratio
        if self.produced > _RATIO_FLOOR and self.produced > ratio_cap * max(self._consumed(), 1):
            self.ratio_exceeded = True
            self.stop = (f"compression ratio above {ratio_cap:g}:1 after "
                         f"{self.produced / MB:.0f} MB unpacked: likely a decompression bomb")
        return chunk


class _MeteredReader:
    """A reader whose limits are kept by `self._meter`: its stop reason and ratio flag."""

    _meter: _Meter

    @property
    def stop(self) -> str | None:
        return self._meter.stop

    @property
    def ratio_exceeded(self) -> bool:
        return self._meter.ratio_exceeded


class _BytesReader(_MeteredReader):
    """A plain tar held in memory, read through the same budget as compressed streams."""

    def __init__(self, data: bytes, budget: _Budget) -> None:
        bio = io.BytesIO(data)
        self._meter = _Meter(bio.read, lambda: len(data), budget)
        self.read = self._meter.read


class _Prefixed(_MeteredReader):
    """A reader that first returns `head` (already read to sniff) and then the rest."""

    def __init__(self, head: bytes, meter: _Meter) -> None:
        self._head = head
        self._meter = meter

    def read(self, n: int = -1) -> bytes:
        if self._head:
            if n is None or n < 0 or n >= len(self._head):
                out, self._head = self._head, b""
                rest = n - len(out) if n is not None and n >= 0 else -1
                return out + self._meter.read(rest) if rest else out
            out, self._head = self._head[:n], self._head[n:]
            return out
        return self._meter.read(n)


def _read_upto(read: Callable[[int], bytes], limit: int) -> bytes:
    """Read until `limit` bytes or the end of the stream, in bounded chunks."""
    chunks: list[bytes] = []
    got = 0
    while got < limit:
        chunk = read(min(_CHUNK, limit - got))
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


class _Status(Protocol):
    """Where a member's bytes come from: why the stream stopped early, if it did."""

    @property
    def stop(self) -> str | None: ...

    @property
    def ratio_exceeded(self) -> bool: ...


def _member(read: Callable[[int], bytes], status: _Status, name: str, level: int,
            budget: _Budget) -> Iterator[Part]:
    """Read one archive member (already inside an archive at `level`) and walk it.

    The first bytes decide how much to read: a nested archive may use what is left of the
    unpacked budget, text stops at the document size cap, binaries are not read further.
    """
    head = _read_upto(read, _HEAD)
    if len(head) == _HEAD and not head.strip(b"\0"):
        head += _read_upto(read, archives.ISO_HEAD - _HEAD)  # an ISO image starts with zeros
    kind = sniff(head)
    if kind in DOCUMENT_KINDS:
        cap = budget.bytes_left
    elif kind is not None:
        if level >= budget.limits.max_archive_depth:
            yield _skip(name, f"{kind} archive not opened: nested deeper than "
                              f"max_archive_depth={budget.limits.max_archive_depth}")
            return
        cap = budget.bytes_left
    else:
        reason = binary_reason(head)
        if reason:
            yield _skip(name, reason)
            return
        cap = budget.limits.max_document_bytes + 1
    data = head + _read_upto(read, max(0, cap - len(head)))
    why = status.stop
    if why and (kind is not None or not data or status.ratio_exceeded):
        # A cut archive cannot be listed; a bomb's output is not worth scanning.
        yield _skip(name, why)
        return
    yield from _walk(data, name, level, budget, cut=why)


def zip_entry_count(data: bytes) -> int | None:
    """Entries declared by a zip's end-of-central-directory record (zip64 aware), read
    without parsing the directory; None when the record cannot be found."""
    eocd = data.rfind(b"PK\x05\x06", max(0, len(data) - 65557))
    if eocd < 0 or eocd + 22 > len(data):
        return None
    (count,) = struct.unpack_from("<H", data, eocd + 10)
    if count != 0xFFFF:
        return count
    locator = eocd - 20
    if locator < 0 or data[locator:locator + 4] != b"PK\x06\x07":
        return count
    (offset,) = struct.unpack_from("<Q", data, locator + 8)
    if offset + 40 > len(data) or data[offset:offset + 4] != b"PK\x06\x06":
        return count
    return struct.unpack_from("<Q", data, offset + 32)[0]


def _zip_parts(data: bytes, name: str, level: int, budget: _Budget) -> Iterator[Part]:
    # zipfile builds one ZipInfo (~0.5 KB) per directory entry before we can cap anything:
    # a few MB of crafted directory could cost GBs. Refuse absurd entry counts up front.
    declared = zip_entry_count(data)
    limit = max(_MAX_ZIP_ENTRIES, 10 * budget.limits.max_archive_members)
    if declared is not None and declared > limit:
        yield _skip(name, f"zip archive declares {declared} entries (more than {limit}): "
                          "not opened, likely a zip bomb")
        return
    import zipfile  # here, not at the top: most scans open no archive (start-up time)

    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except _PARSE_ERRORS as e:
        yield _skip(name, f"unreadable zip archive: {e}")
        return
    try:
        with zf:
            doc = _zip_document_kind(zf)
            if doc is not None:
                yield _zip_document_part(data, zf, doc, name, budget)
            elif any(i.flag_bits & 0x1 for i in zf.infolist()):
                # Locked members: libarchive decrypts ZipCrypto and AES with the passwords.
                yield from _libarchive_parts(data, "zip", name, level, budget)
            else:
                yield from _zip_members(zf, name, level, budget)
    except _PARSE_ERRORS as e:  # a directory or member the stdlib chokes on mid-way
        yield _skip(f"{name}!*", f"zip archive cut short: {e}")


def _zip_members(zf: zipfile.ZipFile, name: str, level: int, budget: _Budget) -> Iterator[Part]:
    infos = [i for i in zf.infolist() if not i.filename.endswith("/")]
    for index, info in enumerate(infos):
        member_name = f"{name}!{printable(info.filename)}"
        if budget.members_left <= 0:
            yield _skip(f"{name}!*", f"{len(infos) - index} more member(s) not opened: "
                                     f"max_archive_members={budget.limits.max_archive_members}"
                                     " reached")
            return
        if budget.bytes_left <= 0:
            yield _skip(f"{name}!*", f"{len(infos) - index} more member(s) not opened: "
                                     "unpacked-size cap reached (max_unpacked_mb="
                                     f"{budget.limits.max_unpacked_bytes / MB:g})")
            return
        budget.members_left -= 1
        if info.flag_bits & 0x1:
            yield _skip(member_name, "encrypted zip member (no password)")
            continue
        try:
            fh = zf.open(info)
        except _PARSE_ERRORS as e:
            yield _skip(member_name, f"zip member cannot be opened: {e}")
            continue
        with fh:
            meter = _Meter(fh.read, functools.partial(int, info.compress_size), budget)
            yield from _member(meter.read, meter, member_name, level + 1, budget)


def _gzip_reader(f: io.BytesIO) -> io.BufferedIOBase:
    import gzip  # the stream modules are imported when a stream is met (start-up time)

    return gzip.GzipFile(fileobj=f, mode="rb")


def _bzip2_reader(f: io.BytesIO) -> io.BufferedIOBase:
    import bz2

    return bz2.BZ2File(f, mode="rb")


def _xz_reader(f: io.BytesIO) -> io.BufferedIOBase:
    import lzma

    return lzma.LZMAFile(f, mode="rb")


_OPENERS: dict[str, Callable[[io.BytesIO], io.BufferedIOBase | BinaryIO]] = {
    "gzip": _gzip_reader,
    "bzip2": _bzip2_reader,
    "xz": _xz_reader,
    "zstd": lambda f: _zstd_reader(f),
}
_SUFFIXES = {"gzip": (".gz", ".tgz"), "bzip2": (".bz2", ".tbz2", ".tbz"), "xz": (".xz", ".txz"),
             "zstd": (".zst", ".tzst", ".zstd")}


def _zstd_reader(f: io.BytesIO) -> BinaryIO:
    """A zstd stream (frames concatenated, as `zstd` writes them) read by zstandard."""
    import zstandard

    return zstandard.ZstdDecompressor().stream_reader(f, read_across_frames=True)


def _inner_name(name: str, kind: str) -> str:
    """`dump.csv.gz` -> `dump.csv`, `x.tgz` -> `x.tar`: the name of what a stream wraps."""
    base = name.rsplit("/", 1)[-1].rsplit("!", 1)[-1]
    low = base.lower()
    for suffix in _SUFFIXES[kind]:
        if low.endswith(suffix):
            stem = base[: -len(suffix)]
            return stem + ".tar" if suffix.startswith(".t") else stem
    return base or "-"


def _compressed_parts(data: bytes, kind: str, name: str, level: int,
                      budget: _Budget) -> Iterator[Part]:
    """A gzip/bzip2/xz stream: one member, or a tar inside (one archive level, `.tar.gz`)."""
    if budget.members_left <= 0:
        yield _skip(name, f"not opened: max_archive_members="
                          f"{budget.limits.max_archive_members} reached")
        return
    budget.members_left -= 1
    bio = io.BytesIO(data)
    with _OPENERS[kind](bio) as stream:
        meter = _Meter(stream.read, bio.tell, budget)
        head = _read_upto(meter.read, 512)
        inner = f"{name}!{_inner_name(name, kind)}"
        if meter.stop and not head:
            # Only the magic bytes looked compressed: read it as what it is (text or not).
            part = _text_or_skip(data, name, budget)
            if part.skipped:
                part = _skip(name, f"unreadable {kind} stream: {meter.stop}")
            yield part
            return
        if sniff(head) == "tar":
            yield from _tar_parts(_Prefixed(head, meter), name, level, budget)
            return
        yield from _member(_Prefixed(head, meter).read, meter, inner, level + 1, budget)


def _tar_parts(reader: _BytesReader | _Prefixed, name: str, level: int,
               budget: _Budget) -> Iterator[Part]:
    """Members of a tar read as a stream (never seeks, so it works over a decompressor)."""
    import tarfile  # here, not at the top: most scans open no archive (start-up time)

    try:
        tf = tarfile.open(fileobj=reader, mode="r|")  # type: ignore[call-overload]  # noqa: SIM115
    except _PARSE_ERRORS as e:
        yield _skip(name, f"unreadable tar archive: {reader.stop or e}")
        return
    try:
        for info in tf:
            if not info.isfile():
                continue
            member_name = f"{name}!{printable(info.name)}"
            if budget.members_left <= 0:
                yield _skip(f"{name}!*", "more members not opened: max_archive_members="
                                         f"{budget.limits.max_archive_members} reached")
                return
            budget.members_left -= 1
            fh = tf.extractfile(info)
            if fh is None:
                continue
            yield from _member(fh.read, reader, member_name, level + 1, budget)
    except _PARSE_ERRORS as e:
        yield _skip(f"{name}!*", f"tar archive cut: {reader.stop or e}")
    finally:
        tf.close()


# --- containers and documents read by monitor.matching.readers -----------------------------


def _cap_left(name: str, budget: _Budget) -> Part | None:
    """The skip to report when the member or byte budget is spent, else None."""
    if budget.members_left <= 0:
        return _skip(f"{name}!*", "more members not opened: max_archive_members="
                                  f"{budget.limits.max_archive_members} reached")
    if budget.bytes_left <= 0:
        return _skip(f"{name}!*", "more members not opened: unpacked-size cap reached "
                                  f"(max_unpacked_mb={budget.limits.max_unpacked_bytes / MB:g})")
    return None


def _libarchive_parts(data: bytes, kind: str, name: str, level: int,
                      budget: _Budget) -> Iterator[Part]:
    """Members of a 7z/RAR/cpio/ISO (or locked zip), under the same caps as zip and tar.

    Which password origin opened the archive is added to the note of each of its parts.
    """
    opened: list[str] = []
    if kind == "7z" and archives.sevenzip_encrypted(data):
        entries = archives.sevenzip_entries(data, budget.passwords, budget.members_left,
                                            budget.bytes_left, opened.append)
    else:
        entries = archives.libarchive_entries(data, kind, budget.passwords, opened.append)
    seen = 0
    try:
        for entry in entries:
            seen += 1
            if isinstance(entry, archives.Locked):
                yield _skip(f"{name}!{printable(entry.name)}" if entry.name != "*" else name,
                            entry.reason)
                continue
            stop = _cap_left(name, budget)
            if stop is not None:
                yield stop
                return
            budget.members_left -= 1
            meter = _Meter(entry.read, entry.consumed, budget)
            for part in _member(meter.read, meter, f"{name}!{printable(entry.name)}",
                                level + 1, budget):
                if opened and part.skipped is None:
                    part = dataclasses.replace(part, note=_join(part.note, opened[0]))
                yield part
    except ReaderError as e:
        yield _skip(name, str(e))
        return
    except _PARSE_ERRORS as e:
        yield _skip(f"{name}!*", f"{archives.label(kind)} archive cut short: {e}")
        return
    if not seen:  # a header and nothing behind it: say so rather than yield nothing
        yield _skip(name, f"{archives.label(kind)} archive with no readable member (empty or truncated)")


def _rows_part(rows: Iterable[str], name: str, kind: str, budget: _Budget) -> Part:
    """Rows of a document as one text part (one row per line), under the document and
    unpacked-size caps."""
    limit = min(budget.limits.max_document_bytes, max(0, budget.bytes_left))
    out: list[bytes] = []
    size = 0
    cut = None
    count = 0
    try:
        for row in rows:
            line = row.encode("utf-8", errors="replace") + b"\n"
            if size + len(line) > limit:
                cut = (f"cut at max_document_mb ({budget.limits.max_document_bytes / MB:g} MB)"
                       if limit == budget.limits.max_document_bytes else
                       "unpacked-size cap reached (max_unpacked_mb="
                       f"{budget.limits.max_unpacked_bytes / MB:g})")
                break
            out.append(line)
            size += len(line)
            count += 1
    except ReaderError as e:
        if not out:
            return _skip(name, str(e))
        cut = str(e)
    budget.bytes_left -= size
    note = f"{kind}: {count} row(s)"
    return Part(name, b"".join(out), cut is not None, kind, note=_join(note, cut) if cut else note)


def _document_part(data: bytes, kind: str, name: str, budget: _Budget) -> Part:
    """A PDF, SQLite database or XLS as text rows."""
    from monitor.matching.readers import pdf, sheets, sqlite

    try:
        if kind == "pdf":
            rows: Iterable[str] = pdf.rows(data, budget.passwords)
        elif kind == "sqlite":
            rows = sqlite.rows(data)
        else:
            rows = sheets.rows(data, kind)
        return _rows_part(rows, name, kind, budget)
    except ReaderError as e:
        return _skip(name, str(e))


# zip-based documents: the member that tells what the zip is.
_ZIP_DOCS = (("xl/workbook.xml", "xlsx"), ("xl/workbook.bin", "xlsb"),
             ("word/document.xml", "docx"))
_ODF = {b"application/vnd.oasis.opendocument.spreadsheet": "ods",
        b"application/vnd.oasis.opendocument.text": "odt"}


def _zip_document_kind(zf: zipfile.ZipFile) -> str | None:
    names = set(zf.namelist()[:_MAX_ZIP_ENTRIES])
    for member, kind in _ZIP_DOCS:
        if member in names:
            return kind
    if "mimetype" in names:
        info = zf.getinfo("mimetype")
        if info.file_size <= 100 and not info.flag_bits & 0x1:
            return _ODF.get(zf.read(info).strip())
    return None


def _zip_document_part(data: bytes, zf: zipfile.ZipFile, kind: str, name: str,
                       budget: _Budget) -> Part:
    """An XLSX/XLSB/ODS workbook or a DOCX/ODT document as text rows.

    The workbook readers inflate whole members in memory, so the declared sizes are checked
    against the unpacked-size cap and the ratio first (the zip-bomb defences of `_Meter`).
    """
    from monitor.matching.readers import office, sheets

    declared = sum(i.file_size for i in zf.infolist())
    ratio = declared / max(1, len(data))
    if declared > budget.bytes_left or (declared > _RATIO_FLOOR and
                                        ratio > budget.limits.max_ratio):
        return _skip(name, f"{kind} document declares {declared} unpacked bytes (ratio "
                           f"{ratio:.0f}:1): beyond max_unpacked_mb / max_compression_ratio, "
                           "not opened")
    if budget.members_left <= 0:
        return _skip(name, f"not opened: max_archive_members="
                           f"{budget.limits.max_archive_members} reached")
    budget.members_left -= 1
    try:
        if kind in ("docx", "odt"):
            rows: Iterable[str] = office.rows(zf, kind, budget.bytes_left)
        else:
            rows = sheets.rows(data, kind)
        return _rows_part(rows, name, kind, budget)
    except ReaderError as e:
        return _skip(name, str(e))
