"""Dashboard feeds: every reporting model as a file, plus `manifest.json`, swapped in whole.

`apptsync feeds DIR` writes `reporting.*` (the models `pipelines.models.discover()` finds
in `sql/reporting/`) as Parquet or CSV, one file per model, and a manifest naming each
model's file, row count, columns and types, when the feed was written and how fresh each
source is. The models are read in one read-only transaction of the published warehouse (or
the working one before the first publish), so all files show the same moment.

How the swap works, and why a symlink: `DIR` is a symbolic link to a version folder beside
it (`.DIR.v<UTC time>-<token>`). A run writes a new version folder, fsyncs every file, the
manifest and the folder, then points a new link at it and renames that link over `DIR`:
one `rename(2)`, atomic on POSIX. Renaming folders instead (old aside, new in) leaves a
moment with no `DIR` at all, and deleting the old folder right away pulls files from under a
dashboard that is still reading them. With the link, `DIR` always names a complete feed;
the previous version stays on disk until the next run (so a reader that resolved `DIR`
just before the swap finishes reading it), and older versions, and the leftovers of a run
that was killed before its swap, are removed after the next successful swap. A reader that
reads several files resolves `DIR` once (`os.path.realpath`, as `read_manifest` does) and
reads them from there, so it never mixes two versions. Runs on one `DIR` take turns (an
`flock` beside it).
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from pipelines.models import SQL_DIR, Model, discover
from pipelines.publish.freshness import has_ledger, source_freshness
from pipelines.publish.reading import open_reader, quote, reader_database, relation_exists

REPORTING_SCHEMA = "reporting"
MANIFEST = "manifest.json"
MANIFEST_VERSION = 1
FORMATS: dict[str, str] = {
    "parquet": "(format parquet, compression zstd)",
    "csv": "(format csv, header true)",
}
"""Feed format -> DuckDB `copy ... to` options; the format is also the file suffix."""


class FeedError(Exception):
    """A feed cannot be written where asked (the message says why)."""


@dataclass(frozen=True)
class FeedFile:
    """One model's file in a feed, as listed in the manifest."""

    model: str
    file: str
    rows: int
    columns: list[dict[str, str]]
    description: str = ""


@dataclass
class Feed:
    """What a run wrote: the link readers open, the folder it points to, the manifest."""

    path: Path
    version: Path
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def total_rows(self) -> int:
        return sum(int(entry["rows"]) for entry in self.manifest["models"])


def write_feeds(
    target: str | Path,
    file_format: str = "parquet",
    database: str | Path | None = None,
    sql_dir: Path = SQL_DIR,
) -> Feed:
    """Write every reporting model to a new version folder and swap it in as `target`."""
    if file_format not in FORMATS:
        raise FeedError(f"unknown feed format {file_format!r} (choose {', '.join(FORMATS)})")
    source = reader_database(database)
    link = Path(target).absolute()
    link.parent.mkdir(parents=True, exist_ok=True)
    with _turn(link):
        _check_replaceable(link)
        version = _new_version_folder(link)
        try:
            manifest = write_version(version, source, file_format, sql_dir)
        except BaseException:
            shutil.rmtree(version, ignore_errors=True)
            raise
        previous = swap_in(link, version)
        remove_stale_versions(link, keep={version, *([previous] if previous else [])})
    return Feed(path=link, version=version, manifest=manifest)


def reporting_models(sql_dir: Path = SQL_DIR) -> list[Model]:
    """The models of the reporting schema, in build order."""
    return [model for model in discover(sql_dir) if model.schema == REPORTING_SCHEMA]


def write_version(version: Path, database: Path | str, file_format: str, sql_dir: Path) -> dict:
    """Every reporting model into `version`, then the manifest; all fsynced."""
    with open_reader(database) as con:
        entries = [
            _write_model(con, model, version, file_format) for model in reporting_models(sql_dir)
        ]
        manifest = {
            "manifest_version": MANIFEST_VERSION,
            "published_at": datetime.now(UTC).isoformat(),
            "database": str(database),
            "format": file_format,
            "runs_from": "ledger" if has_ledger(con) else "dlt_loads",
            "models": [asdict(entry) for entry in entries],
            "sources": {entry.source: entry.as_dict() for entry in source_freshness(con)},
        }
    _write_durably(version / MANIFEST, json.dumps(manifest, indent=2, default=str) + "\n")
    _fsync_path(version)
    return manifest


def read_manifest(feed: str | Path) -> dict[str, Any]:
    """The manifest of the feed `feed` points to (a reader's first step)."""
    folder = Path(os.path.realpath(feed))
    return dict(json.loads((folder / MANIFEST).read_text(encoding="utf-8")))


def _write_model(
    con: duckdb.DuckDBPyConnection, model: Model, version: Path, file_format: str
) -> FeedFile:
    if not relation_exists(con, model.schema, model.name):
        raise FeedError(f"{model.qualified_name} is not built: run `apptsync models` first")
    relation = quote(model.schema, model.name)
    columns = [
        {"name": str(row[0]), "type": str(row[1])}
        for row in con.execute(f"describe select * from {relation}").fetchall()
    ]
    file_name = f"{model.name}.{file_format}"
    path = str(version / file_name).replace("'", "''")
    copied = con.execute(
        f"copy (select * from {relation}) to '{path}' {FORMATS[file_format]}"
    ).fetchone()
    _fsync_path(version / file_name)
    return FeedFile(
        model=model.qualified_name,
        file=file_name,
        rows=int(copied[0]) if copied else 0,
        columns=columns,
        description=model.description.split("\n\n", 1)[0].replace("\n", " "),
    )


def swap_in(link: Path, version: Path) -> Path | None:
    """Point `link` at `version` with one rename; return the folder it pointed to before.

    A plain folder at `link` (a feed written by hand or by an older version) is first
    renamed aside as a version folder, so it is cleaned up like one."""
    previous: Path | None = None
    if link.is_symlink():
        previous = link.parent / os.readlink(link)
    elif link.is_dir():
        previous = _new_version_folder(link, create=False)
        os.rename(link, previous)
    staged_link = link.parent / f".{link.name}.link-{secrets.token_hex(4)}"
    os.symlink(version.name, staged_link)  # relative: the pair can be moved together
    os.replace(staged_link, link)
    _fsync_path(link.parent)
    return previous


def remove_stale_versions(link: Path, keep: set[Path]) -> list[Path]:
    """Delete version folders and staged links of `link` other than `keep`."""
    kept = {path.name for path in keep}
    removed = []
    for sibling in link.parent.glob(f".{link.name}.*"):
        if sibling.name in kept or sibling.name == _lock_name(link):
            continue
        if sibling.name.startswith(_version_prefix(link)) and sibling.is_dir():
            shutil.rmtree(sibling, ignore_errors=True)
            removed.append(sibling)
        elif sibling.name.startswith(f".{link.name}.link-") and sibling.is_symlink():
            sibling.unlink()
            removed.append(sibling)
    return removed


def _check_replaceable(link: Path) -> None:
    """Refuse to replace anything that is not a feed: nothing of the user's is deleted."""
    if link.is_symlink():
        if not os.readlink(link).startswith(_version_prefix(link)):
            raise FeedError(f"{link} is a link apptsync did not make: refusing to replace it")
    elif link.is_dir():
        if any(link.iterdir()) and not (link / MANIFEST).exists():
            raise FeedError(f"{link} is a folder without {MANIFEST}: refusing to replace it")
    elif link.exists():
        raise FeedError(f"{link} is a file, not a feed folder: refusing to replace it")


def _version_prefix(link: Path) -> str:
    return f".{link.name}.v"


def _lock_name(link: Path) -> str:
    return f".{link.name}.lock"


def _new_version_folder(link: Path, create: bool = True) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    folder = link.parent / f"{_version_prefix(link)}{stamp}-{secrets.token_hex(4)}"
    if create:
        folder.mkdir()
    return folder


@contextmanager
def _turn(link: Path) -> Iterator[None]:
    """One feeds run per target at a time: a second waits for the first to finish."""
    with open(link.parent / _lock_name(link), "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _write_durably(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def _fsync_path(path: Path) -> None:
    """fsync a file or a folder (a folder's fsync makes the names in it durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
