"""A small JSON-over-HTTP GET with the standard library; every failure is one ``FetchError``."""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any


class FetchError(Exception):
    """A provider call failed (HTTP error, timeout, refused connection, bad JSON or shape)."""


def get_json(url: str, *, timeout: float, headers: Mapping[str, str] | None = None) -> Any:
    """GET ``url`` and decode its JSON body; raise :class:`FetchError` on any failure."""
    req = urllib.request.Request(
        url, headers={"Accept": "application/json", "User-Agent": "hyperion", **(headers or {})}
    )
    where = url.split("?", 1)[0]
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # http(s): check_http_url
            body = resp.read()
    except urllib.error.HTTPError as exc:
        detail = ""
        try:
            detail = exc.read(200).decode("utf-8", "replace").strip()
        except (OSError, http.client.HTTPException):
            pass
        raise FetchError(
            f"HTTP {exc.code} {exc.reason} from {where}" + (f": {detail}" if detail else "")
        ) from None
    except urllib.error.URLError as exc:
        raise FetchError(f"cannot reach {where}: {exc.reason}") from None
    except (TimeoutError, OSError, http.client.HTTPException) as exc:
        raise FetchError(f"cannot read {where}: {exc or type(exc).__name__}") from None
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise FetchError(f"{where} did not answer JSON: {exc}") from None


def check_http_url(url: str, what: str) -> str:
    """``url`` without a trailing slash; only http(s) URLs are accepted (no file: or ftp:)."""
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"{what} must be an http:// or https:// URL, got {url!r}")
    return url.rstrip("/")
