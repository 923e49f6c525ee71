"""``hyperion``: the simulator and benchmark command line.

    hyperion sim   --trace FILE [--sites CONFIG] --policy NAME [--json]
    hyperion eval  --trace FILE ... --policies a,b --seeds 0,1 [--out DIR] [--json]
    hyperion eval carbon [--carbon-dir DIR] [--seeds 0,1,2] [--out DIR]  (carbon vs slowdown)
    hyperion train --sites CONFIG --workload SPEC --objective bsld=1 --out model.hyp
    hyperion bench NAME [options of that benchmark]
    hyperion carbon forecast-eval --data DIR_OR_FILES [--horizon 24] [--forecaster NAME ...]

Imports nothing heavy at startup: the simulator is imported when a command runs, matplotlib only
when a plot is drawn. User errors (:class:`~hyperion.errors.HyperionError`) print a message and
exit with their code, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Sequence

from hyperion.cli.common import run_main
from hyperion.errors import HyperionError

#: benchmark names -> modules exposing ``add_arguments(parser)`` and ``run(args) -> int``
BENCHMARKS: dict[str, str] = {
    "sim": "hyperion.bench.sim",
    "connectors": "hyperion.bench.connectors",
    "multicluster": "hyperion.bench.multicluster",
    "fidelity": "hyperion.bench.fidelity",
    "policy": "hyperion.bench.policy",
    "burst-floor": "hyperion.bench.burst_floor",
}


def _option(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    parsed: object
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        parsed = value
    return key.replace("-", "_"), parsed


def flex_arg(text: str) -> float:
    """Seconds of a flexibility, as ``hsub --carbon-flex`` reads it (6h, 90m, 1d12h, 1:30:00)."""
    from hyperion.errors import JobSpecError
    from hyperion.jobspec.when import parse_flex

    try:
        return parse_flex(text, "--flex")
    except JobSpecError as exc:
        raise argparse.ArgumentTypeError(exc.message) from None


def add_estimates_arg(p: argparse.ArgumentParser) -> None:
    """``--estimates`` of ``hyperion sim|eval|train`` (see ``sim.workload.user_estimates``)."""
    p.add_argument(
        "--estimates",
        choices=["trace", "user", "mixed"],  # hyperion.sim.workload.ESTIMATES, without the import
        default="trace",
        help="requested times: as the workload gives them (default), as users write them "
        "where it gives none (round limits, mostly overestimated), or either by seed",
    )


def fraction_arg(text: str) -> float:
    """A share in [0, 1]."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a share in [0, 1], got {text!r}")
    return value


def _share(text: str) -> tuple[str, float]:
    key, sep, value = text.partition("=")
    try:
        share = float(value)
    except ValueError:
        share = -1.0
    if not sep or not key or not 0 <= share <= 1:
        raise argparse.ArgumentTypeError(f"expected NAME=SHARE with SHARE in [0, 1], got {text!r}")
    return key, share


def _add_scenario_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--trace",
        action="append",
        default=[],
        metavar="FILE[@SITE]",
        help="SWF trace (repeat to merge several; @SITE sets their home site) "
        "or lublin:JOBS:LOAD[:SIZE] for a generated workload",
    )
    p.add_argument("--sites", metavar="CONFIG", help="site-config TOML (the live schema)")
    p.add_argument(
        "--sim-config",
        metavar="FILE",
        help="simulator-only site fields (default: CONFIG's NAME.sim.toml if present)",
    )
    p.add_argument(
        "--carbon",
        action="append",
        default=[],
        metavar="[SITE=]CSV",
        help="carbon-intensity CSV; without --sites, one site per CSV named after its zone",
    )
    p.add_argument(
        "--no-backfill", action="store_true", help="plain FCFS instead of FCFS + EASY backfilling"
    )
    p.add_argument(
        "--homes",
        default="user",
        choices=["user", "round-robin", "random", "first"],
        help="how jobs of a single trace get home sites (default: by user)",
    )
    p.add_argument(
        "--time-scale", type=float, help="multiply submit times by this (< 1: more load)"
    )
    p.add_argument(
        "--gpu-share", type=float, default=0.0, help="share of jobs that also request GPUs"
    )
    p.add_argument("--max-procs", type=int, help="machine size, overriding the trace header")
    add_estimates_arg(p)
    p.add_argument(
        "--segment",
        type=int,
        default=0,
        metavar="JOBS",
        help="SWF traces: run only JOBS consecutive jobs, the seed-th such stretch of the trace "
        "(seed 0: the first JOBS jobs), so that seeds give a real trace's spread",
    )
    p.add_argument(
        "--skip-bad", action="store_true", help="skip malformed SWF lines instead of failing"
    )
    p.add_argument(
        "--plan-depth", type=int, default=100, help="queued jobs in start-time estimates"
    )
    p.add_argument(
        "--priority-share",
        action="append",
        default=[],
        type=_share,
        metavar="PRIORITY=SHARE",
        help="give this share of the jobs this priority (repeatable; with order = 'priority')",
    )
    p.add_argument(
        "--partition-share",
        action="append",
        default=[],
        type=_share,
        metavar="PARTITION=SHARE",
        help="make this share of the jobs ask for this partition (repeatable; e.g. to exercise "
        "preemption of a preemptible partition by a higher-tier one)",
    )
    p.add_argument(
        "--flex-share",
        type=fraction_arg,
        default=0.0,
        metavar="SHARE",
        help="give this share of the jobs (seeded) time flexibility: they may start up to --flex "
        "late for greener power (like hsub --carbon-flex)",
    )
    p.add_argument(
        "--flex",
        type=flex_arg,
        default=6 * 3600.0,
        metavar="DURATION",
        help="how late a flexible job may start (default 6h)",
    )
    p.add_argument(
        "--forecast",
        metavar="NAME",
        help="carbon forecast for carbon-aware policies: daily-profile-blend (default, sees "
        "only the past), daily-profile[:DAYS], same-hour-yesterday, persistence, or oracle "
        "(the real future: an upper bound)",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")


def _add_option_arg(p: argparse.ArgumentParser, help_text: str) -> None:
    p.add_argument(
        "--option", action="append", default=[], type=_option, metavar="KEY=VALUE", help=help_text
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hyperion", description="Hyperion simulator and benchmarks"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("sim", help="simulate one workload under one placement policy")
    _add_scenario_args(p)
    p.add_argument("--policy", default="home", help="placement policy (see --list-policies)")
    _add_option_arg(p, "policy option, e.g. --option wait=2 for weighted")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--list-policies", action="store_true", help="print the policy names and exit")

    p = sub.add_parser(
        "eval",
        help="a grid of policies x workloads x seeds: table, CSV, plots ('eval carbon': the "
        "four-site carbon evaluation)",
    )
    p.add_argument(
        "study",
        nargs="?",
        choices=["carbon"],
        help="carbon: four sites on the DE/FR/GB/US-CAL-CISO series, every policy with and "
        "without flexible jobs, the lower bound and a Pareto plot (docs/carbon-evaluation.md)",
    )
    _add_scenario_args(p)
    p.add_argument(
        "--carbon-dir",
        metavar="DIR",
        help="eval carbon: directory of the ZONE_2023_hourly.csv files "
        "(default: $HYPERION_CARBON_DATA)",
    )
    p.add_argument("--policies", default="all", help="comma-separated policy names, or 'all'")
    _add_option_arg(
        p,
        "policy option for every listed policy that takes it, e.g. --option guard=4 for rl "
        "(see hyperion sim --list-policies)",
    )
    p.add_argument("--seeds", default="0", help="comma-separated seeds (default 0)")
    p.add_argument("--out", default="hyperion-eval", help="directory for results.csv and plots")
    p.add_argument("--no-plot", action="store_true", help="skip the PNG plots")

    p = sub.add_parser("train", help="train a learned placement policy (needs hyperion[rl])")
    from hyperion.rl.cli import add_arguments as add_train_arguments

    add_train_arguments(p)

    p = sub.add_parser("carbon", help="carbon-intensity tools: forecast-eval")
    from hyperion.carbon.cli import add_arguments as add_carbon_arguments  # argparse only

    add_carbon_arguments(p)

    p = sub.add_parser("bench", help="run a benchmark: " + ", ".join(BENCHMARKS), add_help=False)
    p.add_argument("name", nargs="?", help="benchmark name: " + ", ".join(BENCHMARKS))
    p.add_argument("rest", nargs=argparse.REMAINDER)
    return parser


def _bench(name: str | None, rest: list[str]) -> int:
    if not name or name in {"-h", "--help"}:
        print("usage: hyperion bench NAME [options]\nbenchmarks: " + ", ".join(BENCHMARKS))
        return 0
    module_name = BENCHMARKS.get(name)
    if module_name is None:
        raise HyperionError(
            f"unknown benchmark {name!r}", hint=f"valid benchmarks: {', '.join(BENCHMARKS)}"
        )
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise HyperionError(
                f"benchmark {name!r} is not available in this installation ({module_name})"
            ) from None
        raise HyperionError(
            f"benchmark {name!r} needs {exc.name}: pip install it and retry"
        ) from None
    parser = argparse.ArgumentParser(prog=f"hyperion bench {name}")
    module.add_arguments(parser)
    args = parser.parse_args(rest)
    return int(module.run(args))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``hyperion`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)

    def body() -> int:
        if args.command == "bench":
            return _bench(args.name, args.rest)
        if args.command == "carbon":
            from hyperion.carbon.cli import run as run_carbon

            return run_carbon(args)
        if args.command == "train":
            from hyperion.rl.cli import run_train

            return run_train(args, list(sys.argv[1:] if argv is None else argv))
        from hyperion.sim import cli as simcli  # the simulator, imported only when needed

        if args.command == "sim":
            return simcli.run_sim(args)
        if args.study == "carbon":
            from hyperion.sim.carbon_eval import run_carbon_eval

            return run_carbon_eval(args)
        return simcli.run_eval(args)

    return run_main(body, prog="hyperion")


if __name__ == "__main__":
    sys.exit(main())
