from __future__ import annotations

import json
import os
import time

import pytest

from monitor.collectors import build_collector
from monitor.collectors.files import FilesCollector
from monitor.collectors.registry import parse_source
from monitor.errors import CollectorError, ConfigError
from tests.support.collect import drain, run


def docs_of(batches):
    return [d for b in batches for d in b.documents]


def age(path, seconds=60):
    t = time.time() - seconds
    os.utime(path, (t, t))


def make(config, folder, **extra):
    return build_collector({"name": "drop", "type": "files", "path": str(folder), **extra},
                           config, folder.parent)


def test_each_file_is_recorded_once_by_content(config, tmp_path):
    drop = tmp_path / "drop"
    (drop / "sub").mkdir(parents=True)
    (drop / "a.csv").write_text("id,email\n1,x@dedalus-biologie.fr\n")
    (drop / "sub" / "b.sql").write_text("INSERT INTO patients VALUES (1);")
    (drop / ".partial").write_text("hidden files are ignored")
    for p in drop.rglob("*"):
        age(p)
    batches = run(drain(make(config, drop)))
    docs = docs_of(batches)
    assert sorted(d.filename for d in docs) == ["a.csv", "b.sql"]
    a = next(d for d in docs if d.filename == "a.csv")
    assert a.content == b"id,email\n1,x@dedalus-biologie.fr\n"
    assert a.external_id.startswith("a.csv@") and a.platform == "files"
    cursor = batches[-1].cursor

    # restart: same files, a renamed copy of a.csv, and one new file
    (drop / "copy-of-a.csv").write_bytes((drop / "a.csv").read_bytes())
    (drop / "c.txt").write_text("new")
    age(drop / "copy-of-a.csv")
    age(drop / "c.txt")
    again = docs_of(run(drain(make(config, drop), cursor)))
    assert [d.filename for d in again] == ["c.txt"]


def test_files_still_being_written_wait_for_the_next_run(config, tmp_path):
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "copying.csv").write_text("half")  # mtime = now
    src = parse_source({"name": "drop", "type": "files", "path": str(drop), "settle": "30s"})
    first = run(drain(FilesCollector(src, config)))
    assert docs_of(first) == []
    later = FilesCollector(src, config, clock=lambda: time.time() + 60)
    assert [d.filename for d in docs_of(run(drain(later, first[-1].cursor)))] == ["copying.csv"]


def test_big_file_is_cut_at_the_cap_but_hashed_whole(config, tmp_path):
    drop = tmp_path / "drop"
    drop.mkdir()
    big = drop / "big.txt"
    big.write_bytes(b"x" * 3_000_000)
    age(big)
    docs = docs_of(run(drain(make(config, drop, max_item_mb=1))))
    assert len(docs[0].content) == 1024 * 1024 and docs[0].metadata["truncated"] is True
    assert docs[0].metadata["bytes"] == 3_000_000
    cursor = json.loads(run(drain(make(config, drop, max_item_mb=1)))[-1].cursor)
    assert cursor["hashes"] == [docs[0].metadata["sha256_full"]]


def test_missing_folder_and_missing_key(config, tmp_path):
    with pytest.raises(CollectorError, match=r"source 'drop': drop folder .* does not exist"):
        run(drain(make(config, tmp_path / "nope")))
    with pytest.raises(ConfigError, match="source 'drop': missing key 'path'"):
        build_collector({"name": "drop", "type": "files"}, config, tmp_path)


def test_unchanged_files_are_not_read_again_and_gone_ones_leave_the_cache(config, tmp_path,
                                                                           monkeypatch):
    import monitor.collectors.files as files_mod

    drop = tmp_path / "drop"
    drop.mkdir()
    for name in ("a.txt", "b.txt"):
        (drop / name).write_text(f"content of {name}")
        age(drop / name)
    hashed: list[str] = []
    real_hash = files_mod.hash_file

    def counting_hash(path, cap):
        hashed.append(path.name)
        return real_hash(path, cap)

    monkeypatch.setattr(files_mod, "hash_file", counting_hash)
    cursor = run(drain(make(config, drop)))[-1].cursor
    assert sorted(hashed) == ["a.txt", "b.txt"]

    hashed.clear()
    assert run(drain(make(config, drop), cursor)) == []  # nothing new, nothing re-read
    assert hashed == []

    (drop / "a.txt").write_text("content of a.txt, edited")  # changed: read again, reported
    age(drop / "a.txt", 30)
    (drop / "b.txt").unlink()
    batches = run(drain(make(config, drop), cursor))
    assert hashed == ["a.txt"]
    assert [d.filename for d in docs_of(batches)] == ["a.txt"]
    assert list(json.loads(batches[-1].cursor)["stats"]) == ["a.txt"]
