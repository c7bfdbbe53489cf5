"""Document extraction: decoding, archives and the caps against hostile input."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import re
import struct
import zipfile
import zlib

import pytest

from monitor.config import MatchingConfig
from monitor.matching.extract import MB, Limits, Part, iter_parts, sniff, zip_entry_count
from tests.support.formats import make_tar, make_zip

LIMITS = Limits()


def parts(data: bytes, name: str = "doc", limits: Limits = LIMITS) -> list[Part]:
    return list(iter_parts(data, name, limits))


def only(data: bytes, name: str = "doc", limits: Limits = LIMITS) -> Part:
    ps = parts(data, name, limits)
    assert len(ps) == 1, ps
    return ps[0]






# --- limits --------------------------------------------------------------------------------


def test_limits_from_config_converts_megabytes():
    limits = Limits.from_config(MatchingConfig(max_document_mb=1.5, max_archive_members=7,
                                               max_unpacked_mb=3, max_archive_depth=1))
    assert limits.max_document_bytes == int(1.5 * MB)
    assert limits.max_archive_members == 7
    assert limits.max_unpacked_bytes == 3 * MB
    assert limits.max_archive_depth == 1


# --- decoding ------------------------------------------------------------------------------


def test_plain_ascii_is_passed_through_unchanged():
    data = b"id;nom\n1;DUPONT\n"
    p = only(data)
    assert p.data is data or p.data == data
    assert (p.encoding, p.truncated, p.skipped) == ("ascii", False, None)


def test_utf8_with_and_without_bom():
    text = "Société Générale, fuite de données"
    assert only(text.encode()).data == text.encode()
    p = only(b"\xef\xbb\xbf" + text.encode())
    assert p.data == text.encode()
    assert p.encoding == "utf-8-sig"


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_utf16_and_utf32_are_transcoded(codec):
    text = "Nom;Prénom\nDÉDALUS;Zoé\n" * 20
    raw = text.encode(codec)
    if codec == "utf-16-le":
        raw = codecs_bom("le") + raw
    elif codec == "utf-16-be":
        raw = codecs_bom("be") + raw
    p = only(raw)
    assert p.data == text.encode("utf-8")
    assert p.skipped is None


def codecs_bom(order: str) -> bytes:
    return b"\xff\xfe" if order == "le" else b"\xfe\xff"


def test_utf16_without_bom_is_recognised_not_skipped_as_binary():
    text = "email;telephone\njean.dupont@example.fr;0612345678\n" * 10
    p = only(text.encode("utf-16-le"))
    assert p.skipped is None
    assert p.encoding == "utf-16-le"
    assert p.data == text.encode()


def test_cp1252_text_is_decoded_with_euro_and_accents():
    text = "Prénom;Montant\nHélène;12 €\nFrançois;œuvre\n"
    p = only(text.encode("cp1252"))
    assert p.encoding == "cp1252"
    assert p.data.decode("utf-8") == text


def test_bytes_undefined_in_cp1252_fall_back_to_latin1():
    p = only(b"caf\xe9 \x81\x8d\x90 fin")
    assert p.encoding == "cp1252"
    assert p.data.decode("utf-8") == "café \x81\x8d\x90 fin"


def test_mostly_utf8_with_a_few_broken_bytes_stays_utf8():
    good = "Données exportées: Zoé, Hélène, François, Benoît. " * 20
    raw = good.encode() + b"\xff\xfe broken" + good.encode()
    p = only(raw)
    assert p.encoding == "utf-8"
    assert "invalid UTF-8" in (p.note or "")
    out = p.data.decode("utf-8")  # always valid UTF-8
    assert out.count("Hélène") == 40


@pytest.mark.parametrize("raw", [
    b"\xc3", b"\xe2\x82", b"\xf0\x9f\x98", b"\xed\xa0\x80", b"\x00", b"\xff\xfe", b"\xfe\xff\x00",
    b"\xef\xbb\xbf\xff", b"", b"\r\n", bytes(range(256)),
])
def test_broken_encodings_never_crash_and_give_valid_utf8(raw):
    for p in parts(raw):
        p.data.decode("utf-8")  # raises if we handed the engine invalid UTF-8


def test_huge_single_line_is_kept_whole_under_the_cap():
    line = b"x" * (5 * MB) + b" dedalus-biologie.fr " + b"y" * MB
    p = only(line)
    assert p.data == line and not p.truncated


def test_document_over_the_cap_is_cut_on_a_character_boundary_and_flagged():
    limits = Limits(max_document_bytes=1000)
    data = "é".encode() * 2000  # 4000 bytes; 1000 is even, so cut inside nothing
    data = b"a" + data  # now every even offset falls inside a two-byte character
    p = only(data, limits=limits)
    assert p.truncated
    assert "max_document_mb" in p.note
    assert len(p.data) <= 1000
    p.data.decode("utf-8")
    assert p.data.decode() == "a" + "é" * 499


@pytest.mark.parametrize("raw", [
    "€".encode("utf-16") * 1 + "€".encode("utf-16-le") * 45,  # 92 bytes -> 135 in UTF-8
    "é".encode("cp1252") * 90,  # 90 bytes -> 180 in UTF-8
])
def test_transcoded_text_is_capped_after_transcoding_too(raw):
    p = only(raw, limits=Limits(max_document_bytes=100))
    assert p.truncated and 90 <= len(p.data) <= 100
    p.data.decode("utf-8")


# --- binary --------------------------------------------------------------------------------


@pytest.mark.parametrize(("data", "word"), [
    (b"\x7fELF\x02\x01\x01" + b"\x00" * 100, "ELF"),
    (b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 200, "binary"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 50, "PNG"),
    (b"\xff\xd8\xff\xe0\x00\x10JFIF", "JPEG"),
    (b"GIF89a\x01\x00", "GIF"),
    (b"%PDF-1.7\n", "PDF"),
    (b"Rar!\x1a\x07\x01\x00", "RAR"),
    (b"SQLite format 3\x00" + b"\x00" * 100, "SQLite"),
    (bytes(range(256)) * 64, "binary"),
])
def test_binary_content_is_skipped_with_a_reason(data, word):
    p = only(data, "blob")
    assert p.skipped and word in p.skipped
    assert p.data == b""


def test_text_header_on_a_binary_body_is_skipped():
    data = b"id,name\n" * 20000 + bytes(range(256)) * 1000
    p = only(data)
    assert p.skipped and "middle" in p.skipped


def test_a_few_control_characters_do_not_make_text_binary():
    text = b"INSERT INTO t VALUES ('a\x00b');\n" + b"normal text line\n" * 200
    assert only(text).skipped is None


# --- archives ------------------------------------------------------------------------------


def test_sniff_by_content_not_by_name():
    assert sniff(make_zip({"a.txt": b"x"})) == "zip"
    assert sniff(gzip.compress(b"x")) == "gzip"
    assert sniff(bz2.compress(b"x")) == "bzip2"
    assert sniff(lzma.compress(b"x")) == "xz"
    assert sniff(make_tar({"a.txt": b"x"})) == "tar"
    assert sniff(b"PK is just text") is None
    assert sniff(b"BZh is how this text starts") is None


def test_text_that_only_starts_like_a_compressed_stream_is_read_as_text():
    p = only(b"BZh9 not bzip2 at all, just a note about Dedalus Biologie\n", "note.txt")
    assert p.skipped is None and p.data.startswith(b"BZh9 not bzip2")
    p = only(b"\x1f\x8b" + b"\x00" * 100, "junk.gz")
    assert p.skipped and "gzip" in p.skipped


def test_zip_members_of_every_text_format_become_parts():
    members = {
        "dump/patients.csv": "nom;prénom\nDUPONT;Zoé\n".encode("cp1252"),
        "dump/patients.json": b'{"nom": "DUPONT"}\n',
        "dump/patients.sql": b"INSERT INTO p VALUES ('DUPONT');\n",
        "readme.txt": "lisez-moi".encode("utf-16"),
        "empty/": b"",
    }
    ps = parts(make_zip(members), "leak.zip")
    by_name = {p.name: p for p in ps}
    assert set(by_name) == {"leak.zip!dump/patients.csv", "leak.zip!dump/patients.json",
                            "leak.zip!dump/patients.sql", "leak.zip!readme.txt"}
    assert by_name["leak.zip!dump/patients.csv"].data.decode() == "nom;prénom\nDUPONT;Zoé\n"
    assert by_name["leak.zip!readme.txt"].data == b"lisez-moi"
    assert all(p.skipped is None for p in ps)


def test_stored_zip_members_work_too():
    ps = parts(make_zip({"a.txt": b"hello"}, zipfile.ZIP_STORED), "s.zip")
    assert [(p.name, p.data) for p in ps] == [("s.zip!a.txt", b"hello")]


def test_nested_zip_within_depth_is_opened_and_deeper_is_skipped():
    level3 = make_zip({"deepest.txt": b"too deep"})
    level2 = make_zip({"deep.txt": b"deep text", "l3.zip": level3})
    level1 = make_zip({"top.txt": b"top text", "l2.zip": level2})
    ps = {p.name: p for p in parts(level1, "l1.zip")}
    assert ps["l1.zip!top.txt"].data == b"top text"
    assert ps["l1.zip!l2.zip!deep.txt"].data == b"deep text"
    skipped = ps["l1.zip!l2.zip!l3.zip"]
    assert skipped.skipped and "max_archive_depth=2" in skipped.skipped
    assert not any("deepest" in name for name in ps)


def test_depth_zero_opens_no_archive():
    p = only(make_zip({"a.txt": b"x"}), "a.zip", Limits(max_archive_depth=0))
    assert p.skipped and "max_archive_depth=0" in p.skipped


def test_binary_zip_member_is_skipped_and_others_kept():
    ps = parts(make_zip({"photo.png": b"\x89PNG\r\n\x1a\n" + b"\x00" * 99, "a.csv": b"a;b\n"}),
               "m.zip")
    assert [(p.name, p.skipped is None) for p in ps] == [("m.zip!photo.png", False),
                                                          ("m.zip!a.csv", True)]


def encrypt_flag(zip_bytes: bytes) -> bytes:
    """Set the 'encrypted' flag bit on every entry (what zip -e produces, minus the cipher)."""
    out = bytearray(zip_bytes)
    for sig, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        start = 0
        while (i := out.find(sig, start)) >= 0:
            (flags,) = struct.unpack_from("<H", out, i + offset)
            struct.pack_into("<H", out, i + offset, flags | 0x1)
            start = i + 4
    return bytes(out)


def test_encrypted_zip_member_is_skipped_with_a_reason():
    ps = parts(encrypt_flag(make_zip({"secret.csv": b"a;b\n"})), "enc.zip")
    assert len(ps) == 1
    assert ps[0].name == "enc.zip!secret.csv"
    assert "encrypted" in ps[0].skipped


def test_corrupt_zip_is_skipped_not_raised():
    data = make_zip({"a.txt": b"x" * 1000})
    p = only(data[: len(data) // 2], "cut.zip")
    assert p.skipped and "unreadable zip" in p.skipped


def test_gzip_member_is_named_after_the_file_without_suffix():
    ps = parts(gzip.compress("données;é\n".encode()), "paste/dump.csv.gz")
    assert [(p.name, p.data.decode()) for p in ps] == [("paste/dump.csv.gz!dump.csv",
                                                        "données;é\n")]


def test_multi_member_gzip_is_read_entirely():
    data = gzip.compress(b"first part\n") + gzip.compress(b"second part\n")
    assert only(data, "x.gz").data == b"first part\nsecond part\n"


def test_bz2_and_xz_streams():
    assert only(bz2.compress(b"bz text"), "a.txt.bz2").data == b"bz text"
    assert only(lzma.compress(b"xz text"), "a.txt.xz").data == b"xz text"


def test_truncated_gzip_keeps_what_was_readable_and_flags_it():
    body = b"".join(b"row %06d;DUPONT;Jean\n" % i for i in range(20000))
    data = gzip.compress(body)
    p = only(data[: len(data) // 2], "half.csv.gz")
    assert p.skipped is None
    assert p.truncated and "corrupt or truncated" in p.note
    assert p.data and body.startswith(p.data[:1000])


def test_tar_gz_and_plain_tar_members():
    tgz = make_tar({"a/b.csv": b"x;y\n", "c.txt": b"hello"}, "w:gz")
    ps = parts(tgz, "dump.tar.gz")
    assert [(p.name, p.data) for p in ps] == [("dump.tar.gz!a/b.csv", b"x;y\n"),
                                              ("dump.tar.gz!c.txt", b"hello")]
    ps = parts(make_tar({"c.txt": b"plain"}), "x.tar")
    assert [(p.name, p.data) for p in ps] == [("x.tar!c.txt", b"plain")]


def test_zip_inside_tar_gz_counts_as_one_more_level():
    tgz = make_tar({"inner.zip": make_zip({"x.txt": b"inside"})}, "w:gz")
    ps = parts(tgz, "t.tgz")
    assert [(p.name, p.data) for p in ps] == [("t.tgz!inner.zip!x.txt", b"inside")]


# --- bombs ---------------------------------------------------------------------------------


def test_zip_bomb_with_a_high_ratio_member_is_abandoned_early():
    # 24 MB of one byte repeated deflates to ~24 KB: a ratio of ~1000:1.
    bomb = make_zip({"bomb.txt": b"A" * (24 * MB), "ok.txt": b"fine"})
    ps = {p.name: p for p in parts(bomb, "bomb.zip")}
    assert "ratio" in ps["bomb.zip!bomb.txt"].skipped
    assert ps["bomb.zip!ok.txt"].data == b"fine"


def test_gz_bomb_is_abandoned_on_ratio():
    p = only(gzip.compress(b"A" * (24 * MB), compresslevel=9), "bomb.gz")
    assert p.skipped and "ratio" in p.skipped and "decompression bomb" in p.skipped
    # abandoned soon after the 4 MB the ratio check waits for, not at the 24 MB end
    assert int(re.search(r"after (\d+) MB", p.skipped).group(1)) <= 6


def test_gz_beyond_the_unpacked_cap_is_cut_there_and_flagged():
    body = bytes(range(32, 127)) * (30 * 1024)  # ~2.8 MB of text, ratio well below 100
    limits = Limits(max_unpacked_bytes=MB)
    p = only(gzip.compress(body), "big.txt.gz", limits)
    assert p.truncated and "unpacked-size cap" in p.note
    assert len(p.data) <= MB and body.startswith(p.data)


def test_gz_text_over_the_document_cap_is_cut_and_flagged():
    body = b"line of text\n" * 100000
    p = only(gzip.compress(body), "big.txt.gz", Limits(max_document_bytes=10000))
    assert p.truncated and len(p.data) == 10000 and body.startswith(p.data)


def test_many_members_are_capped_with_one_summary_entry():
    data = make_zip({f"m{i:03}.txt": b"x" for i in range(500)})
    ps = parts(data, "many.zip", Limits(max_archive_members=10))
    scanned = [p for p in ps if p.skipped is None]
    assert len(scanned) == 10
    assert len(ps) == 11
    assert ps[-1].name == "many.zip!*"
    assert "490 more member(s)" in ps[-1].skipped and "max_archive_members=10" in ps[-1].skipped


def test_nested_zip_bomb_is_bounded_by_the_total_unpacked_cap():
    # 10 x 10 x 1 MB = 100 MB unpacked from ~100 KB, through two levels of nesting.
    leaf = make_zip({f"f{i}.txt": bytes(range(32, 127)) * 11000 for i in range(10)})
    mid = make_zip({f"m{i}.zip": leaf for i in range(10)})
    limits = Limits(max_unpacked_bytes=5 * MB)
    ps = parts(mid, "nested.zip", limits)
    unpacked = sum(len(p.data) for p in ps)
    assert unpacked <= 5 * MB
    assert any(p.skipped and "unpacked-size cap" in p.skipped for p in ps)


def test_declared_entry_count_under_the_floor_is_left_to_zipfile():
    data = bytearray(make_zip({f"m{i}.txt": b"x" for i in range(3)}))
    assert zip_entry_count(bytes(data)) == 3
    eocd = data.rfind(b"PK\x05\x06")
    struct.pack_into("<HH", data, eocd + 8, 0xFFFE, 0xFFFE)  # 65,534: under 100,000
    ps = parts(bytes(data), "odd.zip", Limits(max_archive_members=10))
    assert [p.name for p in ps] == ["odd.zip!m0.txt", "odd.zip!m1.txt", "odd.zip!m2.txt"]


def test_zip64_entry_count_is_read_from_the_zip64_record():
    bio = io.BytesIO()
    with zipfile.ZipFile(bio, "w", allowZip64=True) as z:
        for i in range(3):
            z.writestr(f"m{i}.txt", b"x")
    data = bytearray(bio.getvalue())
    eocd = data.rfind(b"PK\x05\x06")
    # Rewrite as a zip64 directory claiming 5 million entries: a zip64 record + locator.
    cd_size, cd_offset = struct.unpack_from("<II", data, eocd + 12)
    z64 = struct.pack("<4sQHHIIQQQQ", b"PK\x06\x06", 44, 45, 45, 0, 0, 5_000_000, 5_000_000,
                      cd_size, cd_offset)
    locator = struct.pack("<4sIQI", b"PK\x06\x07", 0, eocd, 1)
    end = bytearray(data[eocd:])
    struct.pack_into("<HH", end, 8, 0xFFFF, 0xFFFF)
    crafted = bytes(data[:eocd]) + z64 + locator + bytes(end)
    assert zip_entry_count(crafted) == 5_000_000
    p = only(crafted, "z64.zip")
    assert p.skipped and "declares 5000000 entries" in p.skipped


def test_nested_members_count_against_one_member_budget():
    leaf = make_zip({f"f{i}.txt": b"x" for i in range(20)})
    outer = make_zip({f"l{i}.zip": leaf for i in range(20)})
    ps = parts(outer, "o.zip", Limits(max_archive_members=50))
    assert sum(1 for p in ps if p.skipped is None) < 50
    assert any(p.skipped and "max_archive_members=50" in p.skipped for p in ps)


def test_tar_gz_bomb_is_capped():
    member = b"A" * (12 * MB)
    tgz = make_tar({"a.txt": member, "b.txt": member}, "w:gz")
    ps = parts(tgz, "bomb.tgz", Limits(max_unpacked_bytes=6 * MB))
    assert sum(len(p.data) for p in ps) <= 6 * MB
    assert any(p.skipped for p in ps)


def test_zip_header_lying_about_the_unpacked_size_is_handled():
    # A zip whose header declares 10 bytes but whose data inflates to 24 MB.
    data = bytearray(make_zip({"liar.txt": b"B" * (24 * MB)}))
    for sig, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        i = data.find(sig)
        struct.pack_into("<I", data, i + offset, 10)
    ps = parts(bytes(data), "liar.zip")
    assert all(len(p.data) <= 10 * MB for p in ps)


def test_raw_zlib_is_just_binary():
    p = only(zlib.compress(b"x" * 10000), "z")
    assert p.skipped


def test_member_names_cannot_carry_terminal_escapes_or_newlines():
    data = make_zip({"evil\x1b[2J\nFAKE LOG LINE\u202e.csv": b"a;b\n"})
    (p,) = parts(data, "x.zip")
    assert p.name == "x.zip!evil\\x1b[2J\\x0aFAKE LOG LINE\\u202e.csv"
    assert p.name.isprintable()


@pytest.mark.parametrize(("compress", "name"), [(bz2.compress, "b.txt.bz2"),
                                                (lzma.compress, "x.txt.xz")])
def test_bz2_and_xz_bombs_are_abandoned_on_ratio(compress, name):
    p = only(compress(b"Z" * (6 * MB)), name)
    assert p.skipped and "decompression bomb" in p.skipped


def test_mutated_archives_never_raise():
    """Flip, cut and splice bytes of valid archives: every outcome is a Part, never an error."""
    import random

    rng = random.Random(1234)
    inner = make_zip({"in.csv": "nom;prénom\nDUPONT;Zoé\n".encode()})
    seeds = [
        make_zip({"a.csv": b"x;y\n" * 50, "n.zip": inner}),
        gzip.compress(b"line\n" * 200),
        make_tar({"a.txt": b"hello " * 100, "z.zip": inner}, "w:gz"),
        make_tar({"a.txt": b"plain tar " * 50}),
        bz2.compress(b"bz " * 300),
        lzma.compress(b"xz " * 300),
    ]
    limits = Limits(max_unpacked_bytes=MB, max_document_bytes=64 * 1024)
    for _ in range(600):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randrange(1, 6)):
            op = rng.randrange(3)
            i = rng.randrange(len(data))
            if op == 0:
                data[i] = rng.randrange(256)
            elif op == 1:
                del data[i:i + rng.randrange(1, 64)]
            else:
                data[i:i] = rng.randbytes(rng.randrange(1, 16))
            if not data:
                data = bytearray(b"PK")
        for p in iter_parts(bytes(data), "fuzz", limits):
            assert isinstance(p, Part)
            p.data.decode("utf-8")
            assert (p.skipped is None) or p.data == b""


def test_compression_ratio_cap_comes_from_the_config():
    from monitor.config import parse_config

    cfg = parse_config({"matching": {"max_compression_ratio": 20}})
    assert Limits.from_config(cfg.matching).max_ratio == 20.0
    assert Limits.from_config(parse_config({}).matching).max_ratio == 100.0
