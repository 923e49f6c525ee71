"""HTTP/1.1 over hyperiond's Unix socket, in a few lines of standard library.

The CLIs start with every request: ``http.client`` alone costs them about 17 ms of imports (it
pulls in ``email`` and ``ssl``), a fifth of an ``hsub``. hyperiond answers one request per
connection with a ``Content-Length``, so this sends one request with ``Connection: close`` and
reads the status line, the headers and the body. TCP (with MUNGE) still uses ``http.client``.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Mapping

#: the most header bytes accepted from the daemon
MAX_HEAD = 64 * 1024


class ProtocolError(OSError):
    """The other end did not answer with HTTP/1.x."""


def unix_request(
    path: str,
    method: str,
    target: str,
    headers: Mapping[str, str],
    body: bytes | None,
    timeout: float,
    on_connect: Callable[[], None] | None = None,
) -> tuple[int, str, bytes]:
    """(status, reason, body) of one request over the Unix socket at ``path``.

    ``on_connect``, if given, is called once the connection is made, so that a
    caller can tell a refused connection from a lost one. OSError subclasses on failure.
    """
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(path)
        if on_connect is not None:
            on_connect()
        sock.sendall(_encode(method, target, headers, body))
        return _read_response(sock)
    finally:
        sock.close()


def _encode(method: str, target: str, headers: Mapping[str, str], body: bytes | None) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", "Host: localhost", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    lines.append(f"Content-Length: {len(body or b'')}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


def _read_response(sock: socket.socket) -> tuple[int, str, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ProtocolError("the connection closed before a complete answer")
        data += chunk
        if len(data) > MAX_HEAD and b"\r\n\r\n" not in data:
            raise ProtocolError("the answer's headers are too long")
    head, _, rest = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise ProtocolError(f"not an HTTP answer: {status_line[:80]!r}")
    length = None
    for line in header_lines:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length" and value.strip().isdigit():
            length = int(value.strip())
    chunks = [rest]
    received = len(rest)
    while length is None or received < length:
        chunk = sock.recv(65536)
        if not chunk:
            if length is not None:
                raise ProtocolError(f"the answer ended after {received} of {length} bytes")
            break
        chunks.append(chunk)
        received += len(chunk)
    raw = b"".join(chunks)
    return int(parts[1]), parts[2] if len(parts) > 2 else "", raw[:length]
