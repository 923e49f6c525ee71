"""Who is calling: the kernel's word on a Unix socket, MUNGE's over TCP.

* Unix socket: ``SO_PEERCRED`` gives the peer's uid; nobody can claim another.
* TCP: the client sends a MUNGE credential (``munge -n``) in ``X-Hyperion-Munge``; ``unmunge``
  decodes it with the local munged and reports the UID that made it. MUNGE refuses replayed and
  expired credentials.
"""

from __future__ import annotations

import grp
import hmac
import pwd
import socket
import struct
import subprocess
from dataclasses import dataclass

from hyperion.errors import HyperionError

_UCRED = struct.Struct("3i")


class IdentityError(HyperionError):
    """The caller could not be identified (no or bad credential)."""


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated caller."""

    uid: int
    user: str
    admin: bool


def peer_uid(sock: socket.socket) -> int:
    """The uid of the process at the other end of a Unix stream socket."""
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    _pid, uid, _gid = _UCRED.unpack(raw)
    return int(uid)


def munge_uid(credential: str, expected_payload: str, timeout: float = 5.0) -> int:
    """Decode a MUNGE credential with ``unmunge``; return the UID that made it, provided its
    payload is ``expected_payload`` (the digest of the request it came with)."""
    try:
        proc = subprocess.run(
            ["unmunge", "--numeric"],
            input=credential.strip().encode(),
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError:
        raise IdentityError("MUNGE is not installed on the daemon host (no unmunge)") from None
    except subprocess.TimeoutExpired:
        raise IdentityError("unmunge did not answer: is munged running?") from None
    if proc.returncode != 0:
        reason = proc.stderr.decode(errors="replace").strip() or f"exit {proc.returncode}"
        raise IdentityError(f"MUNGE credential refused: {reason}")
    meta, _, payload = proc.stdout.decode(errors="replace").partition("\n\n")
    if not hmac.compare_digest(payload, expected_payload):
        raise IdentityError("MUNGE credential was made for another request")
    for line in meta.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "UID":
            return int(value.split()[0])
    raise IdentityError("MUNGE credential carries no UID")


def caller(uid: int, admin_group: str) -> Caller:
    """The caller for ``uid``: user name from the password database; admin when root or a
    member of ``admin_group``."""
    try:
        entry = pwd.getpwuid(uid)
    except KeyError:
        raise IdentityError(f"uid {uid} has no user name on the daemon host") from None
    admin = uid == 0
    if not admin:
        try:
            group = grp.getgrnam(admin_group)
            admin = entry.pw_name in group.gr_mem or entry.pw_gid == group.gr_gid
        except KeyError:
            admin = False
    return Caller(uid=uid, user=entry.pw_name, admin=admin)
