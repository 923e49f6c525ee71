"""hyperiond's HTTP API (v1) on a Unix socket and optionally TCP: routing, identity, envelope.

Standard library only (``http.server``): on the Unix socket the caller's uid comes from the
kernel (``SO_PEERCRED``), which ASGI servers do not expose. Every response is
``{"meta": ..., "errors": [...], "warnings": [...], ...payload}``; the route table also
produces the published OpenAPI document (``GET /hyperion/v1/openapi.json``).
"""

from __future__ import annotations

import json
import os
import re
import socket
import socketserver
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from hyperion import __version__
from hyperion.api.digest import request_digest
from hyperion.daemon.identity import Caller, IdentityError, caller, munge_uid, peer_uid
from hyperion.errors import HyperionError

PREFIX = "/hyperion/v1"
MAX_BODY = 16 * 1024 * 1024
#: concurrent connections served; more are answered 503 at once
MAX_CONNECTIONS = 128


class ApiError(Exception):
    """An error answered to the client with an HTTP status."""

    def __init__(self, status: int, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.hint = hint


@dataclass
class Request:
    """One API request, after identity and parsing."""

    method: str
    path: str
    params: dict[str, str]
    query: dict[str, str]
    body: dict[str, Any]
    caller: Caller
    warnings: list[str] = field(default_factory=list)


Handler = Callable[[Request], tuple[int, dict[str, Any]]]


@dataclass(frozen=True)
class Route:
    """A method and path pattern (``{name}`` segments) bound to a handler."""

    method: str
    pattern: str
    handler: Handler
    summary: str
    admin: bool = False

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if method != self.method:
            return None
        regex = "^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", PREFIX + self.pattern) + "$"
        m = re.match(regex, path)
        return m.groupdict() if m else None


def openapi(routes: list[Route]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the route table."""
    envelope = {
        "type": "object",
        "required": ["meta", "errors", "warnings"],
        "properties": {
            "meta": {"type": "object"},
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"error": {"type": "string"}, "hint": {"type": "string"}},
                },
            },
            "warnings": {"type": "array", "items": {"type": "string"}},
        },
    }
    paths: dict[str, Any] = {}
    for r in routes:
        params = [
            {"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
            for n in re.findall(r"\{(\w+)\}", r.pattern)
        ]
        op: dict[str, Any] = {
            "summary": r.summary + (" (admins only)" if r.admin else ""),
            "parameters": params,
            "responses": {
                "default": {
                    "description": "the envelope",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Envelope"}}
                    },
                }
            },
        }
        if r.method in {"POST", "PUT"}:
            op["requestBody"] = {"content": {"application/json": {"schema": {"type": "object"}}}}
        paths.setdefault(PREFIX + r.pattern, {})[r.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "Hyperion API", "version": "v1", "x-hyperion": __version__},
        "paths": paths,
        "components": {"schemas": {"Envelope": envelope}},
    }


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    timeout = 30  # seconds a client may take to send a request (no slow-loris holding a thread)

    def address_string(self) -> str:  # AF_UNIX peers have no address
        return "unix" if isinstance(self.client_address, str | bytes) else super().address_string()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
        self.server.api.log(f"{self.address_string()} {format % args}")

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """The access log line, with the time the daemon took to answer."""
        took = (time.monotonic() - self._started) * 1000 if hasattr(self, "_started") else 0.0
        self.log_message('"%s" %s %s %.1fms', self.requestline, code, size, took)

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self._handle("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._handle("POST")

    def do_DELETE(self) -> None:  # noqa: N802
        self._handle("DELETE")

    def _identify(self, method: str, raw: bytes) -> Caller:
        api = self.server.api
        if self.server.unix:
            return caller(peer_uid(self.connection), api.admin_group)
        credential = self.headers.get("X-Hyperion-Munge") or ""
        digest = request_digest(method, self.path, raw)
        return caller(munge_uid(credential, digest), api.admin_group)

    def _check_credential_present(self) -> None:
        if not self.server.unix and not self.headers.get("X-Hyperion-Munge"):
            raise ApiError(
                401, "no credential", "send X-Hyperion-Munge: $(munge -s <request digest>)"
            )

    def _handle(self, method: str) -> None:
        self._started = time.monotonic()
        url = urlsplit(self.path)
        who: Caller | None = None
        warnings: list[str] = []
        try:
            self._check_credential_present()  # before reading anything large
            raw = self._raw_body()
            who = self._identify(method, raw)
            body = self._parse(raw)
            status, payload = self.server.api.dispatch(
                method, url.path, url.query, body, who, warnings
            )
            errors: list[dict[str, str]] = []
        except ApiError as exc:
            status, payload = exc.status, {}
            errors = [{"error": exc.message, **({"hint": exc.hint} if exc.hint else {})}]
        except IdentityError as exc:
            status, payload = 401, {}
            errors = [{"error": exc.message}]
        except HyperionError as exc:
            status, payload = 400, {}
            errors = [{"error": exc.message, **({"hint": exc.hint} if exc.hint else {})}]
        except Exception as exc:  # noqa: BLE001 - a bug must not kill the server
            self.server.api.log(f"internal error on {method} {url.path}: {exc!r}", error=exc)
            status, payload = 500, {}
            errors = [
                {"error": f"internal error: {type(exc).__name__}", "hint": "see hyperiond's log"}
            ]
        meta = {"api": "v1", "hyperion": __version__, "user": who.user if who else None}
        data = json.dumps(
            {"meta": meta, "errors": errors, "warnings": warnings, **payload}
        ).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _raw_body(self) -> bytes:
        text = self.headers.get("Content-Length") or "0"
        if not text.isdigit():
            raise ApiError(400, f"Content-Length {text!r} is not a byte count")
        length = int(text)
        if length > MAX_BODY:
            raise ApiError(413, f"request body of {length} bytes is over {MAX_BODY}")
        return self.rfile.read(length) if length else b""

    @staticmethod
    def _parse(raw: bytes) -> dict[str, Any]:
        if not raw:
            return {}
        try:
            doc = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ApiError(400, f"request body is not JSON: {exc}") from None
        if not isinstance(doc, dict):
            raise ApiError(400, "request body must be a JSON object")
        return doc


class _Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: Any, api: Api, family: socket.AddressFamily) -> None:
        self.address_family = family
        self.api = api
        self.unix = family == socket.AF_UNIX
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        """At most MAX_CONNECTIONS at once; the next one gets 503 instead of a thread."""
        if not self._slots.acquire(blocking=False):
            try:
                request.sendall(
                    b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                    b"Connection: close\r\n\r\n"
                )
            except OSError:
                pass
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


class Api:
    """The route table and the servers that expose it."""

    def __init__(self, routes: list[Route], admin_group: str, log: Callable[..., None]) -> None:
        self.routes = routes + [Route("GET", "/openapi.json", self._openapi, "this document")]
        self.admin_group = admin_group
        self.log = log
        self._servers: list[_Server] = []

    def _openapi(self, req: Request) -> tuple[int, dict[str, Any]]:
        return 200, openapi(self.routes)

    def dispatch(
        self,
        method: str,
        path: str,
        query: str,
        body: dict[str, Any],
        who: Caller,
        warnings: list[str],
    ) -> tuple[int, dict[str, Any]]:
        allowed = []
        for route in self.routes:
            params = route.match(method, path)
            if params is None:
                if route.match(route.method, path) is not None:
                    allowed.append(route.method)
                continue
            if route.admin and not who.admin:
                raise ApiError(
                    403, f"{method} {path} is for admins", f"ask a member of {self.admin_group}"
                )
            flat = {k: v[-1] for k, v in parse_qs(query).items()}
            return route.handler(Request(method, path, params, flat, body, who, warnings))
        if allowed:
            raise ApiError(405, f"{method} is not allowed on {path}; use {', '.join(allowed)}")
        raise ApiError(404, f"no such endpoint: {path}", f"see {PREFIX}/openapi.json")

    def serve_unix(self, path: Path) -> None:
        """Listen on a Unix socket anyone may connect to (identity comes from the kernel)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists() or path.is_symlink():
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                probe.connect(str(path))
            except OSError:
                path.unlink()  # stale socket of a dead daemon
            else:
                raise HyperionError(f"another hyperiond is listening on {path}")
            finally:
                probe.close()
        server = _Server(str(path), self, socket.AF_UNIX)
        os.chmod(path, 0o666)
        self._start(server)

    def serve_tcp(self, host: str, port: int) -> tuple[str, int]:
        """Listen on TCP (MUNGE-authenticated); returns the bound address."""
        server = _Server((host, port), self, socket.AF_INET)
        self._start(server)
        addr = server.server_address
        return str(addr[0]), int(addr[1])

    def _start(self, server: _Server) -> None:
        self._servers.append(server)
        threading.Thread(target=server.serve_forever, name="hyperion-api", daemon=True).start()

    def shutdown(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()
            if server.unix:
                Path(str(server.server_address)).unlink(missing_ok=True)
        self._servers.clear()
