"""Write a file beside its target and swap it in atomically, so a reader sees the old file
or the new one, never half of either.

Why `os.replace` over the old file, and not writing into it: a DuckDB reader that has the
published file open keeps the inode it opened (its view stays consistent until it
reconnects), and a process killed mid-publish leaves only a temporary file behind; the
published file is untouched until the rename, which POSIX makes atomic within a folder.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from pipelines.redaction import get_logger

logger = get_logger("apptsync.publish")

TEMPORARY_SUFFIX = ".tmp"
WAL_SUFFIX = ".wal"


def temporary_path(target: Path) -> Path:
    """A hidden file in the target's folder: the rename must not cross a file system."""
    return target.with_name(f".{target.name}.{os.getpid()}{TEMPORARY_SUFFIX}")


def remove_leftovers(target: Path) -> list[Path]:
    """Delete the temporary files (and their DuckDB WALs) of publishes that were killed.
    Safe while the caller holds the working warehouse: no other publish of it can run."""
    removed = []
    for path in target.parent.glob(f".{target.name}.*{TEMPORARY_SUFFIX}*"):
        path.unlink(missing_ok=True)
        removed.append(path)
    if removed:
        logger.warning("removed %d file(s) of an interrupted publish", len(removed))
    return removed


def copy_file(source: Path, destination: Path) -> None:
    """Byte copy (the kernel's `sendfile` on Linux: no pass through Python)."""
    shutil.copyfile(source, destination)


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_folder(folder: Path) -> None:
    """Make a rename durable: the directory entry lives in the folder's own blocks."""
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def swap_in(temporary: Path, target: Path) -> None:
    """Flush the finished temporary file, rename it over the target, flush the folder.

    A WAL beside the target belongs to a reader that wrote into an older copy; DuckDB would
    refuse to open the new file with it ("WAL does not match database file"), so it goes."""
    fsync_file(temporary)
    os.replace(temporary, target)
    fsync_folder(target.parent)
    stray_wal = target.with_name(target.name + WAL_SUFFIX)
    if stray_wal.exists():
        logger.warning("%s: removed the WAL a reader wrote into an older copy", stray_wal)
        stray_wal.unlink(missing_ok=True)
