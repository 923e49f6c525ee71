"""Run private hyperiond instances against the real testbed, and the user commands as real
Unix users (runuser), for the federation-plane tests."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hyperion.api.client import Client
from hyperion.config import load_config
from hyperion.sites import connect

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = REPO / ".venv" / "bin"
BASE_CONFIG = REPO / "site-configs" / "testbed.toml"

#: daemon settings for tests: fast loops so that recovery and moves happen within seconds
FAST = {
    "poll_interval_s": 1,
    "poll_max_interval_s": 2,
    "snapshot_interval_s": 2,
    "reconcile_interval_s": 2,
    "replace_interval_s": 2,
    "replace_after_s": 3,
    "replace_margin_s": 20,
    "max_moves": 2,
    "down_after_s": 3,
    "unknown_grace_s": 3,
}


def bin_path(name: str) -> str:
    """A command from the project's venv (usable by alice and bob), else from PATH."""
    candidate = VENV_BIN / name
    found = str(candidate) if candidate.exists() else shutil.which(name)
    assert found, f"{name} is not installed: run scripts/setup"
    return found


def write_config(path: Path, testbed: Path, **settings: object) -> Path:
    """The testbed config with absolute paths and its [hyperion] table replaced."""
    text = BASE_CONFIG.read_text().replace("${HYPERION_TESTBED_DIR:-../.testbed}", str(testbed))
    text = re.sub(r"\n\[hyperion\]\n(?:[^\[\n].*\n|\n)*", "\n", text)
    merged = {**FAST, **settings}
    lines = ["[hyperion]"] + [f"{k} = {json.dumps(v)}" for k, v in merged.items()]
    path.write_text("\n".join(lines) + "\n\n" + text)
    return path


@dataclass
class Daemon:
    """A running private hyperiond."""

    proc: subprocess.Popen[bytes]
    socket: Path
    db_url: str
    config: Path
    log: Path
    workdir: Path

    def client(self) -> Client:
        return Client(socket_path=str(self.socket))

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def start_daemon(
    workdir: Path,
    config: Path,
    db_url: str,
    crash_at: str | None = None,
    tag: str = "",
    listen: str | None = None,
) -> Daemon:
    sock = workdir / "hyperiond.sock"
    log = workdir / f"hyperiond{tag}.log"
    env = {**os.environ}
    env.pop("HYPERION_CRASH_AT", None)
    if crash_at:
        env["HYPERION_CRASH_AT"] = crash_at
    proc = subprocess.Popen(
        [
            bin_path("hyperiond"),
            "--config",
            str(config),
            "--db",
            db_url,
            "--socket",
            str(sock),
            *(["--listen", listen] if listen else []),
        ],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        cwd="/",
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"hyperiond exited {proc.returncode}:\n{log.read_text()}")
        if sock.exists() and "hyperiond ready" in log.read_text(errors="replace"):
            return Daemon(proc, sock, db_url, config, log, workdir)
        time.sleep(0.2)
    proc.kill()
    raise AssertionError(f"hyperiond did not start:\n{log.read_text()}")


def stop_daemon(d: Daemon) -> None:
    if d.proc.poll() is None:
        d.proc.send_signal(signal.SIGTERM)
        try:
            d.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            d.proc.kill()
            d.proc.wait()


@contextmanager
def daemon(testbed: Path, listen: str | None = None, **settings: object) -> Iterator[Daemon]:
    """A private hyperiond with its own socket (reachable by alice and bob) and database."""
    workdir = testbed / "share" / f"hyd-{uuid.uuid4().hex[:8]}"
    workdir.mkdir()
    workdir.chmod(0o1777)
    config = write_config(workdir / "sites.toml", testbed, **settings)
    d = start_daemon(workdir, config, f"sqlite:///{workdir / 'hyperion.db'}", listen=listen)
    try:
        yield d
    finally:
        stop_daemon(d)
        cancel_everything(testbed, d.log_text())


def as_user(
    user: str | None,
    d: Daemon,
    *argv: str,
    cwd: Path | None = None,
    stdin: str | None = None,
    url: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a Hyperion command as ``user`` (None: root) against daemon ``d`` (over TCP with
    MUNGE when ``url`` is given, else over its Unix socket)."""
    where = f"HYPERION_URL={url}" if url else f"HYPERION_SOCKET={d.socket}"
    env = [
        "env",
        where,
        "PATH=/usr/local/bin:/usr/bin:/bin",
        f"HOME={'/root' if user is None else '/home/' + user}",
    ]
    cmd = [*env, bin_path(argv[0]), *argv[1:]]
    if user is not None:
        cmd = ["runuser", "-u", user, "--", *cmd]
    return subprocess.run(
        cmd, capture_output=True, text=True, timeout=120, input=stdin, cwd=str(cwd or d.workdir)
    )


def slurm_jobs_with_key(testbed: Path, key: str) -> list[tuple[str, str, str]]:
    """(site, Slurm job id, state) of every Slurm job on any site whose comment holds ``key``."""
    config = load_config(BASE_CONFIG, env={"HYPERION_TESTBED_DIR": str(testbed)})
    out = []
    for name, site in config.sites.items():
        conn = connect(site)
        try:
            for st in conn.jobs().values():
                if st.comment.split(" ", 1)[0] == f"hyperion:{key}":
                    out.append((name, st.job_id, st.state.value))
        finally:
            conn.close()
    return out


def cancel_everything(testbed: Path, _log: str = "") -> None:
    """Cancel every Slurm job made by the daemon tests (comment 'hyperion:...') and fillers."""
    config = load_config(BASE_CONFIG, env={"HYPERION_TESTBED_DIR": str(testbed)})
    for site in config.sites.values():
        conn = connect(site)
        try:
            ids = [
                st.job_id
                for st in conn.jobs().values()
                if not st.state.is_final
                and (st.comment.startswith("hyperion:") or st.name.startswith("hyd-test"))
            ]
            conn.cancel(ids)
        finally:
            conn.close()


def wait_for(predicate: Any, what: str, timeout: float = 60, interval: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")
