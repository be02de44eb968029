"""Owner-only files: everything cordwatch writes that can hold patient data is 0600, in 0700 folders.

Letters, the SQLite database (and its -wal and -shm files), reports, the demo cohort and
Prefect's own database all name patients or can. The command line sets ``umask 077`` for
itself and every process it starts (the Prefect server, flow runs); the writers below also
set the mode explicitly, so a library caller or a test with the usual 022 gets the same.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

FILE_MODE = 0o600
FOLDER_MODE = 0o700
UMASK = 0o077


def restrict_umask() -> int:
    """Make every file this process and its children create owner-only; the previous umask."""
    return os.umask(UMASK)


def private_folder(folder: Path) -> Path:
    """Create ``folder`` (and missing parents) owner-only; existing folders are left as they are
    (an operator's folder is theirs; :func:`tighten` is for cordwatch's own data folders)."""
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    folder.mkdir(parents=True, exist_ok=True, mode=FOLDER_MODE)
    for created in missing:
        created.chmod(FOLDER_MODE)  # mkdir applies the mode to the leaf only, minus the umask
    return folder


def write_private(path: Path, content: bytes | str) -> Path:
    """Write ``path`` as an owner-only file (an existing file is truncated and tightened)."""
    data = content.encode() if isinstance(content, str) else content
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        os.fchmod(descriptor, FILE_MODE)
        with os.fdopen(descriptor, "wb", closefd=False) as handle:
            handle.write(data)
    finally:
        os.close(descriptor)
    return path


def create_private(path: Path) -> None:
    """Create ``path`` empty and owner-only unless it exists; an existing one is tightened.

    An existing file is never opened, only chmod-ed by path: this is how a SQLite database
    is made private, and closing any descriptor of a database file drops every POSIX lock this
    process's SQLite connections hold on it. Another process then believes it holds the last
    connection, checkpoints and deletes the -wal file, and this process goes on reading and
    writing a deleted WAL: its commits vanish and it never sees anyone else's (seen under
    `cordwatch serve`, whose watchdog then paged ops about a watch that was sweeping).
    """
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        _tighten_one(path, FILE_MODE)
        return
    try:
        os.fchmod(descriptor, FILE_MODE)
    finally:
        os.close(descriptor)


def tighten(folder: Path) -> None:
    """Take group and other access away from everything under ``folder`` (symlinks untouched).

    For data folders written before files were created owner-only. Runs at every command, so
    it descends only into subfolders that were open to others (a folder cordwatch created
    owner-only holds only files it created owner-only): a letters folder of a million files
    costs one look at each pathway's folder, not at each file.
    """
    if not folder.is_dir() or folder.is_symlink():
        return
    for root, folders, files in os.walk(folder):
        here = Path(root)
        _tighten_one(here, FOLDER_MODE)
        for name in files:
            _tighten_one(here / name, FILE_MODE)
        folders[:] = [name for name in folders if _open_to_others(here / name)]


def _open_to_others(path: Path) -> bool:
    details = path.lstat()
    return not stat.S_ISLNK(details.st_mode) and bool(details.st_mode & 0o077)


def _tighten_one(path: Path, mode: int) -> None:
    details = path.lstat()
    if stat.S_ISLNK(details.st_mode) or details.st_uid != os.getuid():
        return
    current = stat.S_IMODE(details.st_mode)
    if current & 0o077:
        path.chmod(current & ~0o077 | (mode & 0o700))
