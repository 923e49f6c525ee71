"""The API server's routing, identity and envelope, over a real Unix socket (no Slurm)."""

from __future__ import annotations

import json
import os
import pwd
import socket
from pathlib import Path

import pytest

from hyperion.api.server import Api, ApiError, Request, Route, openapi
from hyperion.daemon.identity import caller, peer_uid


def _api(tmp_path: Path) -> tuple[Api, Path]:
    def echo(req: Request) -> tuple[int, dict[str, object]]:
        req.warnings.append("a warning")
        return 200, {"user": req.caller.user, "params": req.params, "query": req.query}

    def boom(req: Request) -> tuple[int, dict[str, object]]:
        raise ApiError(409, "conflict here", "do this")

    routes = [
        Route("GET", "/things/{thing}", echo, "one thing"),
        Route("POST", "/things/{thing}/boom", boom, "always fails"),
        Route("POST", "/admin", echo, "admins", admin=True),
    ]
    api = Api(routes, admin_group="no-such-group-hopefully", log=lambda *a, **k: None)
    sock = tmp_path / "api.sock"
    api.serve_unix(sock)
    return api, sock


def _get(sock: Path, method: str, path: str, body: bytes = b"") -> tuple[int, dict]:  # type: ignore[type-arg]
    s = socket.socket(socket.AF_UNIX)
    s.connect(str(sock))
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: x\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    s.sendall(head.encode() + body)
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    s.close()
    status = int(data.split(b" ", 2)[1])
    return status, json.loads(data.split(b"\r\n\r\n", 1)[1])


def test_routing_envelope_and_identity(tmp_path: Path) -> None:
    api, sock = _api(tmp_path)
    try:
        status, doc = _get(sock, "GET", "/hyperion/v1/things/a%20b?x=1&x=2")
        assert status == 200
        me = pwd.getpwuid(os.getuid()).pw_name
        assert doc["meta"]["user"] == me and doc["user"] == me
        assert doc["params"] == {"thing": "a%20b"} and doc["query"] == {"x": "2"}
        assert doc["warnings"] == ["a warning"] and doc["errors"] == []
        status, doc = _get(sock, "POST", "/hyperion/v1/things/a/boom")
        assert status == 409 and doc["errors"] == [{"error": "conflict here", "hint": "do this"}]
        status, doc = _get(sock, "DELETE", "/hyperion/v1/things/a")
        assert status == 405 and "GET" in doc["errors"][0]["error"]
        status, doc = _get(sock, "GET", "/hyperion/v1/nothing")
        assert status == 404
        status, doc = _get(sock, "POST", "/hyperion/v1/things/a/boom", b"{not json")
        assert status == 400 and "not JSON" in doc["errors"][0]["error"]
        status, doc = _get(sock, "GET", "/hyperion/v1/openapi.json")
        assert status == 200 and "/hyperion/v1/things/{thing}" in doc["paths"]
    finally:
        api.shutdown()
    assert not sock.exists()


def test_admin_routes_refuse_others(tmp_path: Path) -> None:
    from hyperion.daemon.identity import Caller

    api, sock = _api(tmp_path)
    try:
        with pytest.raises(ApiError) as err:
            api.dispatch("POST", "/hyperion/v1/admin", "", {}, Caller(1001, "alice", False), [])
        assert err.value.status == 403
        status, _ = _get(sock, "POST", "/hyperion/v1/admin")  # we are root here: allowed
        assert status == (200 if os.getuid() == 0 else 403)
    finally:
        api.shutdown()


def test_admin_is_root_or_a_group_member() -> None:
    assert caller(0, "no-such-group").admin
    nobody = pwd.getpwnam("nobody")
    assert not caller(nobody.pw_uid, "no-such-group").admin


def test_peer_uid_is_the_kernels_word() -> None:
    a, b = socket.socketpair(socket.AF_UNIX)
    try:
        assert peer_uid(a) == os.getuid()
    finally:
        a.close()
        b.close()


def test_a_second_daemon_on_the_same_socket_is_refused(tmp_path: Path) -> None:
    from hyperion.errors import HyperionError

    api, sock = _api(tmp_path)
    try:
        with pytest.raises(HyperionError, match="another hyperiond"):
            Api([], "x", log=lambda *a, **k: None).serve_unix(sock)
    finally:
        api.shutdown()
    stale = tmp_path / "stale.sock"
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(stale))
    s.close()  # a socket file nobody listens on: replaced
    api2 = Api([], "x", log=lambda *a, **k: None)
    api2.serve_unix(stale)
    api2.shutdown()


def test_openapi_lists_methods_and_path_parameters() -> None:
    doc = openapi([Route("DELETE", "/jobs/{job_id}", lambda r: (200, {}), "cancel", admin=True)])
    op = doc["paths"]["/hyperion/v1/jobs/{job_id}"]["delete"]
    assert op["parameters"][0]["name"] == "job_id" and "admins" in op["summary"]
