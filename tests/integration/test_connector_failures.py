"""Typed failures of the connectors against real daemons: wrong host keys, refused credentials,
dead endpoints. Each must fail with its own error class, within a bounded time."""

from __future__ import annotations

import secrets
import subprocess
import time
from pathlib import Path

import pytest

from hyperion.config import HyperionConfig
from hyperion.errors import AuthenticationRefused, HostKeyMismatch, SiteUnreachable
from hyperion.sites import connect


def _with_access(config: HyperionConfig, site: str, **changes: object):  # type: ignore[no-untyped-def]
    cfg = config.site(site)
    return cfg.model_copy(update={"access": cfg.access.model_copy(update=changes)})


def test_ssh_changed_host_key_is_refused(config: HyperionConfig, tmp_path: Path) -> None:
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    pub = (tmp_path / "other_key.pub").read_text().split()
    port = config.site("alpha").access.port  # type: ignore[union-attr]
    kh = tmp_path / "known_hosts"
    kh.write_text(f"[127.0.0.1]:{port} {pub[0]} {pub[1]}\n")
    conn = connect(_with_access(config, "alpha", known_hosts=kh))
    with pytest.raises(HostKeyMismatch, match="differs"):
        conn.ping()


def test_ssh_unknown_host_is_refused(config: HyperionConfig, tmp_path: Path) -> None:
    kh = tmp_path / "known_hosts"
    kh.write_text("")
    conn = connect(_with_access(config, "alpha", known_hosts=kh))
    with pytest.raises(HostKeyMismatch, match="not in"):
        conn.ping()


def test_ssh_wrong_key_is_refused(config: HyperionConfig, tmp_path: Path) -> None:
    key = tmp_path / "id_wrong"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    conn = connect(_with_access(config, "alpha", key_file=key))
    with pytest.raises(AuthenticationRefused):
        conn.ping()


def test_ssh_closed_port_is_unreachable(config: HyperionConfig) -> None:
    conn = connect(_with_access(config, "alpha", port=1, connect_timeout_s=2.0))
    with pytest.raises(SiteUnreachable):
        conn.ping()


def test_ssh_reconnects_after_the_connection_drops(config: HyperionConfig) -> None:
    conn = connect(config.site("alpha"))
    conn.ping()
    transport = conn._transport()  # type: ignore[attr-defined]
    transport.close()  # as if the network dropped it
    assert conn.ping().cluster == "alpha"
    conn.close()


def test_rest_wrong_jwt_key_is_refused(config: HyperionConfig, tmp_path: Path) -> None:
    key = tmp_path / "jwt.key"
    key.write_bytes(secrets.token_bytes(32))
    conn = connect(_with_access(config, "beta", jwt_key_file=key))
    with pytest.raises(AuthenticationRefused):
        conn.jobs()


def test_rest_dead_endpoint_is_unreachable(config: HyperionConfig) -> None:
    conn = connect(_with_access(config, "beta", url="http://127.0.0.1:1", timeout_s=2.0))
    with pytest.raises(SiteUnreachable):
        conn.ping()


def test_local_dead_controller_is_unreachable_within_timeout(
    config: HyperionConfig, tmp_path: Path
) -> None:
    real = config.site("gamma").access.slurm_conf  # type: ignore[union-attr]
    assert real is not None
    text = Path(real).read_text()
    dead = tmp_path / "slurm.conf"
    dead.write_text(text.replace("SlurmctldPort=17017", "SlurmctldPort=1"))
    conn = connect(_with_access(config, "gamma", slurm_conf=dead, command_timeout_s=5.0))
    start = time.monotonic()
    with pytest.raises(SiteUnreachable):
        conn.ping()
    assert time.monotonic() - start < 15
