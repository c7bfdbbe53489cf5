"""Containers and documents a leak travels in: 7z, RAR, zstd, cpio, ISO, locked archives, XLSX
with date cells, DOCX, PDF, SQLite and mysql --xml, each read into rows so that our records
(name + birth date, no unique identifier) are recognized by `leakmon scan --fingerprints`."""

from __future__ import annotations

import csv
import json

import pytest

import tests.support.formats as F
from monitor.cli import main
from monitor.collectors.attachments import archive_context
from monitor.matching.extract import MB, Limits, Part, iter_parts
from monitor.matching.readers.passwords import Password, candidates, from_caption
from monitor.models import Document
from monitor.pipeline import document_passwords

MEMBERS = {"patients.csv": F.csv_bytes()}
LIMITS = Limits()


def parts(data: bytes, name: str, limits: Limits = LIMITS, passwords=()) -> list[Part]:
    return list(iter_parts(data, name, limits, passwords))


def record_lines(ps: list[Part]) -> list[str]:
    """Lines of the scanned parts that hold one of our records whole."""
    text = b"\n".join(p.data for p in ps if p.skipped is None).decode("utf-8")
    return [line for line in text.splitlines()
            if ("Dupont" in line or "DUPONT" in line) and "Jean-Pierre" in line
            and ("1985-03-12" in line or "12/03/1985" in line)]


BUILDERS = {
    "dump.7z": lambda tmp: F.seven_zip(MEMBERS),
    "cli.7z": lambda tmp: F.seven_zip_cli(tmp, MEMBERS, "-t7z"),
    "dump.rar": lambda tmp: F.rar4_stored(MEMBERS),
    "dump5.rar": lambda tmp: F.rar5_stored(MEMBERS),
    "patients.csv.zst": lambda tmp: F.zstd(F.csv_bytes()),
    "cli.csv.zst": lambda tmp: F.zstd_cli(tmp, F.csv_bytes()),
    "dump.tar.zst": lambda tmp: F.zstd_cli(tmp, F.libarchive_write("ustar", MEMBERS)),
    "dump.cpio": lambda tmp: F.libarchive_write("cpio", MEMBERS),
    "dump.iso": lambda tmp: F.libarchive_write("iso9660", MEMBERS),
    "patients.xlsx": lambda tmp: F.xlsx(),
    "patients.docx": lambda tmp: F.docx(),
    "patients.pdf": lambda tmp: F.pdf(),
    "leak.db": lambda tmp: F.sqlite_db(tmp),
    "patients.xml": lambda tmp: F.mysql_xml(),
    "nested.zip": lambda tmp: F.seven_zip_cli(tmp, {"inner.7z": F.seven_zip(MEMBERS)}, "-tzip"),
}


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_each_format_yields_our_records_one_per_line(tmp_path, name):
    ps = parts(BUILDERS[name](tmp_path), name)
    assert [p.skipped for p in ps if p.skipped] == []
    assert len(record_lines(ps)) == 1, [p.data[:300] for p in ps]


def test_xlsx_date_cells_come_out_as_dates(tmp_path):
    (p,) = parts(F.xlsx(), "patients.xlsx")
    assert b"P1\tDupont\tJean-Pierre\t1985-03-12\n" in p.data
    assert p.note == "xlsx: 5 row(s)"  # the sheet line, the header and three records


def test_mysql_xml_fields_of_a_row_share_one_line():
    (p,) = parts(F.mysql_xml(), "out.xml")
    assert p.data.splitlines()[0] == b"P1\tDupont\tJean-Pierre\t1985-03-12"
    assert len(p.data.splitlines()) == 3


def test_sqlite_reads_every_table(tmp_path):
    (p,) = parts(F.sqlite_db(tmp_path), "leak.db")
    assert b"# table staff: login\tpass\nadmin\tx\n" in p.data
    assert b"# table patients:" in p.data


@pytest.fixture
def state(tmp_path, monkeypatch):
    from monitor.matching.fingerprints import import_csv
    from monitor.matching.fingerprints.build import FieldSpec

    key = "ab" * 32
    monkeypatch.setenv("LEAKMON_FINGERPRINT_KEY", key)
    st = tmp_path / "st"
    st.mkdir(mode=0o700)
    monkeypatch.setenv("LEAKMON_STATE_DIR", str(st))
    with open(tmp_path / "ours.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(F.HEADER)
        for i, n, p, d in F.RECORDS:
            w.writerow([i, n, p, d.isoformat()])
    import_csv(st, "patients", tmp_path / "ours.csv", id_column="id",
               fields=[FieldSpec("nom", "last_name"), FieldSpec("prenom", "first_name"),
                       FieldSpec("naissance", "date")], key=bytes.fromhex(key))
    return st


def test_scan_fingerprints_recognizes_the_records_in_every_format(tmp_path, state, capsys):
    folder = tmp_path / "leaks"
    folder.mkdir()
    for name, build in BUILDERS.items():
        (folder / name).write_bytes(build(tmp_path))
    rc = main(["scan", "--fingerprints", "patients", "--json", str(folder)])
    out, _ = capsys.readouterr()
    assert rc == 0
    docs = {d["path"].rsplit("/", 1)[-1]: d for d in map(json.loads, out.splitlines())}
    assert sorted(docs) == sorted(BUILDERS)
    for name, doc in docs.items():
        records = sorted(r for h in doc["hits"] for r in h.get("records", []))
        assert records == ["P1", "P2"], name
    assert "Jean-Pierre" not in out


# --- passwords -------------------------------------------------------------------------


@pytest.mark.parametrize(("caption", "password"), [
    ("Base clients 2024 (4 Go) pass: Xx_leak2024!", "Xx_leak2024!"),
    ('password = "hunter2"', "hunter2"),
    ("🔑 t.me/darkleaks", "t.me/darkleaks"),
    ("mdp : azerty123.", "azerty123"),
    ("Mot de passe: s3cr3t", "s3cr3t"),
    ("Пароль: qwerty", "qwerty"),
    ("PASSWORD IS Leak2024", "Leak2024"),
])
def test_caption_passwords(caption, password):
    assert password in from_caption(caption)


@pytest.mark.parametrize("caption", ["no password here", "compass: north", "passer la base"])
def test_caption_without_password(caption):
    assert from_caption(caption) == []


def telegram_file(content: bytes, caption: str, name: str, configured=()) -> Document:
    post = Document(source="leaks", platform="telegram", external_id="77",
                    content=caption.encode(), metadata={"links": [], "channel": "darkleaks"})
    return Document(source="leaks", platform="telegram", external_id="77/doc/1",
                    content=content, filename=name, parent_id="77",
                    metadata={"links": [], **archive_context(post, configured)})


LOCKED = {
    "py7zr.7z": lambda tmp, pw: F.seven_zip(MEMBERS, password=pw),
    "headers.7z": lambda tmp, pw: F.seven_zip(MEMBERS, password=pw, header_encryption=True),
    "cli-mhe.7z": lambda tmp, pw: F.seven_zip_cli(tmp, MEMBERS, "-t7z", f"-p{pw}", "-mhe=on"),
    "zipcrypto.zip": lambda tmp, pw: F.seven_zip_cli(tmp, MEMBERS, "-tzip", f"-p{pw}"),
    "aes.zip": lambda tmp, pw: F.seven_zip_cli(tmp, MEMBERS, "-tzip", f"-p{pw}",
                                               "-mem=AES256"),
}


@pytest.mark.parametrize("name", sorted(LOCKED))
def test_archive_opened_with_the_password_of_its_caption(tmp_path, name):
    doc = telegram_file(LOCKED[name](tmp_path, "Xx_leak2024!"),
                        "🔥 Clinique X, 40k patients\npass: Xx_leak2024!\n[document] f", name)
    ps = parts(doc.content, name, passwords=document_passwords(doc))
    assert [p.skipped for p in ps if p.skipped] == []
    assert len(record_lines(ps)) == 1
    assert all("password from the post's caption" in (p.note or "") for p in ps)


@pytest.mark.parametrize("name", sorted(LOCKED))
def test_locked_archive_is_reported_never_dropped(tmp_path, name):
    doc = telegram_file(LOCKED[name](tmp_path, "s3cret-Unknown"), "pass: wrong1", name,
                        configured=["wrong2"])
    pw = document_passwords(doc)
    ps = parts(doc.content, name, passwords=pw)
    assert record_lines(ps) == []
    reasons = [p.skipped for p in ps]
    assert reasons and all(r and "locked" in r for r in reasons), reasons
    assert f"{len(pw)} candidate password(s) tried" in reasons[0]
    assert "s3cret" not in " ".join(reasons)


def _past_the_check_byte(data: bytes, password: str) -> bool:
    """Whether libarchive takes `password` for this ZipCrypto archive at its first block
    (the header's one check byte matches), whatever the data then says."""
    import libarchive

    try:
        with libarchive.memory_reader(data, passphrase=password) as arc:
            for entry in arc:
                for _block in entry.get_blocks():
                    return True
    except libarchive.ArchiveError as e:
        return "passphrase" not in str(e).lower() and "encrypt" not in str(e).lower()
    return True


def test_a_wrong_zipcrypto_password_past_the_check_byte_still_reads_locked(tmp_path):
    """ZipCrypto checks a password on one byte: about one wrong password in 256 passes it
    and only the data shows it wrong. Such a password must count as wrong (the archive is
    reported locked), not open the archive into a decompression error."""
    data = F.seven_zip_cli(tmp_path, MEMBERS, "-tzip", "-ps3cret-Unknown")
    lucky = next(pw for i in range(20000)
                 if _past_the_check_byte(data, pw := f"wrong-{i}"))  # ~1 in 256
    ps = parts(data, "z.zip", passwords=(Password("nope", "the post's caption"),
                                         Password(lucky, "the source's passwords")))
    assert record_lines(ps) == []
    reasons = [p.skipped for p in ps]
    assert reasons and all(r and "locked" in r for r in reasons), reasons
    right = parts(data, "z.zip", passwords=(Password(lucky, "the source's passwords"),
                                            Password("s3cret-Unknown", "the post's caption")))
    assert len(record_lines(right)) == 1
    assert all("password from the post's caption" in (p.note or "") for p in right)


def test_encrypted_rar_member_is_reported_locked_not_read_as_ciphertext():
    data = F.rar4_stored({**MEMBERS, "readme.txt": b"plain"}, encrypted=True)
    ps = parts(data, "a.rar", passwords=(Password("x", "the post's caption"),))
    assert [(p.name, p.skipped) for p in ps] == [
        (f"a.rar!{name}", "encrypted RAR member, locked: 1 candidate password(s) tried "
                          "(no RAR decryption available here)")
        for name in ("patients.csv", "readme.txt")]


def test_source_passwords_and_channel_convention_are_tried(tmp_path):
    doc = telegram_file(F.seven_zip(MEMBERS, password="@darkleaks"), "new base", "a.7z")
    ps = parts(doc.content, "a.7z", passwords=document_passwords(doc))
    assert len(record_lines(ps)) == 1
    assert "the channel-name convention" in ps[0].note
    doc = telegram_file(F.seven_zip(MEMBERS, password="house-pw"), "new base", "a.7z",
                        configured=["house-pw"])
    ps = parts(doc.content, "a.7z", passwords=document_passwords(doc))
    assert "the source's archive_passwords" in ps[0].note


def test_candidates_keep_the_caption_first_and_deduplicate():
    got = candidates("pass: a", ["b", "a"], "chan")
    assert [p.value for p in got][:3] == ["a", "b", "@chan"]
    assert got[0] == Password("a", "the post's caption")


# --- caps --------------------------------------------------------------------------------


def test_member_cap_applies_to_7z_and_rar():
    many = {f"m{i}.csv": F.csv_bytes() for i in range(3)}
    for name, data in (("a.7z", F.seven_zip(many)), ("a.rar", F.rar4_stored(many)),
                       ("b.rar", F.rar5_stored(many))):
        ps = parts(data, name, Limits(max_archive_members=2))
        assert len(record_lines(ps)) == 2
        assert "max_archive_members=2 reached" in (ps[-1].skipped or "")


def test_zstd_bomb_is_abandoned_on_the_ratio():
    ps = parts(F.zstd(b"a" * (40 * MB)), "bomb.zst", Limits(max_ratio=100))
    assert len(ps) == 1 and "decompression bomb" in (ps[0].skipped or "")


def test_7z_bomb_is_abandoned_on_the_unpacked_cap():
    ps = parts(F.seven_zip({"big.txt": b"a" * (8 * MB)}), "big.7z",
               Limits(max_unpacked_bytes=MB, max_ratio=1e9))
    assert any("unpacked-size cap" in (p.skipped or p.note or "") for p in ps), ps


def test_depth_cap_applies_to_new_kinds():
    nested = F.rar4_stored({"in.7z": F.seven_zip(MEMBERS)})
    ps = parts(nested, "a.rar", Limits(max_archive_depth=1))
    assert ps[0].skipped and "nested deeper than max_archive_depth=1" in ps[0].skipped


def test_truncated_and_broken_containers_give_reasons():
    for name, data in (("a.7z", F.seven_zip(MEMBERS)[:40]), ("a.rar", F.rar4_stored(MEMBERS)[:30]),
                       ("a.xlsx", F.xlsx()[:200]), ("a.pdf", F.pdf()[:60])):
        ps = parts(data, name)
        assert ps and all(p.skipped for p in ps), (name, ps)


def test_mysqldump_xml_rows_and_null_fields():
    dump = (b'<?xml version="1.0"?>\n<mysqldump xmlns:xsi="http://www.w3.org/2001/XMLSchema-'
            b'instance">\n<database name="labo">\n\t<table_structure name="patients">\n'
            b'\t\t<field Field="nom" Type="varchar(64)" Null="YES" Key="" Extra="" />\n'
            b'\t</table_structure>\n\t<table_data name="patients">\n\t<row>\n'
            b'\t\t<field name="nom">Dupont</field>\n\t\t<field name="prenom">Jean-Pierre</field>\n'
            b'\t\t<field name="tel" xsi:nil="true" />\n'
            b'\t\t<field name="naissance">1985-03-12</field>\n\t</row>\n\t</table_data>\n'
            b'</database>\n</mysqldump>\n')
    (p,) = parts(dump, "labo.xml")
    assert b"Dupont\tJean-Pierre\t\t1985-03-12\n" in p.data
    assert p.note == "XML records"


def test_other_xml_is_scanned_as_written():
    feed = b'<?xml version="1.0"?><rss><channel><item><title>a</title></item></channel></rss>'
    (p,) = parts(feed, "feed.xml")
    assert p.data == feed and p.note is None
