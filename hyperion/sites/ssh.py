"""The ``ssh`` transport: Slurm's CLI on a login node over one persistent SSH connection.

* paramiko, one connection per site, kept alive (``keepalive_s``) and re-opened when it drops;
* host keys only from the site's ``known_hosts`` file (``RejectPolicy``): an unknown or changed
  key is refused with :class:`HostKeyMismatch`;
* every word of a command is ``shlex.quote``-d; the job script travels on stdin, never inside
  the command string.
"""

from __future__ import annotations

import select
import shlex
import socket
import threading
import time
from typing import TYPE_CHECKING

from hyperion.config.schema import SshAccess
from hyperion.errors import AuthenticationRefused, HostKeyMismatch, SiteUnreachable
from hyperion.sites.base import SubmitOutcomeUnknown
from hyperion.sites.cli import CliConnector, CommandResult

if TYPE_CHECKING:
    import paramiko


class SshConnector(CliConnector):
    """Runs the Slurm CLI over SSH. See :class:`hyperion.sites.base.SiteConnector`."""

    def __init__(self, site: str, access: SshAccess) -> None:
        super().__init__(
            site,
            slurm_conf=str(access.slurm_conf) if access.slurm_conf else None,
            bin_dir=str(access.bin_dir) if access.bin_dir else None,
            submit_as=access.submit_as,
            timeout_s=access.command_timeout_s,
        )
        self.access = access
        self._client: paramiko.SSHClient | None = None
        self._lock = threading.Lock()

    def _login_user(self) -> str:
        return self.access.user

    # -- connection -----------------------------------------------------------------------
    def _connect(self) -> paramiko.SSHClient:
        import paramiko

        a = self.access
        if not a.known_hosts.is_file():
            raise HostKeyMismatch(
                self.site, f"known_hosts file {a.known_hosts} does not exist",
                hint=f"record the host key: ssh-keyscan -p {a.port} {a.host} >> {a.known_hosts}",
            )
        client = paramiko.SSHClient()
        client.load_host_keys(str(a.known_hosts))
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        try:
            client.connect(
                a.host, port=a.port, username=a.user, key_filename=str(a.key_file),
                timeout=a.connect_timeout_s, banner_timeout=a.connect_timeout_s,
                auth_timeout=a.connect_timeout_s, allow_agent=False, look_for_keys=False,
            )
        except paramiko.BadHostKeyException as exc:
            client.close()
            raise HostKeyMismatch(
                self.site,
                f"host key of {a.host}:{a.port} differs from the one in {a.known_hosts} "
                f"(got {exc.key.get_name()} {exc.key.get_fingerprint().hex()})",
                hint="if the host was reinstalled, verify the new key out of band and update "
                "known_hosts; otherwise this may be an attack",
            ) from None
        except paramiko.AuthenticationException as exc:
            client.close()
            raise AuthenticationRefused(
                self.site, f"{a.user}@{a.host}:{a.port} refused key {a.key_file}: {exc}"
            ) from None
        except paramiko.SSHException as exc:
            client.close()
            if "not found in known_hosts" in str(exc):
                raise HostKeyMismatch(
                    self.site, f"host {a.host}:{a.port} is not in {a.known_hosts}",
                    hint=f"verify its key, then: ssh-keyscan -p {a.port} {a.host} >> {a.known_hosts}",
                ) from None
            raise SiteUnreachable(self.site, f"SSH to {a.host}:{a.port} failed: {exc}") from None
        except (OSError, EOFError) as exc:
            client.close()
            raise SiteUnreachable(self.site, f"cannot connect to {a.host}:{a.port}: {exc}") from None
        transport = client.get_transport()
        if transport is not None and a.keepalive_s:
            transport.set_keepalive(a.keepalive_s)
        return client

    def _transport(self, fresh: bool = False) -> paramiko.Transport:
        with self._lock:
            client = self._client
            transport = client.get_transport() if client else None
            if fresh or transport is None or not transport.is_active():
                if client is not None:
                    client.close()
                self._client = client = self._connect()
                transport = client.get_transport()
            assert transport is not None
            return transport

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    # -- commands -------------------------------------------------------------------------
    def _exec(self, argv: list[str], *, stdin: str | None, timeout: float,
              submitting: bool) -> CommandResult:
        import paramiko

        command = shlex.join(argv)
        for attempt in (0, 1):
            try:
                channel = self._transport(fresh=attempt == 1).open_session(timeout=timeout)
                break
            except (paramiko.SSHException, EOFError, OSError) as exc:
                if attempt == 1:
                    raise SiteUnreachable(self.site, f"SSH channel could not open: {exc}") from None
        try:
            channel.exec_command(command)
            if stdin is not None:
                channel.sendall(stdin.encode())
            channel.shutdown_write()
            return self._collect(channel, timeout)
        except (paramiko.SSHException, EOFError, OSError, TimeoutError) as exc:
            if submitting:
                raise SubmitOutcomeUnknown(
                    self.site, f"SSH failed while sbatch ran ({exc}); the job may exist"
                ) from None
            raise SiteUnreachable(self.site, f"SSH command failed: {exc}") from None
        finally:
            channel.close()

    @staticmethod
    def _collect(channel: paramiko.Channel, timeout: float) -> CommandResult:
        out, err = bytearray(), bytearray()
        deadline = time.monotonic() + timeout
        while True:
            while channel.recv_ready():
                out += channel.recv(65536)
            while channel.recv_stderr_ready():
                err += channel.recv_stderr(65536)
            # sshd may send exit-status before the last output: wait for EOF, not for the status
            if channel.eof_received and not channel.recv_ready() and not channel.recv_stderr_ready():
                break
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout(f"no exit status after {timeout:.0f}s")
            select.select([channel], [], [], min(left, 0.05))
        left = max(deadline - time.monotonic(), 0.1)
        if not channel.status_event.wait(left):
            raise socket.timeout(f"no exit status after {timeout:.0f}s")
        return CommandResult(channel.recv_exit_status(), out.decode(errors="replace"),
                             err.decode(errors="replace"))
