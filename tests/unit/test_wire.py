"""The CLIs' small HTTP/1.1 client over a Unix socket, against a scripted server."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from hyperion.api.wire import ProtocolError, unix_request


def serve_once(path: Path, answer: list[bytes], seen: list[bytes]) -> threading.Thread:
    """A server that reads one request, then writes ``answer`` in pieces and closes."""
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(str(path))
    srv.listen(1)

    def run() -> None:
        conn, _ = srv.accept()
        data = b""
        while b"\r\n\r\n" not in data:
            data += conn.recv(65536)
        head, _, body = data.partition(b"\r\n\r\n")
        length = next(
            (
                int(h.split(b":")[1])
                for h in head.split(b"\r\n")
                if h.lower().startswith(b"content-length")
            ),
            0,
        )
        while len(body) < length:
            body += conn.recv(65536)
        seen.append(head + b"\r\n\r\n" + body)
        for piece in answer:
            conn.sendall(piece)
        conn.close()
        srv.close()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def ask(
    path: Path, answer: list[bytes], body: bytes | None = b'{"a": 1}'
) -> tuple[int, str, bytes]:
    seen: list[bytes] = []
    t = serve_once(path, answer, seen)
    try:
        return unix_request(str(path), "POST", "/x?y=1", {"Accept": "application/json"}, body, 5)
    finally:
        t.join(5)
        if seen:
            assert seen[0].startswith(b"POST /x?y=1 HTTP/1.1\r\n")
            assert seen[0].endswith(body or b"\r\n\r\n")


def test_an_answer_in_pieces_with_a_length(tmp_path: Path) -> None:
    answer = [b"HTTP/1.1 201 Created\r\nContent-Le", b"ngth: 11\r\n\r\nhello", b" world"]
    assert ask(tmp_path / "s", answer) == (201, "Created", b"hello world")


def test_an_answer_without_a_length_is_read_to_the_end(tmp_path: Path) -> None:
    assert ask(tmp_path / "s", [b"HTTP/1.0 200 OK\r\n\r\n", b"abc"], body=None) == (
        200,
        "OK",
        b"abc",
    )


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ([b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"], "after 5 of 10 bytes"),
        ([b"SSH-2.0-OpenSSH\r\n\r\n"], "not an HTTP answer"),
        ([b"HTTP/1.1 200 OK\r\nContent-"], "closed before a complete answer"),
    ],
)
def test_broken_answers_are_protocol_errors(
    tmp_path: Path, answer: list[bytes], message: str
) -> None:
    with pytest.raises(ProtocolError, match=message):
        ask(tmp_path / "s", answer)


def test_no_socket_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        unix_request(str(tmp_path / "none"), "GET", "/", {}, None, 1)
