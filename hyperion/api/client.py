"""A client of hyperiond's HTTP API v1 (``docs/federation.md``), standard library only.

The CLIs (``hsub``, ``hq``, ``hcancel``) start with it, so it imports nothing but the standard
library. Where it connects:

* ``$HYPERION_URL`` (``http://host:port``) set: TCP, each request carrying a fresh MUNGE
  credential (``munge -n``) in ``X-Hyperion-Munge`` (MUNGE refuses replayed credentials);
* otherwise the Unix socket ``$HYPERION_SOCKET``, else ``$HYPERION_TESTBED_DIR/run/hyperiond.sock``
  when the testbed's variable is set, else ``/run/hyperion/hyperiond.sock``; the daemon learns
  who we are from the kernel.

Every answer is an envelope ``{"meta", "errors", "warnings", ...payload}``. A non-2xx status or
a non-empty ``errors`` raises :class:`ApiError` (a :class:`~hyperion.errors.HyperionError`);
the warnings of the last call are kept in :attr:`Client.last_warnings` for the CLI to print,
and the whole envelope in :attr:`Client.last_envelope` (what ``--json`` prints).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from hyperion import __version__
from hyperion.api.digest import request_digest
from hyperion.api.wire import ProtocolError, unix_request
from hyperion.errors import HyperionError

API_PREFIX = "/hyperion/v1"
DEFAULT_SOCKET = "/run/hyperion/hyperiond.sock"
DEFAULT_TIMEOUT = 30.0
MUNGE_HEADER = "X-Hyperion-Munge"
_START_HINT = "start it with `hyperiond` or `scripts/testbed up`"


class ApiError(HyperionError):
    """hyperiond refused or failed a request: HTTP ``status``, its ``errors`` and ``hints``."""

    def __init__(
        self, status: int, errors: Sequence[Mapping[str, Any]], *, fallback: str = ""
    ) -> None:
        self.status = status
        self.errors = [dict(e) for e in errors]
        self.hints = [str(e["hint"]) for e in self.errors if e.get("hint")]
        messages = [str(e.get("error") or "") for e in self.errors if e.get("error")]
        message = "; ".join(messages) or fallback or f"hyperiond answered HTTP {status}"
        super().__init__(message, hint="; ".join(self.hints) or None)


class BadRequest(ApiError):
    """400: the request (a job's options, a query) is invalid; the error says which input."""


class NotAuthorized(ApiError):
    """401 or 403: no or bad credential, or an action for admins only."""


class NotFound(ApiError):
    """404: no such job, site or endpoint."""


class Conflict(ApiError):
    """409: the request conflicts with the current state."""


class Unavailable(ApiError):
    """503: no site can take the job now."""


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: NotAuthorized,
    403: NotAuthorized,
    404: NotFound,
    409: Conflict,
    503: Unavailable,
}


class DaemonNotRunning(HyperionError):
    """Nothing answers at the socket or URL: hyperiond is not running there."""


class DaemonUnreachable(HyperionError):
    """The connection to hyperiond failed or timed out after it was made."""


class MungeError(HyperionError):
    """A MUNGE credential (needed over TCP) could not be made."""


def api_error(status: int, errors: Sequence[Mapping[str, Any]], fallback: str = "") -> ApiError:
    """The :class:`ApiError` subclass for an HTTP ``status``."""
    return _BY_STATUS.get(status, ApiError)(status, errors, fallback=fallback)


def default_socket(env: Mapping[str, str] | None = None) -> str:
    """``$HYPERION_SOCKET`` > ``$HYPERION_TESTBED_DIR/run/hyperiond.sock`` > the system path."""
    env = os.environ if env is None else env
    if env.get("HYPERION_SOCKET"):
        return env["HYPERION_SOCKET"]
    if env.get("HYPERION_TESTBED_DIR"):
        return os.path.join(env["HYPERION_TESTBED_DIR"], "run", "hyperiond.sock")
    return DEFAULT_SOCKET


def munge_credential(payload: str = "", timeout: float = 10.0) -> str:
    """A fresh credential from ``munge`` carrying ``payload`` (argv, no shell);
    :class:`MungeError` if impossible."""
    exe = shutil.which("munge")
    if exe is None:
        raise MungeError(
            "munge is not installed (no `munge` on PATH); it is needed to reach hyperiond over "
            "TCP ($HYPERION_URL)",
            hint="install MUNGE (e.g. `apt-get install munge`) with the site's key and a running "
            "munged, or unset HYPERION_URL to use the local Unix socket",
        )
    try:
        done = subprocess.run(
            [exe, "-s", payload] if payload else [exe, "-n"],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise MungeError(f"`munge -n` could not run: {exc}", hint="is munged running?") from None
    credential = done.stdout.strip()
    if done.returncode != 0 or not credential:
        why = done.stderr.strip() or f"exit status {done.returncode}"
        raise MungeError(f"`munge -n` failed: {why}", hint="is munged running?")
    return credential


class Client:
    """hyperiond's API v1. Methods return payloads; errors raise HyperionError subclasses."""

    def __init__(
        self,
        *,
        socket_path: str | None = None,
        url: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        env: Mapping[str, str] | None = None,
    ) -> None:
        env = os.environ if env is None else env
        self.timeout = timeout
        self.url = url or (None if socket_path else env.get("HYPERION_URL") or None)
        self.socket_path = socket_path or default_socket(env)
        self._prefix = API_PREFIX
        self._netloc = ("", 0, False)
        if self.url:
            parts = urlsplit(self.url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise HyperionError(
                    f"HYPERION_URL {self.url!r} is not an http:// or https:// URL",
                    hint="write it as http://host:port",
                )
            https = parts.scheme == "https"
            self._netloc = (parts.hostname, parts.port or (443 if https else 80), https)
            self._prefix = parts.path.rstrip("/") + API_PREFIX
        self.last_envelope: dict[str, Any] = {}
        self.last_warnings: list[str] = []

    @property
    def where(self) -> str:
        """The daemon's address, for messages."""
        return self.url or self.socket_path

    # ------------------------------------------------------------------ API
    def ping(self) -> dict[str, Any]:
        """``GET /ping``: the envelope (``meta`` names the daemon's version and our user)."""
        return self.request("GET", "/ping")

    def submit(
        self,
        argv: Sequence[str],
        script: str | None,
        script_path: str | None,
        script_args: Sequence[str],
        env: Mapping[str, str],
        cwd: str,
        test_only: bool = False,
        *,
        site: str | None = None,
        policy: str | None = None,
        carbon_flex: str | None = None,
    ) -> dict[str, Any]:
        """``POST /jobs``: the envelope, with ``job`` (201) or, for ``test_only``, ``decision``.

        ``argv`` holds sbatch's options only; ``site`` (a pin), ``policy`` and ``carbon_flex``
        travel as fields of their own, sent only when given.
        """
        body: dict[str, Any] = {
            "argv": list(argv),
            "script": script,
            "script_path": script_path,
            "script_args": list(script_args),
            "env": dict(env),
            "cwd": cwd,
            "test_only": test_only,
        }
        extra = (("site", site), ("policy", policy), ("carbon_flex", carbon_flex))
        body.update({k: v for k, v in extra if v is not None})
        doc = self.request("POST", "/jobs", body=body)
        _dict(doc, "decision" if test_only else "job")
        return doc

    def jobs(
        self,
        all: bool = False,  # noqa: A002 - the API's query parameter
        user: str | None = None,
        site: str | None = None,
        state: str | None = None,
    ) -> list[dict[str, Any]]:
        """``GET /jobs``: the jobs the caller may see, filtered."""
        query = {"all": "1" if all else None, "user": user, "site": site, "state": state}
        doc = self.request("GET", "/jobs", query={k: v for k, v in query.items() if v})
        return _list(doc, "jobs")

    def job(self, job_id: str) -> dict[str, Any]:
        """``GET /jobs/{id}``: one job with its ``attempts``."""
        return _dict(self.request("GET", f"/jobs/{_seg(job_id)}"), "job")

    def cancel(self, job_id: str) -> dict[str, Any]:
        """``DELETE /jobs/{id}``: the job after the cancel request."""
        return _dict(self.request("DELETE", f"/jobs/{_seg(job_id)}"), "job")

    def sites(self) -> list[dict[str, Any]]:
        """``GET /sites``: every site's status."""
        return _list(self.request("GET", "/sites"), "sites")

    def report(
        self, by: str = "user", since: float | None = None, until: float | None = None
    ) -> dict[str, Any]:
        """``GET /report``: ledger totals per user, account or site (docs/ledger.md)."""
        query = {"by": by, "since": since, "until": until}
        shown = {k: str(v) for k, v in query.items() if v is not None}
        return _dict(self.request("GET", "/report", query=shown), "report")

    def drain(self, site: str) -> dict[str, Any]:
        """``POST /sites/{name}/drain`` (admins): no new jobs go to the site."""
        return _dict(self.request("POST", f"/sites/{_seg(site)}/drain"), "site")

    def resume(self, site: str) -> dict[str, Any]:
        """``POST /sites/{name}/resume`` (admins): the site takes jobs again."""
        return _dict(self.request("POST", f"/sites/{_seg(site)}/resume"), "site")

    # ------------------------------------------------------------ transport
    def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """One request; the parsed envelope of a successful answer."""
        target = self._prefix + path + (f"?{urlencode(query)}" if query else "")
        headers = {"Accept": "application/json", "User-Agent": f"hyperion-client/{__version__}"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self.url:
            digest = request_digest(method, target, data or b"")
            headers[MUNGE_HEADER] = munge_credential(digest)
        connected: list[bool] = []
        try:
            if self.url:
                status, reason, raw = self._tcp_request(method, target, headers, data, connected)
            else:
                status, reason, raw = unix_request(
                    self.socket_path,
                    method,
                    target,
                    headers,
                    data,
                    self.timeout,
                    on_connect=lambda: connected.append(True),
                )
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            raise self._not_running(exc) from None
        except PermissionError:
            raise DaemonUnreachable(
                f"permission denied on hyperiond's socket {self.socket_path}",
                hint="ask an admin to make the socket reachable for your user",
            ) from None
        except TimeoutError:
            raise self._timeout(method, bool(connected)) from None
        except OSError as exc:
            raise DaemonUnreachable(
                f"lost the connection to hyperiond at {self.where} during {method} {path}: {exc}",
                hint=_effect_hint(method),
            ) from None
        return self._envelope(method, path, status, reason, raw)

    def _tcp_request(
        self,
        method: str,
        target: str,
        headers: dict[str, str],
        data: bytes | None,
        connected: list[bool],
    ) -> tuple[int, str, bytes]:
        """One request over TCP (http.client, imported only here)."""
        import http.client

        host, port, https = self._netloc
        cls = http.client.HTTPSConnection if https else http.client.HTTPConnection
        conn = cls(host, port, timeout=self.timeout)
        try:
            conn.connect()
            connected.append(True)
            conn.request(method, target, body=data, headers=headers)
            response = conn.getresponse()
            return response.status, response.reason, response.read()
        except http.client.HTTPException as exc:
            raise ProtocolError(str(exc) or type(exc).__name__) from None
        finally:
            conn.close()

    def _not_running(self, exc: OSError) -> DaemonNotRunning:
        if self.url:
            where = f"nothing listening at {self.url}"
        elif isinstance(exc, FileNotFoundError):
            where = f"no socket at {self.socket_path}"
        else:
            where = f"connection refused at {self.socket_path}"
        return DaemonNotRunning(f"hyperiond is not running ({where}): {_START_HINT}")

    def _timeout(self, method: str, connected: bool) -> DaemonUnreachable:
        if not connected:
            return DaemonUnreachable(
                f"hyperiond at {self.where} did not accept a connection within {self.timeout:g} s"
            )
        return DaemonUnreachable(
            f"hyperiond at {self.where} did not answer within {self.timeout:g} s",
            hint=_effect_hint(method),
        )

    def _envelope(
        self, method: str, path: str, status: int, reason: str, raw: bytes
    ) -> dict[str, Any]:
        where = f"{method} {self._prefix}{path}"
        try:
            doc = json.loads(raw) if raw.strip() else {}
        except (ValueError, UnicodeDecodeError):
            doc = None
        if not isinstance(doc, dict):
            raise api_error(
                status, [], f"hyperiond answered {where} with HTTP {status} and a non-JSON body"
            )
        errors = [_error_item(e) for e in _as_list(doc.get("errors"))]
        self.last_envelope = doc
        self.last_warnings = [_warning_text(w) for w in _as_list(doc.get("warnings"))]
        if not 200 <= status < 300 or errors:
            raise api_error(status, errors, f"hyperiond answered {where} with {status} {reason}")
        return doc


def _seg(text: str) -> str:
    return quote(text, safe="")


def _effect_hint(method: str) -> str | None:
    if method in ("POST", "DELETE"):
        return "the request may still have taken effect: check with `hq`"
    return None


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _error_item(item: Any) -> dict[str, Any]:
    if isinstance(item, dict):
        text = item.get("error") or item.get("description") or json.dumps(item)
        out: dict[str, Any] = {"error": str(text)}
        if item.get("hint"):
            out["hint"] = str(item["hint"])
        return out
    return {"error": str(item)}


def _warning_text(item: Any) -> str:
    if isinstance(item, dict):
        return str(item.get("warning") or item.get("description") or json.dumps(item))
    return str(item)


def _missing(key: str, kind: str) -> ApiError:
    return ApiError(200, [], fallback=f"hyperiond's answer has no {key!r} ({kind}); is it API v1?")


def _dict(doc: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = doc.get(key)
    if not isinstance(value, dict):
        raise _missing(key, "an object")
    return value


def _list(doc: Mapping[str, Any], key: str) -> list[dict[str, Any]]:
    value = doc.get(key)
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise _missing(key, "a list of objects")
    return value
