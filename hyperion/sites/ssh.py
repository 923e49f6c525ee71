"""The ``ssh`` transport: Slurm's CLI on a login node over one persistent SSH connection.

* paramiko, one connection per site, kept alive (``keepalive_s``) and re-opened when it drops;
* host keys only from the site's ``known_hosts`` file (``RejectPolicy``): an unknown or changed
  key is refused with :class:`HostKeyMismatch`;
* every word of a command is ``shlex.quote``-d; the job script travels on stdin, never inside
  the command string.
"""

from __future__ import annotations

import json
import select
import shlex
import threading
import time
from typing import TYPE_CHECKING, Any

from hyperion.config.schema import SshAccess
from hyperion.errors import AuthenticationRefused, HostKeyMismatch, SiteUnreachable
from hyperion.sites.base import SubmitOutcomeUnknown
from hyperion.sites.cli import CliConnector, CommandResult

if TYPE_CHECKING:
    import paramiko

#: The persistent remote runner (Python 3, standard library only), started once per connection
#: with ``python3 -c``. It reads length-prefixed JSON requests ``{argv, stdin, timeout}`` and runs
#: each argv with ``subprocess.run`` (no shell); replies ``{rc, out, err}`` or ``{timeout: true}``.
#: It spares every command the remote login shell and its start-up files (often 100 ms or more).
RUNNER = r"""
import json, subprocess, sys
r, w = sys.stdin.buffer, sys.stdout.buffer
def send(obj):
    data = json.dumps(obj).encode()
    w.write(b"%d\n" % len(data) + data)
    w.flush()
while True:
    head = r.readline()
    if not head:
        break
    size = int(head)
    if size == 0:
        send({"runner": 1})
        continue
    req = json.loads(r.read(size))
    try:
        data = req["stdin"].encode() if req.get("stdin") is not None else None
        p = subprocess.run(req["argv"], input=data, capture_output=True, timeout=req["timeout"])
        send({"rc": p.returncode, "out": p.stdout.decode(errors="replace"),
              "err": p.stderr.decode(errors="replace")})
    except subprocess.TimeoutExpired:
        send({"timeout": True})
    except OSError as exc:
        send({"rc": 127, "out": "", "err": str(exc)})
"""


def _read_frame(channel: paramiko.Channel) -> dict[str, Any]:
    """One length-prefixed JSON reply from the runner."""
    head = bytearray()
    while not head.endswith(b"\n"):
        byte = channel.recv(1)
        if not byte:
            raise EOFError("the remote runner exited")
        head += byte
        if len(head) > 20:
            raise ValueError(f"bad frame header from the remote runner: {bytes(head)!r}")
    size = int(head)
    body = bytearray()
    while len(body) < size:
        chunk = channel.recv(min(size - len(body), 1 << 20))
        if not chunk:
            raise EOFError("the remote runner exited mid-reply")
        body += chunk
    reply: dict[str, Any] = json.loads(body)
    return reply


class SshConnector(CliConnector):
    """Runs the Slurm CLI over SSH. See :class:`hyperion.sites.base.SiteConnector`."""

    def __init__(self, site: str, access: SshAccess) -> None:
        super().__init__(site, access)
        self.access = access
        self._client: paramiko.SSHClient | None = None
        self._lock = threading.Lock()
        self._runner: paramiko.Channel | None = None
        self._runner_missing = False
        self._runner_lock = threading.Lock()

    def _login_user(self) -> str:
        return self.access.user

    # -- connection -----------------------------------------------------------------------
    def _connect(self) -> paramiko.SSHClient:
        import paramiko

        a = self.access
        if not a.known_hosts.is_file():
            raise HostKeyMismatch(
                self.site,
                f"known_hosts file {a.known_hosts} does not exist",
                hint=f"record the host key: ssh-keyscan -p {a.port} {a.host} >> {a.known_hosts}",
            )
        client = paramiko.SSHClient()
        client.load_host_keys(str(a.known_hosts))
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        try:
            client.connect(
                a.host,
                port=a.port,
                username=a.user,
                key_filename=str(a.key_file),
                timeout=a.connect_timeout_s,
                banner_timeout=a.connect_timeout_s,
                auth_timeout=a.connect_timeout_s,
                allow_agent=False,
                look_for_keys=False,
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
                    self.site,
                    f"host {a.host}:{a.port} is not in {a.known_hosts}",
                    hint=f"verify its key, then: ssh-keyscan -p {a.port} {a.host} >> "
                    f"{a.known_hosts}",
                ) from None
            raise SiteUnreachable(self.site, f"SSH to {a.host}:{a.port} failed: {exc}") from None
        except (OSError, EOFError) as exc:
            client.close()
            raise SiteUnreachable(
                self.site, f"cannot connect to {a.host}:{a.port}: {exc}"
            ) from None
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
        with self._runner_lock:
            self._drop_runner()
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    # -- commands -------------------------------------------------------------------------
    def _exec(
        self, argv: list[str], *, stdin: str | None, timeout: float, submitting: bool
    ) -> CommandResult:
        if self.access.remote_runner:
            result = self._run_in_runner(argv, stdin=stdin, timeout=timeout, submitting=submitting)
            if result is not None:
                return result
        return self._exec_channel(argv, stdin=stdin, timeout=timeout, submitting=submitting)

    def _open_channel(self, timeout: float) -> paramiko.Channel:
        import paramiko

        for attempt in (0, 1):
            try:
                return self._transport(fresh=attempt == 1).open_session(timeout=timeout)
            except (paramiko.SSHException, EOFError, OSError) as exc:
                if attempt == 1:
                    raise SiteUnreachable(self.site, f"SSH channel could not open: {exc}") from None
        raise AssertionError("unreachable")

    def _exec_channel(
        self, argv: list[str], *, stdin: str | None, timeout: float, submitting: bool
    ) -> CommandResult:
        """One SSH channel per command: the remote login shell runs the quoted argv."""
        import paramiko

        channel = self._open_channel(timeout)
        try:
            channel.exec_command(shlex.join(argv))
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

    # -- the persistent remote runner -----------------------------------------------------
    def _runner_channel(self, timeout: float) -> paramiko.Channel | None:
        """The runner's channel, started on first use; None if the login node has no python3."""
        if self._runner is not None and not self._runner.closed and self._runner.active:
            return self._runner
        if self._runner_missing:
            return None
        channel = self._open_channel(timeout)
        channel.exec_command(shlex.join(["exec", "python3", "-c", RUNNER]))
        channel.settimeout(timeout)
        channel.sendall(b"0\n")  # ping: the runner answers an empty request with its banner
        try:
            banner = _read_frame(channel)
        except (OSError, EOFError, ValueError):
            channel.close()
            self._runner_missing = True
            return None
        if banner.get("runner") != 1:
            channel.close()
            self._runner_missing = True
            return None
        self._runner = channel
        return channel

    def _run_in_runner(
        self, argv: list[str], *, stdin: str | None, timeout: float, submitting: bool
    ) -> CommandResult | None:
        """Run argv in the persistent runner (no shell, no login scripts); None to fall back."""
        import paramiko

        with self._runner_lock:
            try:
                channel = self._runner_channel(timeout)
            except (paramiko.SSHException, EOFError, OSError):
                self._drop_runner()
                return None
            if channel is None:
                return None
            request = json.dumps({"argv": argv, "stdin": stdin, "timeout": timeout}).encode()
            sent = False
            try:
                channel.settimeout(timeout + 5)
                channel.sendall(b"%d\n" % len(request) + request)
                sent = True
                reply = _read_frame(channel)
            except (paramiko.SSHException, EOFError, OSError, ValueError) as exc:
                self._drop_runner()
                if sent and submitting:
                    raise SubmitOutcomeUnknown(
                        self.site, f"SSH failed while sbatch ran ({exc}); the job may exist"
                    ) from None
                if sent:
                    raise SiteUnreachable(self.site, f"SSH command failed: {exc}") from None
                return None
        if reply.get("timeout"):
            if submitting:
                raise SubmitOutcomeUnknown(
                    self.site, f"sbatch timed out after {timeout:.0f}s; the job may exist"
                )
            raise SiteUnreachable(self.site, f"Slurm command timed out after {timeout:.0f}s")
        return CommandResult(int(reply["rc"]), str(reply["out"]), str(reply["err"]))

    def _drop_runner(self) -> None:
        if self._runner is not None:
            self._runner.close()
        self._runner = None

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
            if (
                channel.eof_received
                and not channel.recv_ready()
                and not channel.recv_stderr_ready()
            ):
                break
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no exit status after {timeout:.0f}s")
            select.select([channel], [], [], min(left, 0.05))
        left = max(deadline - time.monotonic(), 0.1)
        if not channel.status_event.wait(left):
            raise TimeoutError(f"no exit status after {timeout:.0f}s")
        return CommandResult(
            channel.recv_exit_status(), out.decode(errors="replace"), err.decode(errors="replace")
        )
