"""A real, throwaway PostgreSQL server for tests (no fake, no already-running service).

``running_postgres()`` initdb's a cluster in a temporary directory as the ``postgres`` OS user,
starts it on a free loopback port with its socket in that directory, creates a role with a
password and a database it owns, yields a :class:`PostgresServer`, and on exit stops it
(``pg_ctl stop -m fast``) and deletes the directory. It needs root (``runuser``) and the Debian
package ``postgresql``; without them it raises :class:`PostgresUnavailable`, which fixtures turn
into a failure, never a skip.
"""

from __future__ import annotations

import os
import pwd
import re
import secrets
import shlex
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psycopg
from psycopg import sql

PG_GLOB = "/usr/lib/postgresql/*/bin"
OS_USER = "postgres"
ROLE = "hyperion"
INSTALL_HINT = (
    "install the Debian package 'postgresql' (scripts/setup does: apt-get install -y postgresql)"
)


class PostgresUnavailable(RuntimeError):
    """PostgreSQL cannot be started here; the message says why and what to do."""


@dataclass
class PostgresServer:
    """A running throwaway server: where it is, and a role that owns ``dbname``."""

    bindir: Path
    root: Path
    port: int
    password: str
    dbname: str = "hyperion"

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    @property
    def sockdir(self) -> Path:
        return self.root / "sock"

    def url(self, dbname: str | None = None, *, password: str | None = None) -> str:
        """A ``postgresql+psycopg://`` URL over TCP with the role's password."""
        pw = quote(self.password if password is None else password, safe="")
        return f"postgresql+psycopg://{ROLE}:{pw}@127.0.0.1:{self.port}/{dbname or self.dbname}"

    def admin(self) -> psycopg.Connection[tuple[object, ...]]:
        """A superuser connection over the private Unix socket (autocommit)."""
        return psycopg.connect(
            host=str(self.sockdir), port=self.port, user=OS_USER, dbname="postgres", autocommit=True
        )

    def create_database(self, dbname: str) -> str:
        """Create an empty database owned by the role; returns its URL."""
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", dbname):
            raise ValueError(f"bad database name {dbname!r}")
        with self.admin() as conn:
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(dbname), sql.Identifier(ROLE)
                )
            )
        return self.url(dbname)


def find_bindir() -> Path:
    """The newest ``/usr/lib/postgresql/N/bin`` with initdb, pg_ctl and postgres."""
    found = []
    for d in Path("/").glob(PG_GLOB.lstrip("/")):
        if all((d / b).is_file() for b in ("initdb", "pg_ctl", "postgres")):
            version = d.parent.name
            found.append((int(version) if version.isdigit() else 0, d))
    if not found:
        raise PostgresUnavailable(f"no PostgreSQL server binaries in {PG_GLOB}: {INSTALL_HINT}")
    return max(found)[1]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres(argv: list[str], cwd: Path, timeout: float = 120) -> None:
    proc = subprocess.run(
        [shutil.which("runuser") or "runuser", "-u", OS_USER, "--", *argv],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C", "LANG": "C"},
    )
    if proc.returncode != 0:
        raise PostgresUnavailable(
            f"{shlex.join(argv)} failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )


def _check_host() -> None:
    if os.geteuid() != 0:
        raise PostgresUnavailable(
            "the PostgreSQL tests start a real server as the 'postgres' OS user with runuser: "
            "run them as root (CI does)"
        )
    if shutil.which("runuser") is None:
        raise PostgresUnavailable("runuser is missing: install the Debian package util-linux")
    try:
        pwd.getpwnam(OS_USER)
    except KeyError:
        raise PostgresUnavailable(f"there is no '{OS_USER}' OS user: {INSTALL_HINT}") from None


def _start(server: PostgresServer) -> None:
    opts = (
        f"-p {server.port} -k {shlex.quote(str(server.sockdir))} "
        "-c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
    )
    log = server.root / "postgres.log"
    _as_postgres(
        [str(server.bindir / "pg_ctl"), "-D", str(server.datadir), "-l", str(log), "-o", opts]
        + ["-w", "-t", "60", "start"],
        cwd=server.root,
        timeout=90,
    )


@contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    """Start a fresh PostgreSQL server; stop it and delete its files on exit."""
    _check_host()
    bindir = find_bindir()
    pw = pwd.getpwnam(OS_USER)
    root = Path(tempfile.mkdtemp(prefix="hyperion-pg-"))
    try:
        os.chown(root, pw.pw_uid, pw.pw_gid)
        root.chmod(0o700)
        (root / "sock").mkdir(mode=0o700)
        os.chown(root / "sock", pw.pw_uid, pw.pw_gid)
        superpw = root / "superuser.pw"
        superpw.write_text(secrets.token_urlsafe(24) + "\n")
        os.chown(superpw, pw.pw_uid, pw.pw_gid)
        _as_postgres(
            [str(bindir / "initdb"), "-D", str(root / "data"), "-U", OS_USER]
            + ["--pwfile", str(superpw), "-E", "UTF8", "--locale=C", "--no-sync"]
            + ["--auth-local=trust", "--auth-host=scram-sha-256"],
            cwd=root,
        )
        server = PostgresServer(bindir, root, 0, secrets.token_urlsafe(18))
        for attempt in range(3):  # another process may take the free port first
            server.port = free_port()
            try:
                _start(server)
                break
            except PostgresUnavailable:
                if attempt == 2:
                    log = root / "postgres.log"
                    tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
                    raise PostgresUnavailable(f"PostgreSQL did not start:\n{tail}") from None
        try:
            with server.admin() as conn:
                conn.execute(
                    sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                        sql.Identifier(ROLE), sql.Literal(server.password)
                    )
                )
            server.create_database(server.dbname)
            yield server
        finally:
            _as_postgres(
                [str(bindir / "pg_ctl"), "-D", str(root / "data"), "-m", "fast", "-w", "stop"],
                cwd=root,
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)
