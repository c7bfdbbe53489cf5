"""The C listing of folders and reading of files under `leakmon scan`'s walk: a folder listed,
classified, stat'ed and sorted in one call (`list_folder`), a slice of files read in one call
(`read_files`), and folders listed in a thread while the engine loads (`PrelistedFolders`)."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from monitor.matching import _native


def read_files(paths: bytes, sizes: list[int], cap: int) -> list[bytes | int]:
    """At most min(cap, size) + 1 bytes of each NUL-separated path (its size as listed), or
    the errno that stopped it: a slice of `leakmon scan` inputs read by one C call."""
    return _native.read_files(paths, sizes, cap)


# What list_folder says of an entry: a regular file (its value: the size), a folder, a link
# to a regular file (the size of the file), something else (fifos, sockets, devices, links to
# folders or to nothing), or an entry that could not be looked at (the errno).
LISTED_FILE: int = _native.LISTED_FILE  # 0
LISTED_DIR: int = _native.LISTED_DIR
LISTED_LINKED_FILE: int = _native.LISTED_LINKED_FILE
LISTED_OTHER: int = _native.LISTED_OTHER
LISTED_ERROR: int = _native.LISTED_ERROR


def list_folder(folder: str) -> tuple[list[str], bytes, list[int]]:
    """The entries of `folder`, in the order of `sorted(os.scandir(folder), key=lambda e:
    e.name)`: their paths (os.DirEntry.path), their LISTED_* codes (one byte each) and
    values (a file's size, an error's errno, else 0), as os.DirEntry's is_dir(follow_symlinks
    =False), is_file(), is_symlink() and stat() would find them, listed by one C call.
    OSError (its filename: `folder`) when the folder cannot be listed."""
    return _in_str_order(_native.list_folder(folder))


def _in_str_order(listed: tuple[list[str], bytes, list[int], bool]
                  ) -> tuple[list[str], bytes, list[int]]:
    paths, codes, values, ascii_only = listed
    if not ascii_only:
        # C sorted the names' bytes; a str compares code points, and surrogateescape puts an
        # undecodable byte at U+DC80-U+DCFF, before U+E000 but after U+D000 (3 bytes from
        # 0xED): sorted again by the str (the paths share their folder, so by name)
        order = sorted(range(len(paths)), key=paths.__getitem__)
        paths = [paths[i] for i in order]
        codes = bytes([codes[i] for i in order])
        values = [values[i] for i in order]
    return paths, codes, values


class PrelistedFolders:
    """`list_folder` of some folders, started at once in a thread and taken later: the C
    listing (getdents, a stat per entry, the sort) runs without the GIL, so `leakmon scan
    FOLDER` lists a folder of 30,000 messages while it loads its engine on the other core.

    Anything that goes wrong in the thread (a path that is no folder, an unreadable one) is
    left for the caller's own `list_folder`, which meets it again and reports it as usual.
    Call `join` before forking: a forked worker must not start with a listing half made."""

    def __init__(self, folders: Sequence[str]) -> None:
        self._folders = list(dict.fromkeys(folders))
        self._listed: dict[str, tuple[list[str], bytes, list[int], bool]] = {}
        self._thread = threading.Thread(target=self._list, name="leakmon-prelist", daemon=True)
        self._thread.start()

    def _list(self) -> None:
        for folder in self._folders:  # a file or a missing path: the listing fails, no stat
            try:
                self._listed[folder] = _native.list_folder(folder)
            except Exception:  # the caller lists it again, and says why
                continue

    def join(self) -> None:
        self._thread.join()

    def take(self, folder: str) -> tuple[list[str], bytes, list[int]] | None:
        """What `list_folder(folder)` gives, listed in the thread (once: None after, and
        for a folder the thread did not list)."""
        self.join()
        listed = self._listed.pop(folder, None)
        return None if listed is None else _in_str_order(listed)
