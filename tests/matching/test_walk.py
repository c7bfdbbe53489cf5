"""The walk of `leakmon scan FOLDER` (filescan/inputs.py, `walk_folder`, over the C `list_folder`)
against the walk it replaced, kept here as the oracle: os.scandir, sorted by `entry.name`,
DirEntry's is_dir / is_file / is_symlink / stat. Seeded random trees of nested folders, odd
and non-UTF-8 names, links of every kind, fifos and sockets must give the same inputs (path,
label, size) in the same order, the same error count and the same stderr, byte for byte."""

from __future__ import annotations

import errno
import os
import random
import shutil
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.cli import scan
from monitor.filescan.inputs import Input, walk_folder
from monitor.matching import _native
from monitor.matching.extract import printable
from monitor.matching.folders import (
    LISTED_DIR,
    LISTED_ERROR,
    LISTED_FILE,
    LISTED_LINKED_FILE,
    LISTED_OTHER,
    PrelistedFolders,
    list_folder,
)


def permissions_apply(base: Path) -> bool:
    """Whether a folder of mode 0 is unreadable here: not for root (os.geteuid() == 0)
    unless it runs without CAP_DAC_OVERRIDE (e.g. setpriv --bounding-set=-all)."""
    probe = base / "probe"
    probe.mkdir()
    probe.chmod(0)
    try:
        os.listdir(probe)
    except PermissionError:
        return True
    finally:
        probe.chmod(0o700)
        probe.rmdir()
    return False


class Count:
    """The errors a walk met (what the old walk counted in its totals)."""

    errors = 0


def new_walk(root: str, totals: Count, prelisted: PrelistedFolders | None = None):
    """`walk_folder` telling its errors and warnings as `leakmon scan` does, and counting
    the errors in `totals`, as the oracle does."""
    def on_error(message: str) -> None:
        totals.errors += 1
        scan._error(message)

    return walk_folder(root, on_error, scan._warning, prelisted)


def oracle_walk(root: str, totals: Count):
    """The walk before list_folder (leakmon 6caf399, cli/scan.py `_walk_dir`), verbatim but
    for the names of its input and totals classes."""
    top = Path(root).resolve()
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as e:
            totals.errors += 1
            scan._error(f"cannot read {e.filename}: {e.strerror or e}")
            continue
        subdirs = []
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    subdirs.append(entry.path)
                    continue
                if not entry.is_file():
                    continue  # sockets, fifos, dangling links, links to folders
                if entry.is_symlink() and not Path(entry.path).resolve().is_relative_to(top):
                    scan._stderr_line(f"leakmon: warning: skipped {printable(entry.path)}: a "
                                      f"link to a file outside {printable(root)}")
                    continue
                size = entry.stat().st_size
            except OSError as e:
                totals.errors += 1
                scan._error(f"cannot read {entry.path}: {e.strerror or e}")
                continue
            yield Input(entry.path, entry.path, size)
        stack.extend(reversed(subdirs))


def walk_with(walker, root: str, capsys) -> tuple[list[tuple[str, str | None, int]], int, str]:
    capsys.readouterr()
    totals = Count()
    items = [(i.label, i.path, i.size) for i in walker(root, totals)]
    captured = capsys.readouterr()
    assert captured.out == ""
    return items, totals.errors, captured.err


def assert_same_walk(root: str, capsys) -> tuple[list[tuple[str, str | None, int]], int, str]:
    want = walk_with(oracle_walk, root, capsys)
    got = walk_with(new_walk, root, capsys)
    assert got[0] == want[0]  # the inputs, in order
    assert got[1:] == want[1:]  # the errors counted, the stderr lines
    # the folder listed in a thread first (`leakmon scan` while it loads its engine)
    prelisted = PrelistedFolders([root])
    assert walk_with(lambda r, t: new_walk(r, t, prelisted), root, capsys) == got
    assert prelisted.take(root) is None  # taken once
    return got


# --- trees ----------------------------------------------------------------------------------

ASCII_NAMES = ["a", "B", "a.txt", "a b", "-x", ".hidden", "_", "Z9", "~t", "a.b.c", "a-", "a_"]
# U+D000 sorts before an undecodable byte's U+DC80-U+DCFF as a str, after it as bytes (0xED);
# U+E000 and U+10000 after both
TEXT_NAMES = ["é", "e\u0301", "日本", "😀", "\ud000", "\ue000", "\uffff", "ÿ", "Ω.txt", "\U00010000"]
RAW_NAMES = [b"\x80", b"\xff", b"a\xe9", b"\xed\xa0\x80", b"\xc3", b"\xe9t\xe9", b"\xdc"]


def raw_names_allowed(base: Path) -> bool:
    try:
        fd = os.open(os.path.join(os.fsencode(base), b"\xff-probe"), os.O_CREAT | os.O_WRONLY)
    except OSError:  # a file system that wants UTF-8 names
        return False
    os.close(fd)
    os.unlink(os.path.join(os.fsencode(base), b"\xff-probe"))
    return True


class Tree:
    """A seeded random tree under `base`/root, with `base`/outside for links out of it."""

    def __init__(self, base: Path, seed: int) -> None:
        self.rng = random.Random(seed)
        self.base = os.fsencode(base)
        self.root = os.path.join(self.base, b"root")
        self.outside = os.path.join(self.base, b"outside")
        self.raw = raw_names_allowed(base)
        self.files: list[bytes] = []
        self.folders: list[bytes] = []
        self.special: list[bytes] = []  # fifos and sockets
        os.mkdir(self.root)
        os.mkdir(self.outside)
        for i in range(3):
            self.file(os.path.join(self.outside, b"out%d" % i))
        os.mkdir(os.path.join(self.outside, b"dir"))
        self.folder(self.root, depth=0)
        for _ in range(self.rng.randint(5, 25)):
            self.link(self.rng.choice(self.folders))

    def name(self, folder: bytes) -> bytes:
        while True:
            pool = self.rng.random()
            if pool < 0.45:
                name = os.fsencode(self.rng.choice(ASCII_NAMES))
            elif pool < 0.8 or not self.raw:
                name = os.fsencode(self.rng.choice(TEXT_NAMES))
            else:
                name = self.rng.choice(RAW_NAMES)
            if self.rng.random() < 0.5:  # a prefix or suffix: names that share their start
                extra = os.fsencode(self.rng.choice(ASCII_NAMES + TEXT_NAMES))
                name = name + extra if self.rng.random() < 0.5 else extra + name
            if not os.path.lexists(os.path.join(folder, name)):
                return name

    def file(self, path: bytes) -> None:
        with open(path, "wb") as f:
            f.write(os.urandom(self.rng.choice([0, 1, 7, 100, 4096, 5000])))
        self.files.append(path)

    def folder(self, path: bytes, depth: int) -> None:
        self.folders.append(path)
        for _ in range(self.rng.randint(4 if depth == 0 else 0, 9 if depth < 3 else 3)):
            child = os.path.join(path, self.name(path))
            kind = self.rng.random()
            if kind < 0.55:
                self.file(child)
            elif kind < 0.8 and depth < 4:
                os.mkdir(child)
                self.folder(child, depth + 1)
            elif kind < 0.9:
                os.mkfifo(child)
                self.special.append(child)
            elif len(os.path.basename(child)) < 60:
                self.socket(path, os.path.basename(child))

    def socket(self, folder: bytes, name: bytes) -> None:
        here = os.getcwd()
        os.chdir(folder)  # bind() takes at most 108 bytes: a name relative to its folder
        try:
            s = socket.socket(socket.AF_UNIX)
            try:
                s.bind(name)
                self.special.append(os.path.join(folder, name))
            except OSError:
                pass
            finally:
                s.close()
        finally:
            os.chdir(here)

    def link(self, folder: bytes) -> None:
        path = os.path.join(folder, self.name(folder))
        rng = self.rng
        kind = rng.randrange(12)
        if kind == 0 and self.files:  # a file inside, absolute
            target = rng.choice(self.files)
        elif kind == 1 and self.files:  # a file inside, relative
            target = os.path.relpath(rng.choice(self.files), folder)
        elif kind == 2:  # a file outside
            target = os.path.join(self.outside, b"out%d" % rng.randrange(3))
        elif kind == 3:  # a folder inside (never followed)
            target = rng.choice(self.folders)
        elif kind == 4:  # a folder outside
            target = os.path.join(self.outside, b"dir")
        elif kind == 5:  # dangling
            target = os.path.join(folder, b"no such file")
        elif kind == 6:  # a loop to itself
            target = os.path.basename(path)
        elif kind == 7:  # a loop of two
            other = os.path.join(folder, self.name(folder) + b".loop")
            os.symlink(path, other)
            target = other
        elif kind == 8 and self.files:  # through a file: ENOTDIR
            target = os.path.join(rng.choice(self.files), b"x")
        elif kind == 9 and self.special:  # a fifo or a socket
            target = rng.choice(self.special)
        elif kind == 10:  # a link to a link to a file (inside or outside)
            first = os.path.join(folder, self.name(folder) + b".1")
            os.symlink(rng.choice([*self.files, os.path.join(self.outside, b"out0")]), first)
            target = first
        else:  # a link up to the folder given, or above it
            target = rng.choice([self.root, self.base, b".."])
        os.symlink(target, path)


@pytest.mark.parametrize("seed", range(16))
def test_random_trees_walk_as_before(tmp_path, capsys, seed):
    tree = Tree(tmp_path, seed)
    root = os.fsdecode(tree.root)
    items, _, _ = assert_same_walk(root, capsys)
    assert len(items) >= len([f for f in tree.files if f.startswith(tree.root + b"/")]) > 0
    # given with a trailing '/', and relative to the working directory: the same labels as
    # before, as the walk makes them (no '//', no absolute path)
    assert_same_walk(root + "/", capsys)
    here = os.getcwd()
    os.chdir(tmp_path)
    try:
        assert_same_walk("root", capsys)
        assert_same_walk("./root/", capsys)
    finally:
        os.chdir(here)


def test_random_trees_exercise_every_case(tmp_path, capsys):
    """The trees above meet every outcome of the walk, non-ASCII orders included (else the
    comparison could pass by never meeting a case)."""
    seen: set[int] = set()
    warnings = errors = reordered = 0
    for seed in range(16):
        base = tmp_path / str(seed)
        base.mkdir()
        tree = Tree(base, seed)
        for folder in tree.folders:
            paths, codes, _, ascii_only = _native.list_folder(os.fsdecode(folder))
            seen.update(codes)
            reordered += paths != sorted(paths)
            assert ascii_only == all(os.fsencode(os.path.basename(p)).isascii() for p in paths)
        _, n, err = walk_with(new_walk, os.fsdecode(tree.root), capsys)
        errors += n
        warnings += err.count("a link to a file outside")
    assert seen == {LISTED_FILE, LISTED_DIR, LISTED_LINKED_FILE, LISTED_OTHER, LISTED_ERROR}
    assert warnings and errors and reordered


@pytest.mark.parametrize("seed", range(16))
def test_a_file_system_without_d_type_lists_the_same(tmp_path, seed):
    """ignore_d_type: every entry lstat'ed (DT_UNKNOWN, as on some file systems): the same
    codes and values as with d_type (a tree without unsearchable folders)."""
    tree = Tree(tmp_path, seed)
    for folder in tree.folders:
        assert (_native.list_folder(os.fsdecode(folder), True)
                == _native.list_folder(os.fsdecode(folder)))


def test_names_sorted_as_str_not_as_bytes(tmp_path, capsys):
    if not raw_names_allowed(tmp_path):
        pytest.skip("the file system takes UTF-8 names only")
    base = os.fsencode(tmp_path)
    # as bytes: 0x80 < 0xED (U+D000) < 0xEE (U+E000); as str: U+D000 < U+DC80 < U+E000
    names = [b"\x80", "\ud000".encode(), "\ue000".encode(), b"a", b"\xed\xa0\x80"]
    for name in names:
        with open(os.path.join(base, name), "wb") as f:
            f.write(name)
    paths, codes, values = list_folder(str(tmp_path))
    want = sorted(os.scandir(tmp_path), key=lambda e: e.name)
    assert paths == [e.path for e in want]
    assert [os.path.basename(p) for p in paths] == ["a", "\ud000", "\udc80", "\udced\udca0\udc80",
                                                    "\ue000"]
    assert codes == bytes([LISTED_FILE] * 5)
    assert values == [len(os.fsencode(os.path.basename(p))) for p in paths]
    raw_paths, _, _, ascii_only = _native.list_folder(str(tmp_path))
    assert not ascii_only and raw_paths != paths  # the C order is the bytes'
    assert_same_walk(str(tmp_path), capsys)


# --- list_folder itself ---------------------------------------------------------------------


def test_list_folder_codes_and_values(tmp_path):
    (tmp_path / "b.txt").write_bytes(b"12345")
    (tmp_path / "a").mkdir()
    (tmp_path / "empty").write_bytes(b"")
    (tmp_path / "link").symlink_to(tmp_path / "b.txt")
    (tmp_path / "link-dir").symlink_to(tmp_path / "a")
    (tmp_path / "dangling").symlink_to(tmp_path / "nothing")
    (tmp_path / "loop").symlink_to("loop")
    (tmp_path / "through").symlink_to(tmp_path / "b.txt" / "x")
    os.mkfifo(tmp_path / "fifo")
    paths, codes, values = list_folder(str(tmp_path))
    names = [os.path.basename(p) for p in paths]
    assert names == sorted(names) == ["a", "b.txt", "dangling", "empty", "fifo", "link",
                                      "link-dir", "loop", "through"]
    assert paths == [os.path.join(str(tmp_path), n) for n in names]
    got = {n: (c, v) for n, c, v in zip(names, codes, values, strict=True)}
    assert got == {
        "a": (LISTED_DIR, 0),
        "b.txt": (LISTED_FILE, 5),
        "dangling": (LISTED_OTHER, 0),
        "empty": (LISTED_FILE, 0),
        "fifo": (LISTED_OTHER, 0),
        "link": (LISTED_LINKED_FILE, 5),
        "link-dir": (LISTED_OTHER, 0),
        "loop": (LISTED_ERROR, errno.ELOOP),
        "through": (LISTED_ERROR, errno.ENOTDIR),
    }
    assert _native.list_folder(str(tmp_path), True)[:3] == (paths, codes, values)
    # a trailing '/' is not doubled (os.DirEntry.path)
    assert list_folder(str(tmp_path) + "/")[0] == paths
    assert list_folder(str(tmp_path / "a")) == ([], b"", [])


def test_prelisted_folders_leave_what_they_cannot_list_to_the_caller(tmp_path):
    (tmp_path / "a.txt").write_text("a")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.txt").write_text("b")
    folder, file, missing = str(tmp_path), str(tmp_path / "a.txt"), str(tmp_path / "nope")
    prelisted = PrelistedFolders([file, missing, folder, folder])
    assert prelisted.take(folder) == list_folder(folder)
    assert prelisted.take(file) is None and prelisted.take(missing) is None
    assert prelisted.take(str(tmp_path / "sub")) is None  # only the folders it was given
    assert not prelisted._thread.is_alive()


def test_list_folder_errors_name_the_folder(tmp_path):
    (tmp_path / "file").write_text("x")
    for path, cls, code in [(tmp_path / "missing", FileNotFoundError, errno.ENOENT),
                            (tmp_path / "file", NotADirectoryError, errno.ENOTDIR),
                            (tmp_path / "file" / "x", NotADirectoryError, errno.ENOTDIR)]:
        with pytest.raises(cls) as caught:
            list_folder(str(path))
        assert caught.value.errno == code
        assert caught.value.filename == str(path)
        assert caught.value.strerror == os.strerror(code)
        assert str(path) in str(caught.value)
    with pytest.raises(ValueError, match="null"):
        list_folder(str(tmp_path) + "\0x")
    with pytest.raises(TypeError):
        _native.list_folder(os.fsencode(tmp_path))  # type: ignore[arg-type]


def test_paths_too_long_for_a_path_based_stat(tmp_path, capsys):
    """os.DirEntry stats by path: ENAMETOOLONG from 4096 bytes (PATH_MAX), where list_folder's
    stat relative to the folder would succeed: the same errors, at the same length."""
    top = os.fsencode(tmp_path / "top")
    os.mkdir(top)
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    length = len(top)
    try:
        while length < 3900:
            part = b"d" * min(200, 3900 - length)
            os.mkdir(part, dir_fd=fd)
            fd, old = os.open(part, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd), fd
            os.close(old)
            length += 1 + len(part)
        for total in (4094, 4095, 4096, 4097, 4100):
            name = b"f%d-" % total
            name += b"x" * (total - length - 1 - len(name))
            os.close(os.open(name, os.O_CREAT | os.O_WRONLY, dir_fd=fd))
            os.symlink(name, name[:-2] + b"ln", dir_fd=fd)
        os.mkdir(b"sub-" + b"y" * 250, dir_fd=fd)  # its path is too long to list
        os.close(os.open(os.path.join(b"sub-" + b"y" * 250, b"f"), os.O_CREAT | os.O_WRONLY,
                         dir_fd=fd))
    finally:
        os.close(fd)
    items, errors, err = assert_same_walk(os.fsdecode(top), capsys)
    assert errors >= 5 and "File name too long" in err
    assert len(items) >= 4


def test_a_link_to_the_folder_given(tmp_path, capsys):
    """The folder given through a link: the walk lists the folder it leads to, and links to
    its files are inside it (top is resolved)."""
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "f").write_text("x")
    (tmp_path / "real" / "to-f").symlink_to(tmp_path / "real" / "f")
    (tmp_path / "real" / "via-link").symlink_to(tmp_path / "alias" / "f")
    (tmp_path / "alias").symlink_to(tmp_path / "real")
    items, errors, err = assert_same_walk(str(tmp_path / "alias"), capsys)
    assert [i[0] for i in items] == [str(tmp_path / "alias" / n) for n in ("f", "to-f",
                                                                           "via-link")]
    assert errors == 0 and err == ""


def test_unreadable_and_unsearchable_folders(tmp_path, capsys):
    if not permissions_apply(tmp_path):
        # root (CI) reads and searches every folder: run this test again in a child that
        # has dropped every capability, where modes apply to root as to anyone
        assert os.environ.get("LEAKMON_TEST_NO_CAPS") is None, "setpriv kept the capabilities"
        setpriv = shutil.which("setpriv")
        assert setpriv, "setpriv (util-linux) is needed to run this test as root"
        test = f"{Path(__file__).resolve()}::test_unreadable_and_unsearchable_folders"
        child = subprocess.run(
            [setpriv, "--inh-caps=-all", "--bounding-set=-all", sys.executable, "-m", "pytest",
             "-q", "-p", "no:cacheprovider", "--basetemp", str(tmp_path / "child"), test],
            env=dict(os.environ, LEAKMON_TEST_NO_CAPS="1"), capture_output=True, text=True,
            timeout=120)
        assert child.returncode == 0 and "1 passed" in child.stdout, child.stdout + child.stderr
        return
    root = tmp_path / "root"
    for name in ("closed", "listable", "searchable"):
        (root / name).mkdir(parents=True)
        (root / name / "f").write_text("x")
        (root / name / "sub").mkdir()
        (root / name / "link").symlink_to(root / name / "f")
    (root / "closed").chmod(0)
    (root / "listable").chmod(stat.S_IRUSR)  # names without their stat
    (root / "searchable").chmod(stat.S_IXUSR)  # stat without the names
    try:
        _, errors, err = assert_same_walk(str(root), capsys)
        assert errors >= 4 and "Permission denied" in err
        with pytest.raises(PermissionError) as caught:
            list_folder(str(root / "closed"))
        assert caught.value.filename == str(root / "closed")
        paths, codes, values = list_folder(str(root / "listable"))
        assert [os.path.basename(p) for p in paths] == ["f", "link", "sub"]
        assert codes == bytes([LISTED_ERROR, LISTED_ERROR, LISTED_DIR])
        assert values == [errno.EACCES, errno.EACCES, 0]
    finally:
        for name in ("closed", "listable", "searchable"):
            (root / name).chmod(0o700)


def test_the_walk_is_lazy_and_in_order_with_its_warnings(tmp_path, capsys):
    """A warning is written when the walk reaches its entry, between the inputs before and
    after it (not when the folder is listed), as before."""
    (tmp_path / "outside.txt").write_text("x")
    root = tmp_path / "root"
    root.mkdir()
    (root / "a").write_text("a")
    (root / "b").symlink_to(tmp_path / "outside.txt")
    (root / "c").write_text("c")
    capsys.readouterr()
    walk = new_walk(str(root), Count())
    assert next(walk).label == str(root / "a")
    assert capsys.readouterr().err == ""
    assert next(walk).label == str(root / "c")
    assert "skipped" in capsys.readouterr().err
    assert list(walk) == []
