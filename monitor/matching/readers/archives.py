"""7z, RAR 4/5, cpio, ISO 9660 and password-protected zip through libarchive; encrypted 7z
through py7zr (libarchive reads no encrypted 7z).

The readers only list members and hand out a streaming `read`; `extract` keeps every cap
(members, unpacked bytes, ratio, depth) as it does for zip and tar. A member that stays locked
after every candidate password comes back as `Locked`, so it is reported, never dropped.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from monitor.matching.readers import ReaderError
from monitor.matching.readers.passwords import Password

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"7z\xbc\xaf\x27\x1c", "7z"),
    (b"Rar!\x1a\x07\x00", "rar"),
    (b"Rar!\x1a\x07\x01\x00", "rar"),
    (b"070701", "cpio"),
    (b"070702", "cpio"),
    (b"070707", "cpio"),
    (b"\xc7\x71", "cpio"),  # old binary cpio, little-endian
    (b"\x71\xc7", "cpio"),
)
MAGIC_PREFIXES = tuple(m for m, _ in _MAGIC)  # for a caller's one-call startswith test
ISO_HEAD = 32774  # "CD001" sits at 32769, after 32 KB of system area
KINDS = ("7z", "rar", "cpio", "iso")
_LOCK_WORDS = ("passphrase", "encrypt", "password")


def is_iso(data: bytes) -> bool:
    """An ISO 9660 image: "CD001" at 32769 (checked without copying `data`'s head)."""
    return data[32769:32774] == b"CD001"


def sniff(head: bytes) -> str | None:
    """'7z', 'rar', 'cpio' or 'iso' from a blob's first bytes (ISO needs ISO_HEAD of them)."""
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    if is_iso(head):
        return "iso"
    return None


@dataclass(slots=True)
class Entry:
    """A regular file in an archive: read its bytes with `read(n)` (b"" at the end)."""

    name: str
    read: Callable[[int], bytes]
    consumed: Callable[[], int]  # compressed bytes read so far (for the ratio check)


@dataclass(slots=True, frozen=True)
class Locked:
    """A member (or the whole archive, name '*') that no candidate password opened."""

    name: str
    reason: str


def label(kind: str) -> str:
    """How a kind is written in reasons and notes ('RAR', 'ISO', '7z', 'cpio', 'zip')."""
    return {"rar": "RAR", "iso": "ISO"}.get(kind, kind)


def _data_encrypted(entry: object) -> bool:
    """libarchive's own flag (`archive_entry_is_data_encrypted`): RAR's reader only warns on
    an encrypted member and hands out its ciphertext, so the flag is what tells."""
    from libarchive import ffi

    try:
        fn = ffi.libarchive.archive_entry_is_data_encrypted
    except AttributeError:  # a libarchive older than 3.2
        return False
    fn.argtypes = [ffi.c_archive_entry_p]
    fn.restype = ffi.c_int
    return bool(fn(entry._entry_p))  # type: ignore[attr-defined]


def _is_lock_error(e: Exception) -> bool:
    text = str(e).lower()
    return any(w in text for w in _LOCK_WORDS)


def _tried(passwords: Sequence[Password]) -> str:
    return f"{len(passwords)} candidate password(s) tried" if passwords else "no password given"


class _Blocks:
    """`read(n)` over libarchive's block generator of the current entry."""

    def __init__(self, blocks: Iterator[bytes]) -> None:
        self._blocks = blocks
        self._buf = b""

    def read(self, n: int) -> bytes:
        while len(self._buf) < n:
            block = next(self._blocks, None)
            if block is None:
                break
            self._buf += bytes(block)
        out, self._buf = self._buf[:n], self._buf[n:]
        return out


# How much of the first member a candidate password must decrypt without error.
_PROBE_BYTES = 16 * 1024 * 1024


def _probe(data: bytes, password: str | None) -> bool:
    """Can the first file entry be read without a password (None), or with `password`?

    Without one, only a lock error says no: an archive broken for another reason is
    reported by the real pass. A candidate password must read the first member through
    (its CRC or AES authentication checked at the end; up to _PROBE_BYTES of it) without
    any error: ZipCrypto checks a password against one byte of its header, so about one
    wrong password in 256 gets past that check and only the data then shows it wrong (as
    a failed decompression or a bad CRC, not as a lock error)."""
    import libarchive

    try:
        with libarchive.memory_reader(data, passphrase=password) as arc:
            for entry in arc:
                if entry.isfile:
                    got = 0
                    for block in entry.get_blocks():
                        got += len(block)
                        if password is None or got >= _PROBE_BYTES:
                            break
                    break
        return True
    except Exception as e:  # libarchive raises ArchiveError on anything hostile
        return password is None and not _is_lock_error(e)


def libarchive_entries(data: bytes, kind: str, passwords: Sequence[Password],
                       note: Callable[[str], None]) -> Iterator[Entry | Locked]:
    """Members of a 7z/RAR/cpio/ISO/zip held in memory, trying `passwords` when locked.

    `note` receives which password origin opened the archive. Raises ReaderError when the
    archive cannot be listed at all.
    """
    import libarchive

    chosen: str | None = None
    if not _probe(data, None):
        for pw in passwords:
            if _probe(data, pw.value):
                chosen = pw.value
                note(f"{label(kind)} archive opened with a password from {pw.origin}")
                break
        else:
            if kind == "rar":
                yield Locked("*", f"encrypted RAR archive, locked: {_tried(passwords)} "
                                  "(RAR decryption needs a password that works)")
                return
    try:
        with libarchive.memory_reader(data, passphrase=chosen) as arc:
            for entry in arc:
                if not (entry.isfile or (entry.filetype == 0 and entry.size)):
                    continue  # type 0: a file whose mode bits the archiver did not set
                name = entry.pathname or "-"
                if kind == "rar" and _data_encrypted(entry):
                    yield Locked(name, f"encrypted RAR member, locked: {_tried(passwords)} "
                                       "(no RAR decryption available here)")
                    continue
                blocks = _Blocks(entry.get_blocks())
                try:
                    first = blocks.read(1)
                except Exception as e:
                    if _is_lock_error(e):
                        yield Locked(name, f"encrypted {label(kind)} member, locked: {_tried(passwords)}")
                        continue
                    raise
                head = [first]

                def read(n: int, blocks: _Blocks = blocks, head: list[bytes] = head) -> bytes:
                    if head:
                        out = head.pop() + (blocks.read(n - 1) if n > 1 else b"")
                        return out
                    return blocks.read(n)

                yield Entry(name, read, lambda: int(arc.bytes_read))
    except ReaderError:
        raise
    except Exception as e:
        if _is_lock_error(e):
            yield Locked("*", f"encrypted {label(kind)} archive, locked: {_tried(passwords)} ({e})")
            return
        raise ReaderError(f"unreadable {label(kind)} archive: {_short(e)}") from None


def _short(e: Exception) -> str:
    return str(e).split(" (errno=", 1)[0]


def sevenzip_encrypted(data: bytes) -> bool:
    """Whether a 7z needs a password (libarchive then cannot read it)."""
    import py7zr

    try:
        with py7zr.SevenZipFile(io.BytesIO(data)) as z:
            return bool(z.needs_password())
    except py7zr.PasswordRequired:
        return True  # encrypted headers (7z -mhe=on)
    except Exception:
        return False


def sevenzip_entries(data: bytes, passwords: Sequence[Password], max_members: int,
                     max_bytes: int, note: Callable[[str], None]) -> Iterator[Entry | Locked]:
    """Members of an encrypted 7z, decrypted by py7zr with the first password that works.

    py7zr decompresses into memory, so the declared sizes are checked against the caps first
    and each member is limited to `max_bytes` while it is written.
    """
    import py7zr
    from py7zr.io import BytesIOFactory

    for pw in passwords:
        try:
            with py7zr.SevenZipFile(io.BytesIO(data), password=pw.value) as z:
                infos = [i for i in z.list() if not i.is_directory]
                declared = sum(i.uncompressed or 0 for i in infos)
                if declared > max_bytes or len(infos) > max_members:
                    raise ReaderError(
                        f"encrypted 7z declares {len(infos)} member(s), {declared} bytes: "
                        "beyond max_archive_members / max_unpacked_mb, not opened")
                factory = BytesIOFactory(max(1, max_bytes))
                z.extract(factory=factory)
        except ReaderError:
            raise
        except Exception:
            continue  # wrong password: bad block data, CRC error, PasswordRequired...
        note(f"7z archive opened with a password from {pw.origin}")
        for info in infos:
            try:
                product = factory.get(info.filename)
            except KeyError:
                continue
            product.seek(0)
            size = info.compressed or len(data)
            yield Entry(info.filename, product.read, functools.partial(int, size))
        return
    yield Locked("*", f"encrypted 7z archive, locked: {_tried(passwords)}")
