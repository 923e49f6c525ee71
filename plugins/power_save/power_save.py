#!/usr/bin/python3
"""Slurm power-saving ResumeProgram / SuspendProgram for cloud burst partitions.

slurm.conf points ResumeProgram/SuspendProgram at a two-line wrapper that runs

    power_save.py resume  --config power_save.json HOSTLIST
    power_save.py suspend --config power_save.json HOSTLIST

The JSON config names a provider and its settings. Providers:

* ``local``: "boots" a node by starting its slurmd on this machine after ``boot_delay_s``
  (the testbed's emulated cloud), and powers it down by stopping that slurmd.

Standard library only (slurmctld runs it with a bare environment). Two traps handled here, both
seen on Slurm 22.05: slurmd started straight from the resume program hangs unless it is detached
with a clean environment, and it inherits slurmctld's blocked signal mask (then ignores SIGTERM),
so the mask is cleared before exec and suspend falls back to SIGKILL.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

SLURMD = "/usr/sbin/slurmd"


def log(config: dict[str, object], message: str) -> None:
    path = config.get("log")
    line = f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {message}\n"
    if isinstance(path, str):
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(line)


def expand_hostlist(hostlist: str, slurm_conf: str) -> list[str]:
    """Expand a Slurm hostlist ("c[1-3],c7") with scontrol, as Slurm itself does."""
    out = subprocess.run(
        ["scontrol", "show", "hostnames", hostlist],
        env={"PATH": "/usr/bin:/bin", "SLURM_CONF": slurm_conf},
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return out.stdout.split()


def pidfile(config: dict[str, object], node: str) -> Path:
    return Path(str(config["pid_dir"])) / f"slurmd-{node}.pid"


class LocalProvider:
    """Emulated cloud: each node is a slurmd process on this host."""

    def __init__(self, config: dict[str, object], config_path: str) -> None:
        self.config = config
        self.config_path = config_path

    def resume(self, nodes: list[str]) -> None:
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        for node in nodes:
            subprocess.Popen(
                [
                    sys.executable,
                    os.path.abspath(__file__),
                    "boot",
                    "--config",
                    self.config_path,
                    node,
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
                env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
            )
            log(
                self.config, f"resume {node}: booting (delay {self.config.get('boot_delay_s', 0)}s)"
            )

    def boot(self, node: str) -> None:
        """Runs detached: wait out the boot delay, then become the node's slurmd."""
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        time.sleep(float(self.config.get("boot_delay_s", 0)))  # type: ignore[arg-type]
        pf = pidfile(self.config, node)
        if pf.exists():
            try:
                running = int(pf.read_text().split()[0])
            except (ValueError, IndexError):
                running = 0
            if running and _alive(running):
                # a second resume of a node that is up: a second slurmd would fail to bind its
                # port, and on exit remove the pid file, leaving the first one untracked
                log(self.config, f"boot {node}: slurmd {running} is already running")
                return
        pf.parent.mkdir(parents=True, exist_ok=True)
        pf.write_text(f"{os.getpid()}\n")
        env = {
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
            "SLURM_CONF": str(self.config["slurm_conf"]),
        }
        os.execve(SLURMD, [SLURMD, "-D", "-b", "-N", node], env)

    def suspend(self, nodes: list[str]) -> None:
        for node in nodes:
            pf = pidfile(self.config, node)
            try:
                pid = int(pf.read_text().split()[0])
            except (OSError, ValueError, IndexError):
                log(self.config, f"suspend {node}: no pid file, nothing to stop")
                continue
            if not _signal(pid, signal.SIGTERM):
                pf.unlink(missing_ok=True)
                continue
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and _alive(pid):
                time.sleep(0.1)
            if _alive(pid):
                _signal(pid, signal.SIGKILL)
            pf.unlink(missing_ok=True)
            log(self.config, f"suspend {node}: slurmd {pid} stopped")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _signal(pid: int, sig: int) -> bool:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return False
    return True


PROVIDERS = {"local": LocalProvider}


def main(argv: list[str]) -> int:
    if len(argv) != 4 or argv[0] not in {"resume", "suspend", "boot"} or argv[1] != "--config":
        print("usage: power_save.py resume|suspend --config FILE HOSTLIST", file=sys.stderr)
        return 2
    verb, config_path, target = argv[0], argv[2], argv[3]
    config = json.loads(Path(config_path).read_text(encoding="utf-8"))
    kind = config.get("provider")
    if kind not in PROVIDERS:
        print(
            f"power_save: unknown provider {kind!r} in {config_path}; "
            f"known: {', '.join(PROVIDERS)}",
            file=sys.stderr,
        )
        return 2
    provider = PROVIDERS[kind](config, config_path)
    if verb == "boot":
        provider.boot(target)
        return 0
    nodes = expand_hostlist(target, str(config["slurm_conf"]))
    getattr(provider, verb)(nodes)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
