"""The plain-UTF-8 fast path at the top of extraction gives what the full path gives."""

from __future__ import annotations

import bz2
import codecs
import gzip
import random
import zipfile

import pytest

from monitor.matching import extract
from monitor.matching.extract import Limits, iter_parts, plain_text_part
from tests.support.formats import make_tar, make_zip

LIMITS = Limits()


def _full(data: bytes, name: str = "doc.txt") -> list:
    return list(extract._walk(data, name, 0, extract._Budget(LIMITS)))






TEXT = "fuite de la base Dédalus Biologie, 500k lignes 😀\n".encode() * 40
SAMPLES = {
    "ascii": b"hello world\n" * 100,
    "utf8": TEXT,
    "empty": b"",
    "cp1252": "caf\xe9 cr\xe8me\n".encode("cp1252") * 50,
    "broken utf8": TEXT[:-3] + b"\xff\xfe" + TEXT,
    "utf16le no bom": ("bonjour tout le monde " * 50).encode("utf-16-le"),
    "utf16be no bom": ("bonjour tout le monde " * 50).encode("utf-16-be"),
    "utf8 bom": codecs.BOM_UTF8 + TEXT,
    "utf16 bom": codecs.BOM_UTF16_LE + "salut".encode("utf-16-le"),
    "controls": b"text\x01\x02\x03\x04\x05 more\x06\x07\x08" * 30,
    "one control": b"a line of text\x07 and more text\n" * 30,
    "nul": b"text with a NUL\x00 in it\n" * 30,
    "pdf": b"%PDF-1.7\n% plain looking\n" * 20,
    "bzh text": b"BZhello, not a bzip2 stream\n" * 10,
    "bzip2": bz2.compress(b"Dedalus Biologie\n" * 50),
    "gzip": gzip.compress(b"Dedalus Biologie\n" * 50),
    "zip": make_zip({"a.txt": b"Dedalus Biologie\n"}, zipfile.ZIP_STORED),
    "tar": make_tar({"a.txt": b"Dedalus Biologie\n"}),
    "riff": b"RIFF" + b"a" * 200,
    "binary middle": b"header line\n" * 6000 + bytes(range(256)) * 600 + b"tail\n" * 6000,
    "big text": b"Dedalus Biologie leak line\n" * 20000,
}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_fast_path_result_is_the_full_path_result(name):
    data = SAMPLES[name]
    assert list(iter_parts(data, "doc.txt", LIMITS)) == _full(data)


@pytest.mark.parametrize("name", ["ascii", "utf8", "big text", "one control"])
def test_plain_text_takes_the_fast_path(name):
    """`one control` (a BEL in text) is text for the full path too, but takes the full path:
    the fast path only accepts what needs no judgement."""
    part = plain_text_part(SAMPLES[name], "doc.txt", LIMITS)
    if name == "one control":
        assert part is None and _full(SAMPLES[name])[0].skipped is None
    else:
        assert part is not None and part.data == SAMPLES[name]
        assert part.encoding == ("utf-8" if name == "utf8" else "ascii")


@pytest.mark.parametrize("name", ["empty", "cp1252", "broken utf8", "utf16le no bom",
                                  "utf8 bom", "nul", "pdf", "bzh text", "gzip", "zip", "tar",
                                  "riff", "binary middle"])
def test_anything_else_takes_the_full_path(name):
    assert plain_text_part(SAMPLES[name], "doc.txt", LIMITS) is None


def test_random_bytes_agree_with_the_full_path():
    rng = random.Random(5)
    alphabet = b"abc \n\t\x00\x01\x1b\x7f\x80\xc3\xa9\xe2\x82\xac\xff%PDF-BZh1"
    for _ in range(2000):
        data = bytes(rng.choice(alphabet) for _ in range(rng.randrange(0, 64)))
        assert list(iter_parts(data, "r", LIMITS)) == _full(data, "r"), data


def test_over_the_document_cap_takes_the_full_path():
    small = Limits(max_document_bytes=100)
    data = b"x" * 101
    assert plain_text_part(data, "d", small) is None
    [part] = iter_parts(data, "d", small)
    assert part.truncated and len(part.data) == 100


def _plain_reference(data: bytes, sample: int) -> int:
    """What `_native.plain_text` promises, written plainly."""
    if b"\0" in data or data[:sample].translate(None, extract._NON_CONTROL):
        return 0
    if len(data) > 2 * sample:
        mid = len(data) // 2
        if data[mid:mid + sample].translate(None, extract._NON_CONTROL):
            return 0
    if data.isascii():
        return 1
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return 0
    return 2


def test_the_one_pass_plain_text_test_agrees_with_its_definition():
    """Small samples put control bytes before, inside and after the sampled head and middle;
    long ASCII runs put the first non-ASCII byte past the 16-byte vector steps."""
    from monitor.matching import _native

    rng = random.Random(7)
    pieces = [b"a", b"b c", b"\n", b"\t", b"\x1b", b"\x00", b"\x01", b"\x07", b"\x7f", b"\x80",
              "é".encode(), "€".encode(), "😀".encode(), b"\xc3", b"\xed\xa0\x80", b"x" * 17]
    for _ in range(20000):
        data = b"".join(rng.choice(pieces) for _ in range(rng.randrange(0, 40)))
        sample = rng.choice([1, 4, 8, 16, 65536])
        assert _native.plain_text(data, sample) == _plain_reference(data, sample), (data, sample)
