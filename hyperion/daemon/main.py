"""``hyperiond``: the federation daemon (API + background loops).

    hyperiond [--config FILE] [--db URL] [--socket PATH] [--listen HOST:PORT] [--foreground]

Configuration: --config > $HYPERION_CONFIG > /etc/hyperion/sites.toml; database: --db >
$HYPERION_DB > sqlite:////var/lib/hyperion/hyperion.db; socket: --socket > $HYPERION_SOCKET >
/run/hyperion/hyperiond.sock. SIGTERM/SIGINT stop it cleanly.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from hyperion.cli.common import config_path, run_main
from hyperion.errors import ConfigError

DEFAULT_SOCKET = "/run/hyperion/hyperiond.sock"
log = logging.getLogger("hyperiond")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hyperiond", description="Hyperion federation daemon")
    p.add_argument("--config", help="site configuration (default: $HYPERION_CONFIG)")
    p.add_argument("--db", help="database URL (default: $HYPERION_DB or SQLite)")
    p.add_argument("--socket", help="Unix socket path (default: $HYPERION_SOCKET)")
    p.add_argument("--listen", metavar="HOST:PORT", help="also serve TCP (MUNGE-authenticated)")
    p.add_argument("--log-level", default="INFO")
    return p


def _log(message: str, error: BaseException | None = None) -> None:
    if error is not None:
        log.error(message, exc_info=error)
    else:
        log.info(message)


def serve(args: argparse.Namespace) -> int:
    from apscheduler.schedulers.background import BackgroundScheduler

    from hyperion.api.server import Api
    from hyperion.config import load_config
    from hyperion.daemon.federation import Federation
    from hyperion.daemon.routes import routes
    from hyperion.state.db import open_database

    os.umask(0o077)  # the database holds every user's environment and scripts
    config = load_config(config_path(args.config))
    engine = open_database(args.db or os.environ.get("HYPERION_DB"))
    fed = Federation(config, engine, _log)
    api = Api(routes(fed), config.hyperion.admin_group, _log)
    sock = Path(args.socket or os.environ.get("HYPERION_SOCKET") or DEFAULT_SOCKET)
    api.serve_unix(sock)
    log.info("listening on %s", sock)
    if args.listen:
        host, _, port = args.listen.rpartition(":")
        if not port.isdigit():
            raise ConfigError(f"--listen {args.listen}: expected HOST:PORT, e.g. 127.0.0.1:16900")
        bound = api.serve_tcp(host or "127.0.0.1", int(port))
        log.info("listening on tcp %s:%d", *bound)

    s = config.hyperion
    sched = BackgroundScheduler(timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1})
    stop = threading.Event()

    def poll_loop() -> None:  # adaptive: its own thread, not a fixed interval
        last = 0.0
        while not stop.is_set():
            fed.poll_now.wait(fed.poll_interval)  # a job-end event cuts the wait short
            spacing = last + s.event_min_interval_s - time.monotonic()
            if spacing > 0 and stop.wait(spacing):  # events never poll more often than this
                return
            if stop.is_set():
                return
            fed.poll_now.clear()  # events until now are covered by this poll
            last = time.monotonic()
            try:
                fed.poll()
            except Exception as exc:  # noqa: BLE001 - a loop must survive a bug
                _log("poll failed", exc)

    def dispatch_loop() -> None:  # late binding: held jobs go where a backlog has room
        while not stop.is_set():
            fed.wake.wait(fed.dispatch_wait())
            fed.wake.clear()
            if stop.is_set():
                return
            try:
                fed.dispatch()
            except Exception as exc:  # noqa: BLE001 - a loop must survive a bug
                _log("dispatch failed", exc)

    fed.load_default_policy()
    fed.refresh_snapshots()
    try:
        fed.reconcile()  # finish what a previous run left half done
    except Exception as exc:  # noqa: BLE001 - the loop retries; the daemon must start
        _log("start-up reconcile failed; it is retried every round", exc)
    sched.add_job(fed.refresh_snapshots, "interval", seconds=s.snapshot_interval_s, id="snapshot")
    sched.add_job(fed.reconcile, "interval", seconds=s.reconcile_interval_s, id="reconcile")
    sched.add_job(fed.replace, "interval", seconds=s.replace_interval_s, id="replace")
    sched.start()
    poller = threading.Thread(target=poll_loop, name="hyperion-poll", daemon=True)
    poller.start()
    dispatcher = threading.Thread(target=dispatch_loop, name="hyperion-dispatch", daemon=True)
    dispatcher.start()

    def on_signal(signum: int, _frame: object) -> None:
        log.info("signal %d: stopping", signum)
        stop.set()
        fed.wake.set()
        fed.poll_now.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log.info("hyperiond ready: %d sites, policy %s", len(fed.conns), s.default_policy)
    stop.wait()
    sched.shutdown(wait=False)
    api.shutdown()
    fed.close()
    log.info("stopped")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("apscheduler", "httpx", "paramiko"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return run_main(lambda: serve(args), prog="hyperiond")


if __name__ == "__main__":
    sys.exit(main())
