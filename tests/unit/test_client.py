"""The API client's protocol handling (envelope, errors, transport), against docs/federation.md.

A few lines of ``http.server`` on a Unix socket in tmp_path answer what each test scripts; they
check what the client sends and how it reads our own documented envelope.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import socketserver
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from hyperion.api.client import (
    ApiError,
    BadRequest,
    Client,
    DaemonNotRunning,
    DaemonUnreachable,
    MungeError,
    NotFound,
    Unavailable,
    default_socket,
)
from hyperion.errors import HyperionError

Reply = tuple[int, Any]  # status, body (a dict is sent as JSON, bytes as they are)


class Scripted:
    """What the test server answers, and what it was asked."""

    def __init__(self) -> None:
        self.replies: dict[tuple[str, str], Reply] = {}
        self.seen: list[dict[str, Any]] = []


def _envelope(payload: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    doc = {"meta": {"api": "v1", "hyperion": "0.1.0", "user": "alice"}, "errors": [],
           "warnings": []}  # fmt: skip
    doc.update(extra)
    doc.update(payload or {})
    return doc


def _handler(script: Scripted) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            script.seen.append(
                {"method": self.command, "path": self.path, "headers": dict(self.headers),
                 "body": json.loads(body) if body else None}
            )  # fmt: skip
            status, reply = script.replies.get(
                (self.command, self.path.split("?")[0]), (404, _envelope(errors=[{"error": "?"}]))
            )
            data = reply if isinstance(reply, bytes) else json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_DELETE = _answer  # noqa: N815

    return Handler


class _UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[Scripted, Client]]:
    script = Scripted()
    path = str(tmp_path / "s.sock")
    srv = _UnixServer(path, _handler(script))
    thread = threading.Thread(target=srv.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield script, Client(socket_path=path, timeout=5)
    finally:
        srv.shutdown()
        srv.server_close()


JOB = {"id": "h0ABCDE", "name": "job", "user": "alice", "state": "PENDING", "site": "alpha",
       "slurm_job_id": 42, "attempts": []}  # fmt: skip
P = "/hyperion/v1"


def test_ping_reads_the_envelope(server: tuple[Scripted, Client]) -> None:
    script, client = server
    script.replies[("GET", f"{P}/ping")] = (200, _envelope({"pong": True}))
    doc = client.ping()
    assert doc["pong"] is True and doc["meta"]["user"] == "alice"
    assert script.seen[0]["path"] == f"{P}/ping"
    assert "X-Hyperion-Munge" not in script.seen[0]["headers"]


def test_submit_sends_the_documented_body_and_keeps_warnings(
    server: tuple[Scripted, Client],
) -> None:
    script, client = server
    script.replies[("POST", f"{P}/jobs")] = (
        201, _envelope({"job": JOB}, warnings=["SBATCH_FOO is ignored"])
    )  # fmt: skip
    doc = client.submit(
        ["-p", "gpu"], "#!/bin/sh\necho hi\n", "/home/a/job.sh",
        ["x", "--y"], {"HOME": "/home/a"}, "/home/a", test_only=False,
    )  # fmt: skip
    assert doc["job"] == JOB
    assert client.last_warnings == ["SBATCH_FOO is ignored"]
    assert client.last_envelope is doc
    sent = script.seen[0]
    assert sent["headers"]["Content-Type"] == "application/json"
    assert sent["body"] == {
        "argv": ["-p", "gpu"], "script": "#!/bin/sh\necho hi\n",
        "script_path": "/home/a/job.sh", "script_args": ["x", "--y"],
        "env": {"HOME": "/home/a"}, "cwd": "/home/a", "test_only": False,
    }  # fmt: skip
    client.submit(["-N1"], "#!/bin/sh\n", None, [], {}, "/", site="beta", policy="cheapest")
    assert script.seen[1]["body"]["site"] == "beta"
    assert script.seen[1]["body"]["policy"] == "cheapest"


def test_test_only_needs_a_decision(server: tuple[Scripted, Client]) -> None:
    script, client = server
    script.replies[("POST", f"{P}/jobs")] = (200, _envelope({"decision": {"site": "alpha"}}))
    assert client.submit([], None, None, [], {}, "/", test_only=True)["decision"]["site"] == "alpha"
    script.replies[("POST", f"{P}/jobs")] = (200, _envelope({"job": JOB}))
    with pytest.raises(ApiError, match="no 'decision'"):
        client.submit([], None, None, [], {}, "/", test_only=True)


def test_jobs_query_and_quoted_ids(server: tuple[Scripted, Client]) -> None:
    script, client = server
    script.replies[("GET", f"{P}/jobs")] = (200, _envelope({"jobs": [JOB]}))
    assert client.jobs(all=True, user="bob", state="RUNNING") == [JOB]
    assert script.seen[-1]["path"] == f"{P}/jobs?all=1&user=bob&state=RUNNING"
    client.jobs()
    assert script.seen[-1]["path"] == f"{P}/jobs"
    script.replies[("DELETE", f"{P}/jobs/a%2Fb%20c")] = (200, _envelope({"job": JOB}))
    assert client.cancel("a/b c") == JOB


def test_sites_drain_resume(server: tuple[Scripted, Client]) -> None:
    script, client = server
    site = {"name": "alpha", "up": True, "drained": True}
    script.replies[("GET", f"{P}/sites")] = (200, _envelope({"sites": [site]}))
    script.replies[("POST", f"{P}/sites/alpha/drain")] = (200, _envelope({"site": site}))
    script.replies[("POST", f"{P}/sites/alpha/resume")] = (200, _envelope({"site": site}))
    assert client.sites() == [site]
    assert client.drain("alpha") == site and client.resume("alpha") == site


@pytest.mark.parametrize(
    ("status", "cls"),
    [(400, BadRequest), (404, NotFound), (503, Unavailable), (500, ApiError), (418, ApiError)],
)
def test_error_status_maps_to_a_class_with_message_and_hints(
    server: tuple[Scripted, Client], status: int, cls: type[ApiError]
) -> None:
    script, client = server
    errors = [{"error": "no such job h0ZZZZZ", "hint": "see `hq --all`"}, {"error": "second"}]
    script.replies[("GET", f"{P}/jobs/h0ZZZZZ")] = (status, _envelope(errors=errors))
    with pytest.raises(cls) as info:
        client.job("h0ZZZZZ")
    err = info.value
    assert type(err) is cls and isinstance(err, HyperionError)
    assert err.status == status and err.errors == errors and err.hints == ["see `hq --all`"]
    assert str(err) == "no such job h0ZZZZZ; second\n  hint: see `hq --all`"
    assert err.exit_code == 1


def test_errors_in_a_2xx_answer_raise(server: tuple[Scripted, Client]) -> None:
    script, client = server
    script.replies[("GET", f"{P}/ping")] = (200, _envelope({"pong": True}, errors=["broken"]))
    with pytest.raises(ApiError, match="broken") as info:
        client.ping()
    assert info.value.status == 200


def test_non_json_and_errorless_failures_say_what_happened(
    server: tuple[Scripted, Client],
) -> None:
    script, client = server
    script.replies[("GET", f"{P}/ping")] = (502, b"<html>bad gateway</html>")
    with pytest.raises(ApiError, match="HTTP 502 and a non-JSON body"):
        client.ping()
    script.replies[("GET", f"{P}/ping")] = (500, _envelope())
    with pytest.raises(ApiError, match="GET /hyperion/v1/ping with 500"):
        client.ping()


def test_no_socket_means_daemon_not_running(tmp_path: Path) -> None:
    path = tmp_path / "absent.sock"
    with pytest.raises(DaemonNotRunning) as info:
        Client(socket_path=str(path)).ping()
    assert str(info.value) == (
        f"hyperiond is not running (no socket at {path}): "
        "start it with `hyperiond` or `scripts/testbed up`"
    )


def test_stale_socket_means_daemon_not_running(tmp_path: Path) -> None:
    path = str(tmp_path / "stale.sock")
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(path)  # bound, never listening: connect() is refused
    try:
        with pytest.raises(DaemonNotRunning, match="hyperiond is not running"):
            Client(socket_path=path).ping()
    finally:
        stale.close()


def test_a_silent_daemon_times_out(tmp_path: Path) -> None:
    path = str(tmp_path / "slow.sock")
    silent = socket.socket(socket.AF_UNIX)
    silent.bind(path)
    silent.listen(1)  # the kernel accepts the connection; nobody answers
    try:
        with pytest.raises(DaemonUnreachable, match=r"did not answer within 0.2 s") as info:
            Client(socket_path=path, timeout=0.2).cancel("h0ABCDE")
        assert "may still have taken effect" in str(info.value)
    finally:
        silent.close()


def test_where_the_client_connects() -> None:
    assert default_socket({}) == "/run/hyperion/hyperiond.sock"
    assert default_socket({"HYPERION_TESTBED_DIR": "/tb"}) == "/tb/run/hyperiond.sock"
    assert default_socket({"HYPERION_SOCKET": "/x.sock", "HYPERION_TESTBED_DIR": "/tb"}) == (
        "/x.sock"
    )
    assert Client(env={"HYPERION_URL": "http://h:16900"}).where == "http://h:16900"
    assert Client(env={"HYPERION_SOCKET": "/x.sock"}).where == "/x.sock"
    with pytest.raises(HyperionError, match="not an http"):
        Client(url="ftp://h")


def test_tcp_without_munge_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no munge
    client = Client(env={"HYPERION_URL": "http://127.0.0.1:9"})
    with pytest.raises(MungeError, match="munge is not installed") as info:
        client.ping()
    assert "HYPERION_URL" in str(info.value) and info.value.hint


def _munge_works() -> bool:
    if not (shutil.which("munge") and shutil.which("unmunge")):
        return False
    return subprocess.run(["munge", "-n"], capture_output=True, check=False).returncode == 0


@pytest.mark.skipif(not _munge_works(), reason="needs MUNGE with a running munged")
def test_tcp_sends_a_fresh_munge_credential_each_request() -> None:
    script = Scripted()
    script.replies[("GET", f"{P}/ping")] = (200, _envelope({"pong": True}))
    srv = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _handler(script))
    threading.Thread(target=srv.serve_forever, args=(0.02,), daemon=True).start()
    try:
        client = Client(url=f"http://127.0.0.1:{srv.server_address[1]}", timeout=5)
        client.ping()
        client.ping()
    finally:
        srv.shutdown()
        srv.server_close()
    creds = [seen["headers"]["X-Hyperion-Munge"] for seen in script.seen]
    assert len(set(creds)) == 2
    decoded = subprocess.run(
        ["unmunge"], input=creds[0], capture_output=True, text=True, check=True
    ).stdout
    assert "UID:" in decoded and str(os.getuid()) in decoded
