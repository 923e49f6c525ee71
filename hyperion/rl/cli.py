"""``hyperion train`` (its arguments: :func:`add_arguments`; called from hyperion.cli.main)."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hyperion.errors import HyperionError

if TYPE_CHECKING:
    from rich.table import Table


def add_arguments(p: argparse.ArgumentParser) -> None:
    from hyperion.cli.main import add_estimates_arg, flex_arg, fraction_arg

    p.add_argument("--sites", metavar="CONFIG", help="site-config TOML (the live schema)")
    p.add_argument("--sim-config", metavar="FILE", help="simulator-only site fields")
    p.add_argument(
        "--carbon", action="append", default=[], metavar="[SITE=]CSV", help="as in hyperion sim"
    )
    p.add_argument(
        "--workload",
        "--trace",
        dest="workload",
        action="append",
        default=[],
        metavar="SPEC",
        help="SWF[@SITE] or lublin:JOBS:LOAD[:SIZE] (generated anew each episode); repeat to merge",
    )
    p.add_argument(
        "--also",
        action="append",
        default=[],
        metavar="SITES=WORKLOAD",
        help="another site config and workload: each episode draws one of these pairs or the "
        "main one (--sites, --workload) with equal chance (repeatable)",
    )
    add_estimates_arg(p)
    p.add_argument(
        "--objective", default="bsld", help="weights, e.g. bsld=1,cost=0.5,carbon=0.01 (terms: "
        "bsld, wait (h), cost, carbon (kg)); default bsld"
    )  # fmt: skip
    p.add_argument("--out", default="model.hyp", help="artifact to write (default model.hyp)")
    p.add_argument("--iterations", type=int, default=20, help="PPO iterations (default 20)")
    p.add_argument("--batch", type=int, default=2000, help="decisions per iteration")
    p.add_argument("--env-runners", type=int, default=1, help="sampling processes (default 1)")
    p.add_argument("--address", help="Ray cluster address (default: a local Ray)")
    p.add_argument("--window", type=int, default=0, help="jobs per episode (0: the workload)")
    p.add_argument("--max-sites", type=int, default=16, help="site slots of the environment")
    p.add_argument("--hidden", type=int, default=64, help="hidden units of the scorer")
    p.add_argument("--lr", type=float, default=3e-4, help="learning rate")
    p.add_argument("--entropy", type=float, default=0.01, help="PPO entropy bonus")
    p.add_argument(
        "--imitation-steps", type=int, default=5000, help="decisions of --imitate recorded"
    )
    p.add_argument(
        "--imitate",
        default="earliest-start",
        metavar="POLICY",
        help="heuristic the warm start imitates (default earliest-start; e.g. carbon-aware, "
        "whose holds of flexible jobs become delay choices)",
    )
    p.add_argument(
        "--dagger-rounds",
        type=int,
        default=0,
        help="after the imitation: rounds in which the expert labels the states the model "
        "itself reaches, then a refit on all (DAgger; default 0)",
    )
    p.add_argument(
        "--imitation-epochs",
        type=int,
        default=20,
        help="epochs fitting the model to them before PPO (0: start PPO from random weights)",
    )
    p.add_argument("--homes", default="user", choices=["user", "round-robin", "random", "first"])
    p.add_argument("--time-scale", type=float, help="multiply submit times by this")
    p.add_argument("--gpu-share", type=float, default=0.0, help="share of jobs asking for GPUs")
    p.add_argument(
        "--flex-share",
        type=fraction_arg,
        default=0.0,
        metavar="SHARE",
        help="share of the jobs (seeded) that may start up to --flex late (as in hyperion sim)",
    )
    p.add_argument(
        "--flex", type=flex_arg, default=6 * 3600.0, metavar="DURATION", help="default 6h"
    )
    p.add_argument(
        "--forecast",
        default=None,
        metavar="NAME",
        help="carbon forecast the candidates carry (default daily-profile-blend; as in hyperion "
        "sim)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--eval-seeds", default="1000", help="held-out seeds of the evaluation (default 1000)"
    )
    p.add_argument(
        "--select-seeds",
        default="",
        help="validation seeds: keep the checkpoint (warm start included) that does best against"
        " earliest-start on them instead of the last one (default: none, keep the last)",
    )
    p.add_argument(
        "--select-every", type=int, default=10, help="iterations between checkpoints (default 10)"
    )
    p.add_argument("--json", action="store_true", help="print the artifact's metadata as JSON")


def _check_pairs(pairs: list[list[str]], max_sites: int) -> None:
    """Build each ``--also`` pair once now, so that a bad workload or site config fails here
    and not when a worker first draws it, hours into training."""
    from hyperion.sim.scenario import build

    for sites_path, workload in pairs:
        try:
            n = len(build([workload], sites_config=sites_path).sites)
        except HyperionError as exc:
            raise HyperionError(f"--also {sites_path}={workload}: {exc.message}") from None
        if n > max_sites:
            raise HyperionError(
                f"--also {sites_path}={workload}: {n} sites, more than --max-sites {max_sites}"
            )


def run_train(args: argparse.Namespace, argv: list[str]) -> int:
    """Train and write the artifact; show progress on stderr and the evaluation table."""
    from hyperion.placement.heuristics import POLICIES

    if args.imitate not in POLICIES:
        raise HyperionError(
            f"--imitate {args.imitate!r}: not a heuristic", hint=f"one of {', '.join(POLICIES)}"
        )
    if args.dagger_rounds < 0:
        raise HyperionError(f"--dagger-rounds {args.dagger_rounds}: must be 0 or more")
    try:
        from hyperion.rl.env import EnvConfig
        from hyperion.rl.objective import Objective
        from hyperion.rl.train import TrainSettings, train
        from hyperion.sim.forecast import DEFAULT_FORECAST
    except ImportError as exc:
        from hyperion.rl.extra import missing_extra

        raise missing_extra(exc, "hyperion train") from None
    if not args.workload:
        raise HyperionError(
            "no workload given", hint="pass --workload FILE.swf or lublin:JOBS:LOAD"
        )
    seeds = _seeds("--eval-seeds", args.eval_seeds)
    select = _seeds("--select-seeds", args.select_seeds)
    if set(select) & set(seeds):
        raise HyperionError(
            "--select-seeds and --eval-seeds overlap", hint="held-out seeds must stay unseen"
        )
    also = []
    for pair in args.also:
        sites_path, sep, workload = pair.partition("=")
        if not sep or not sites_path or not workload:
            raise HyperionError(
                f"--also {pair!r}: expected SITES=WORKLOAD",
                hint="e.g. --also site-configs/sim/rl-large.toml=lublin:2000:1.4:1024",
            )
        if not Path(sites_path).is_file():
            raise HyperionError(f"--also {pair!r}: no site config {sites_path}")
        also.append([sites_path, workload])
    _check_pairs(also, args.max_sites)
    config = EnvConfig(
        workloads=args.workload,
        also=also,
        estimates=args.estimates,
        sites=args.sites,
        sim_config=args.sim_config,
        carbon=args.carbon,
        homes=args.homes,
        time_scale=args.time_scale,
        gpu_share=args.gpu_share,
        objective=str(Objective.parse(args.objective)),
        max_sites=args.max_sites,
        window=args.window,
        flex_share=args.flex_share,
        flex_s=args.flex,
        forecast=args.forecast or DEFAULT_FORECAST,
    )
    settings = TrainSettings(
        iterations=args.iterations,
        env_runners=args.env_runners,
        address=args.address,
        seed=args.seed,
        hidden=args.hidden,
        lr=args.lr,
        entropy=args.entropy,
        imitation_steps=args.imitation_steps,
        imitation_epochs=args.imitation_epochs,
        imitate=args.imitate,
        dagger_rounds=args.dagger_rounds,
        batch=args.batch,
        minibatch=min(250, args.batch),
        eval_seeds=seeds,
        select_seeds=select,
        select_every=args.select_every,
    )
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from hyperion.sim.cli import jsonable

    err = Console(stderr=True)
    columns = (
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, transient=True, disable=args.json) as progress:
        task = progress.add_task("starting Ray, measuring features", total=settings.iterations)

        def tick(it: int, ret: float, steps: int) -> None:
            done = "evaluating" if it == settings.iterations else "training"
            progress.update(
                task, completed=it, description=f"{done}: return {ret:.3g}, {steps:,} decisions"
            )

        meta = train(
            config, settings, args.out, command=shlex.join(["hyperion", *argv]), progress=tick
        )
    if args.json:
        print(json.dumps(jsonable(meta), indent=2))
        return 0
    console = Console() if sys.stdout.isatty() else Console(width=160)
    console.print(_eval_table(meta["eval"], str(Objective(**meta["objective"]))))
    console.print(_summary_table(meta["eval"]))
    console.print(f"wrote {args.out} ({meta['training']['seconds']:.0f} s)", highlight=False)
    t = meta["training"]
    if t.get("beats_expert") is False:
        console.print(
            f"[yellow]warning:[/] no checkpoint beat {t['imitated']} on the validation seeds "
            f"(best {min(c['ratio'] for c in t['selection']):.3f} against its "
            f"{t['expert_ratio']:.3f}, both relative to earliest-start): this model is likely "
            f"worse than the heuristic it imitated; retrain (another --seed) or use the heuristic"
        )
    return 0


def _seeds(option: str, text: str) -> list[int]:
    try:
        return [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise HyperionError(f"{option} {text!r}: expected integers") from None


def _eval_table(rows: list[dict[str, Any]], objective: str) -> Table:
    from rich.table import Table

    t = Table(title=f"held-out evaluation (objective {objective}, per job, lower is better)")
    cols = ("workload", "seed", "policy", "objective", "mean wait s", "mean bsld", "cost")
    for col in (*cols, "carbon kg", "held"):
        t.add_column(col, justify="left" if col in {"workload", "policy"} else "right")
    for r in rows:
        t.add_row(
            r["workload"],
            str(r["seed"]),
            r["policy"],
            f"{r['objective']:,.3f}",
            f"{r['mean_wait']:,.0f}",
            f"{r['mean_bsld']:,.2f}",
            f"{r['cost']:,.2f}",
            f"{r['carbon_kg']:,.1f}",
            str(r.get("held", 0)),
        )
    return t


def _summary_table(rows: list[dict[str, Any]]) -> Table:
    from rich.table import Table

    from hyperion.rl.evaluate import summarise

    t = Table(title="over the held-out seeds (ratio: geometric mean, per seed, vs earliest-start)")
    cols = ("policy", "seeds", "mean objective", "ratio", "wins", "mean bsld", "x ES")
    for col in (*cols, "carbon kg", "x ES "):
        t.add_column(col, justify="left" if col == "policy" else "right")
    for r in summarise(rows):
        t.add_row(
            r["policy"],
            str(r["seeds"]),
            f"{r['objective']:,.3f}",
            f"{r['ratio']:.3f}",
            f"{r['wins']}/{r['seeds']}",
            f"{r['mean_bsld']:,.2f}",
            f"{r['bsld_ratio']:.3f}",
            f"{r['carbon_kg']:,.1f}",
            f"{r['carbon_ratio']:.3f}",
        )
    return t
