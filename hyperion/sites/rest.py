"""The ``rest`` transport: slurmrestd, OpenAPI v0.0.38, JWT in ``X-SLURM-USER-*`` headers.

Tokens are minted per user with the cluster's JWT key (HS256, claims ``iat``/``exp``/``sun``,
as ``scontrol token`` makes them) or read from a file for a single user. Jobs are submitted as
JSON (``POST /job/submit``) with the script in the body. v0.0.38 has no ``--test-only``: the
start estimate is computed from a snapshot (``StartEstimate.source == "hyperion"``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterable
from typing import Any

import httpx

from hyperion.config.schema import RestAccess
from hyperion.errors import (
    AuthenticationRefused,
    JobRejected,
    SiteUnreachable,
    SlurmCommandError,
)
from hyperion.sites.base import (
    PartitionInfo,
    PreemptionSettings,
    SiteInfo,
    StartEstimate,
    Submission,
    SubmitOutcomeUnknown,
)
from hyperion.sites.common import SlurmJsonConnector
from hyperion.sites.estimate import estimate_from_snapshot
from hyperion.sites.rest_job import rest_job
from hyperion.sites.slurm_json import (
    envelope_errors,
    rest_partitions,
    slurm_version,
)
from hyperion.types import SiteState

#: a burst of placements reuses one snapshot for this long (v0.0.38 has no --test-only)
ESTIMATE_SNAPSHOT_S = 2.0


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint_jwt(key: bytes, user: str, lifespan_s: int, now: float | None = None) -> str:
    """An HS256 token for ``user`` that slurmctld (``AuthAltTypes=auth/jwt``) accepts."""
    iat = int(now if now is not None else time.time())
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    claims = {"iat": iat, "exp": iat + lifespan_s, "sun": user}
    payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
    signature = hmac.new(key, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(signature)}"


class RestConnector(SlurmJsonConnector):
    """slurmrestd client. See :class:`hyperion.sites.base.SiteConnector`."""

    def __init__(self, site: str, access: RestAccess) -> None:
        super().__init__(site)
        self.access = access
        self._http: httpx.Client | None = None
        self._tokens: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()
        self._prefix = f"/slurm/{access.api_version}"
        self._snapshot_cache: tuple[float, SiteState] | None = None

    # -- plumbing -----------------------------------------------------------------------
    def _client(self) -> httpx.Client:
        with self._lock:
            if self._http is None:
                self._http = httpx.Client(
                    base_url=self.access.url,
                    timeout=self.access.timeout_s,
                    verify=self.access.verify_tls,
                )
            return self._http

    def close(self) -> None:
        with self._lock:
            if self._http is not None:
                self._http.close()
                self._http = None

    def _token(self, user: str) -> str:
        a = self.access
        now = time.time()
        cached = self._tokens.get(user)
        if cached and cached[0] - 60 > now:
            return cached[1]
        try:
            if a.jwt_key_file is not None:
                token = mint_jwt(a.jwt_key_file.read_bytes(), user, a.token_lifespan_s, now)
                expires = now + a.token_lifespan_s
            else:
                assert a.token_file is not None
                if user != a.token_user:
                    raise AuthenticationRefused(
                        self.site,
                        f"the token in {a.token_file} is for {a.token_user!r}; "
                        f"cannot act as {user!r}",
                        hint="configure jwt_key_file to mint per-user tokens",
                    )
                token = a.token_file.read_text().strip().removeprefix("SLURM_JWT=")
                expires = now + 300
        except OSError as exc:
            raise AuthenticationRefused(
                self.site, f"cannot read the JWT credential: {exc}"
            ) from None
        self._tokens[user] = (expires, token)
        return token

    def _call(
        self,
        method: str,
        path: str,
        *,
        user: str | None = None,
        body: dict[str, Any] | None = None,
        submitting: bool = False,
    ) -> dict[str, Any]:
        user = user or self.access.admin_user
        headers = {"X-SLURM-USER-NAME": user, "X-SLURM-USER-TOKEN": self._token(user)}
        url = path if path.startswith("/slurmdb/") else self._prefix + path
        self.calls += 1
        try:
            resp = self._client().request(method, url, headers=headers, json=body)
        except httpx.TimeoutException as exc:
            if submitting:
                raise SubmitOutcomeUnknown(self.site, f"slurmrestd timed out: {exc}") from None
            raise SiteUnreachable(self.site, f"slurmrestd timed out: {exc}") from None
        except httpx.TransportError as exc:
            if submitting and not isinstance(exc, httpx.ConnectError):
                raise SubmitOutcomeUnknown(
                    self.site, f"slurmrestd connection broke: {exc}"
                ) from None
            raise SiteUnreachable(
                self.site, f"cannot reach slurmrestd at {self.access.url}: {exc}"
            ) from None
        if resp.status_code in (401, 403):
            raise AuthenticationRefused(
                self.site, f"slurmrestd refused the token for {user!r} (HTTP {resp.status_code})"
            )
        try:
            doc: dict[str, Any] = resp.json()
        except ValueError:
            raise SlurmCommandError(
                self.site, f"{method} {url}: HTTP {resp.status_code}, not JSON: {resp.text[:200]!r}"
            ) from None
        errors = envelope_errors(doc)
        if errors and "authentication" in " ".join(errors).lower():
            raise AuthenticationRefused(self.site, "; ".join(errors))
        if resp.status_code >= 500 and any(
            isinstance(e, dict) and e.get("error_number", e.get("errno")) == -1
            for e in doc.get("errors") or []
        ):
            # slurmrestd 22.05 does not check tokens itself: when slurmctld rejects one it
            # reports only "Unspecified error" (-1); nothing else produces that code here
            raise AuthenticationRefused(
                self.site,
                f"slurmctld rejected the request for {user!r}: {'; '.join(errors)}",
                hint="check that jwt_key_file is the key in slurm.conf AuthAltParameters=jwt_key=",
            )
        if errors and any("Unable to contact slurm controller" in e for e in errors):
            raise SiteUnreachable(self.site, "; ".join(errors))
        if errors and not submitting:
            raise SlurmCommandError(self.site, f"{method} {url}: {'; '.join(errors)}")
        return doc

    # -- contract -----------------------------------------------------------------------
    def ping(self) -> SiteInfo:
        doc = self._call("GET", "/ping")
        pings = doc.get("pings") or []
        if not pings or any(str(p.get("ping", "")).upper() != "UP" for p in pings[:1]):
            raise SiteUnreachable(self.site, f"slurmctld is not up: {pings}")
        # v0.0.38 exposes no cluster name; hctl check reports it as unknown
        return SiteInfo(cluster="", slurm_version=slurm_version(doc))

    def submit(self, sub: Submission) -> str:
        body = {"script": sub.script, "job": rest_job(sub)}
        doc = self._call("POST", "/job/submit", user=sub.user, body=body, submitting=True)
        job_id = doc.get("job_id")
        if not job_id:  # with a job id, "errors" are notices such as "Job is in held state"
            raise JobRejected(self.site, "; ".join(envelope_errors(doc)) or f"no job id in {doc}")
        return str(job_id)

    def _queue_doc(self) -> dict[str, Any]:
        return self._call("GET", "/jobs")

    def _nodes_doc(self) -> dict[str, Any]:
        return self._call("GET", "/nodes")

    def _accounting_doc(self, job_ids: list[str]) -> dict[str, Any]:
        # v0.0.38 has no job-id filter for the accounting list; one call, filtered here
        return self._call("GET", f"/slurmdb/{self.access.api_version}/jobs")

    def _accounting_since(self, since: float) -> dict[str, Any]:
        return self._accounting_doc([])  # v0.0.38 has no time filter: one call, filtered here

    def _fetch_partitions(self) -> list[PartitionInfo]:
        return rest_partitions(self._call("GET", "/partitions"))

    def cancel(self, job_ids: Iterable[str], user: str | None = None) -> None:
        ids = [str(j) for j in job_ids]
        if not ids:
            return
        # v0.0.38 cancels one job per request, as the job's owner
        owners = {j: s.user for j, s in self.jobs(ids).items() if not s.state.is_final}
        for job_id, owner in owners.items():
            doc = self._call(
                "DELETE", f"/job/{job_id}", user=user or owner or None, submitting=True
            )
            errors = [e for e in envelope_errors(doc) if "already" not in e.lower()]
            if errors:
                raise SlurmCommandError(self.site, f"cancel {job_id}: {'; '.join(errors)}")

    def estimate_start(self, sub: Submission) -> StartEstimate:
        rest_job(sub)  # the same validation as submit
        with self._lock:
            cached = self._snapshot_cache
        if cached is None or time.monotonic() - cached[0] > ESTIMATE_SNAPSHOT_S:
            cached = (time.monotonic(), self.snapshot())
            with self._lock:
                self._snapshot_cache = cached
        return estimate_from_snapshot(cached[1], sub)

    def preemption(self) -> PreemptionSettings:
        parts = self.partitions()
        modes = {p.name: p.preempt_mode for p in parts}
        active = any(m not in {"OFF", "DISABLED", ""} for m in modes.values())
        return PreemptionSettings(
            preempt_type="unknown (slurmrestd v0.0.38 does not expose PreemptType)"
            if active
            else "preempt/none",
            preempt_mode="OFF" if not active else "PER-PARTITION",
            partition_modes=modes,
        )
