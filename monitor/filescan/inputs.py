"""What `leakmon scan` reads: the inputs its paths name, walked and read a slice at a time.

A path is a file, a folder (walked recursively, in sorted order) or `-` for stdin. The walk
of a folder of 30,000 messages must not cost more than their scan: one C call per folder
(`list_folder`), one C call to read a slice of files (`read_files`), no pathlib per file.
What the walk meets besides inputs (an unreadable path, a link out of the folder) goes to
the caller's `on_error` and `on_warning`, as it is met.
"""

from __future__ import annotations

import os
import re
import stat
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from monitor.matching.extract import MB, printable
from monitor.matching.folders import (
    LISTED_DIR,
    LISTED_ERROR,
    LISTED_FILE,
    LISTED_LINKED_FILE,
    list_folder,
    read_files,
)

if TYPE_CHECKING:
    from monitor.matching.folders import PrelistedFolders

Say = Callable[[str], None]  # one message for the user, e.g. a line on stderr

# Inputs per slice (a worker's task): small enough to balance, large enough to amortize the
# IPC. 128 messages of 3 KB are ~4 ms of a worker's time; 64 cost a 2-core scan of 31,646 of
# them ~7 % more wall time in the parent's and the workers' per-task work (bench.small_bench).
SLICE_FILES = 128
SLICE_BYTES = 8 * MB  # ... and fewer when they are big, so the progress bar keeps moving
SLICE_NAMES = 16 * 1024  # ... and when their paths are long: a task stays well within a pipe
_READ_CHUNK = 4 * MB
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)


@dataclass(slots=True)
class Input:
    """One document to scan: a file path, or stdin when `path` is None."""

    label: str
    path: str | None
    size: int


def expand(paths: list[str], on_error: Say, on_warning: Say,
           prelisted: PrelistedFolders | None = None) -> Iterator[Input]:
    """Files in the order given; folders walked recursively in sorted order (their listings
    taken from `prelisted` when it has them); `-` is stdin."""
    for raw in paths:
        if raw == "-":
            yield Input("-", None, 0)
            continue
        try:
            st = os.stat(raw)
        except OSError as e:
            on_error(f"cannot read {raw}: {e.strerror or e}")
            continue
        if stat.S_ISDIR(st.st_mode):
            yield from walk_folder(raw, on_error, on_warning, prelisted)
        elif stat.S_ISREG(st.st_mode):
            yield Input(raw, raw, st.st_size)
        else:
            on_error(f"cannot scan {raw}: not a regular file or folder")


def walk_folder(root: str, on_error: Say, on_warning: Say,
                prelisted: PrelistedFolders | None = None) -> Iterator[Input]:
    """Every regular file under `root`: a folder's files (sorted by name) first, then its
    subfolders in sorted order, as `os.walk` would give them. One C call per folder
    (`list_folder`: its entries listed, classified, stat'ed and sorted as `os.scandir` and
    its DirEntry would give them) and runs of plain files made inputs by `map`: a folder of
    30,000 messages must not cost more to list than to scan.

    Symlinked folders are not followed: a link loop must not make the scan endless. Linked
    files are read only when they stay inside the folder given (no /etc/shadow by a link)."""
    not_a_file = re.compile(b"[^%c]" % LISTED_FILE).finditer
    top = Path(root).resolve()
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            listed = prelisted.take(folder) if prelisted is not None and folder is root else None
            paths, codes, values = listed or list_folder(folder)
        except OSError as e:
            on_error(f"cannot read {e.filename}: {e.strerror or e}")
            continue
        subdirs = []
        done = 0  # the entries before this one are yielded or set aside
        for i in [*(m.start() for m in not_a_file(codes)), len(paths)]:
            if done < i:  # a run of plain files
                run = paths[done:i]
                yield from map(Input, run, run, values[done:i])
            done = i + 1
            if i == len(paths):
                break
            code, path = codes[i], paths[i]
            if code == LISTED_DIR:
                subdirs.append(path)
            elif code == LISTED_LINKED_FILE:
                try:
                    inside = Path(path).resolve().is_relative_to(top)
                except OSError as e:
                    on_error(f"cannot read {path}: {e.strerror or e}")
                    continue
                if inside:
                    yield Input(path, path, values[i])
                else:
                    on_warning(f"skipped {printable(path)}: a link to a file outside "
                               f"{printable(root)}")
            elif code == LISTED_ERROR:
                on_error(f"cannot read {path}: {os.strerror(values[i])}")
            # else sockets, fifos, dangling links, links to folders
        stack.extend(reversed(subdirs))


def slices(inputs: Iterable[Input]) -> Iterator[list[Input]]:
    """Consecutive runs of inputs of at most SLICE_FILES files and about SLICE_BYTES
    bytes (a single bigger file is a slice of its own), taken as the inputs come."""
    run: list[Input] = []
    size = names = 0
    for item in inputs:
        run.append(item)
        size += item.size
        names += len(item.label)
        if len(run) >= SLICE_FILES or size >= SLICE_BYTES or names >= SLICE_NAMES:
            yield run
            run, size, names = [], 0, 0
    if run:
        yield run


def pack(items: list[Input]) -> tuple[str, list[int]]:
    """A slice of files as a worker is sent it: their paths joined by NUL (which no path
    holds) and their sizes; pickling one dataclass per file cost more than scanning it."""
    return "\0".join([i.path for i in items if i.path is not None]), [i.size for i in items]


def unpack(packed: tuple[str, list[int]]) -> list[Input]:
    """The slice `pack` made (files only: stdin is scanned serially)."""
    paths, sizes = packed
    return [Input(p, p, n) for p, n in zip(paths.split("\0"), sizes, strict=True)]


def read_slice(items: Sequence[Input], cap: int) -> list[tuple[bytes, int, bool] | str]:
    """`read_input` of each input (its data, size and whether it was cut), or the error line
    that stopped it. The files are read by one C call for the slice (open, read, close each);
    only a file that turns out bigger than the walk saw, or than the cap, is read again
    here, by `read_input`."""
    paths = [i.path for i in items if i.path is not None]
    sizes = [i.size for i in items if i.path is not None]
    raw = iter(read_files(os.fsencode("\0".join(paths)), sizes, cap) if paths else ())
    out: list[tuple[bytes, int, bool] | str] = []
    for item in items:
        got = next(raw) if item.path is not None else None
        if isinstance(got, int):
            out.append(f"cannot read {item.label}: {os.strerror(got)}")
        elif got is not None and len(got) <= item.size and len(got) <= cap:
            out.append((got, len(got), False))
        else:  # stdin, or a file that grew or is bigger than the cap
            try:
                out.append(read_input(item, cap))
            except OSError as e:
                out.append(f"cannot read {item.label}: {e.strerror or e}")
    return out


def read_input(item: Input, cap: int) -> tuple[bytes, int, bool]:
    """At most `cap` bytes of the input, its size (files: the full size) and whether there
    was more than was read. A file is opened once and read with one `read` call of the
    size the walk saw (+1 to notice growth), no buffered-reader layer and no fstat."""
    if item.path is None:
        stream = sys.stdin.buffer
        chunks, got = [], 0
        while got < cap:
            chunk = stream.read(min(_READ_CHUNK, cap - got))
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        data = b"".join(chunks)
        # Beyond the cap we only note that there was more (stdin may never end).
        return data, len(data), got >= cap and bool(stream.read(1))
    fd = os.open(item.path, _OPEN_FLAGS)
    try:
        want = min(cap, item.size) + 1
        chunks, got = [], 0
        while got < want:
            chunk = os.read(fd, want - got)
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
            if got == item.size < want:
                break  # a short read of what the walk announced: the end, no read() for EOF
            if got == want and want <= cap:  # the file grew: read on up to the cap
                want = cap + 1
        # the full size only matters (and costs an fstat) when there is more than we read
        size = os.fstat(fd).st_size if got > cap else got
    finally:
        os.close(fd)
    data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    more = len(data) > cap
    if more:
        data = data[:cap]
    return data, max(size, len(data) + more), more
