"""What a MUNGE credential binds a TCP request to: method, target and body.

The client puts ``request_digest(...)`` into the credential's payload (``munge -s``); the daemon
recomputes it from the request it received. A credential taken from one request therefore
cannot authenticate another one (MUNGE itself refuses a replayed credential).
"""

from __future__ import annotations

import hashlib


def request_digest(method: str, target: str, body: bytes) -> str:
    """Hex SHA-256 over ``METHOD\\nTARGET\\n`` and the body bytes."""
    h = hashlib.sha256(f"{method.upper()}\n{target}\n".encode())
    h.update(body)
    return h.hexdigest()
