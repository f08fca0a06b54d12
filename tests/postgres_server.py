"""A throwaway Postgres server for the tests: one cluster per test session (per xdist
worker), a fresh database per test.

Debian's server binaries (`/usr/lib/postgresql/<major>/bin`) are run directly: initdb into
a temporary folder, `pg_ctl start` on a free loopback port, `pg_ctl stop` at session end.
Postgres refuses to run as root, so as root every server command runs as the `postgres`
user through `runuser`. Durability is switched off (fsync, synchronous_commit): a test
cluster never survives a machine crash, and creating a database is then a few
milliseconds. The superuser has a random password, so a test can grep output for it.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

BIN_GLOB = "/usr/lib/postgresql/*/bin"
SUPERUSER = "postgres"


def find_bindir() -> Path | None:
    """The newest Debian server binaries, or None when the postgresql package is absent."""
    found = sorted(
        (p for p in Path("/").glob(BIN_GLOB.lstrip("/")) if (p / "pg_ctl").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    return found[-1] if found else None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PostgresServer:
    """A running cluster: where it listens, and the superuser's credentials."""

    bindir: Path
    root: Path
    port: int
    password: str

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}:{self.password}@127.0.0.1:{self.port}/{database}"

    def admin(self, sql: str) -> None:
        """Run one statement outside a transaction (create/drop database need that)."""
        import psycopg2

        con = psycopg2.connect(self.url())
        try:
            con.autocommit = True
            with con.cursor() as cur:
                cur.execute(sql)
        finally:
            con.close()


def _as_server_user(cmd: list[str]) -> list[str]:
    """Postgres will not run as root: hand the command to the postgres user."""
    if os.geteuid() == 0:
        return ["runuser", "-u", SUPERUSER, "--", *cmd]
    return cmd


def _run(cmd: list[str]) -> None:
    done = subprocess.run(_as_server_user(cmd), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr.strip()}")


def start_server(bindir: Path) -> PostgresServer:
    """initdb and start a cluster in a fresh folder; the caller stops it."""
    root = Path(tempfile.mkdtemp(prefix="apptsync-pg-"))
    password = "pw-" + secrets.token_hex(8)
    (root / "pwfile").write_text(password + "\n")
    if os.geteuid() == 0:
        shutil.chown(root, user=SUPERUSER)
        shutil.chown(root / "pwfile", user=SUPERUSER)
    _run(
        [
            str(bindir / "initdb"),
            "-D",
            str(root / "data"),
            "-U",
            SUPERUSER,
            f"--pwfile={root / 'pwfile'}",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        ]
    )
    last: Exception | None = None
    for _ in range(5):  # a free port can be taken between the probe and the bind
        server = PostgresServer(bindir=bindir, root=root, port=free_port(), password=password)
        options = (
            f"-p {server.port} -c listen_addresses=127.0.0.1 -k {root}"
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            " -c max_connections=100"
        )
        try:
            _run(
                [
                    str(bindir / "pg_ctl"),
                    "-D",
                    str(server.datadir),
                    "-l",
                    str(root / "server.log"),
                    "-o",
                    options,
                    "-w",
                    "-t",
                    "60",
                    "start",
                ]
            )
            return server
        except RuntimeError as exc:
            last = exc
            time.sleep(0.2)
    shutil.rmtree(root, ignore_errors=True)
    raise RuntimeError(f"could not start a test Postgres server: {last}")


def stop_server(server: PostgresServer) -> None:
    try:
        _run([str(server.bindir / "pg_ctl"), "-D", str(server.datadir), "-m", "fast", "stop"])
    finally:
        shutil.rmtree(server.root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One cluster per session (per xdist worker), stopped at the end."""
    bindir = find_bindir()
    if bindir is None:
        pytest.skip(
            "no Postgres server binaries in /usr/lib/postgresql/*/bin "
            "(apt-get install postgresql; .ci/run does)"
        )
    server = start_server(bindir)
    try:
        yield server
    finally:
        stop_server(server)


@pytest.fixture
def postgres_url(
    postgres_server: PostgresServer, isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """A fresh, empty database for one test; the environment points apptsync and dlt at it."""
    name = "t_" + secrets.token_hex(6)
    postgres_server.admin(f"create database {name} template template0")
    url = postgres_server.url(name)
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", url)
    monkeypatch.setenv("APPTSYNC__DESTINATION", "postgres")
    try:
        yield url
    finally:
        postgres_server.admin(f"drop database if exists {name} with (force)")
