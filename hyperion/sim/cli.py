"""The ``hyperion sim`` and ``hyperion eval`` commands (their arguments: hyperion.cli.main)."""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from hyperion.cli.common import parse_seeds
from hyperion.errors import HyperionError
from hyperion.placement.heuristics import (
    POLICIES,
    RL_DEFAULT,
    get_policy,
    is_policy_name,
    policy_options,
)
from hyperion.sim.engine import Engine
from hyperion.sim.forecast import DEFAULT_FORECAST
from hyperion.sim.metrics import Metrics
from hyperion.sim.scenario import Scenario, build


def jsonable(obj: Any) -> Any:
    """Values JSON can carry: NaN and infinities become None."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    return obj


def _scenario(args: argparse.Namespace, workloads: list[str], seed: int) -> Scenario:
    return build(
        workloads,
        sites_config=args.sites,
        sim_config=args.sim_config,
        carbon=args.carbon,
        backfill=not args.no_backfill,
        homes=args.homes,
        time_scale=args.time_scale,
        gpu_share=args.gpu_share,
        seed=seed,
        max_procs=args.max_procs,
        skip_bad=args.skip_bad,
        plan_depth=args.plan_depth,
        priority_shares=_priorities(args.priority_share) or None,
        partition_shares=dict(args.partition_share) or None,
        flex_share=args.flex_share,
        flex_s=args.flex,
        segment=args.segment,
        estimates=args.estimates,
    )


def _priorities(pairs: list[tuple[str, float]]) -> dict[int, float]:
    out: dict[int, float] = {}
    for key, share in pairs:
        if not key.lstrip("-").isdigit():
            raise HyperionError(f"--priority-share {key}={share}: the priority must be an integer")
        out[int(key)] = share
    return out


def make_policy(name: str, seed: int, options: dict[str, object] | None = None) -> Any:
    """A policy by name; ``seed`` goes to the policies that take one."""
    opts = dict(options or {})
    if name in POLICIES and "seed" in policy_options(name):
        opts.setdefault("seed", seed)
    return get_policy(name, **opts)


def _console() -> Console:
    """stdout console; wide enough for the tables when output goes to a file or pipe."""
    return Console() if sys.stdout.isatty() else Console(width=160)


def _fmt(x: float, digits: int = 1) -> str:
    if x != x:
        return "-"
    return f"{x:,.{digits}f}"


def run_sim(args: argparse.Namespace) -> int:
    """``hyperion sim``: one workload, one policy; print the metrics."""
    console = _console()
    if args.list_policies:
        for name in POLICIES:
            opts = ", ".join(policy_options(name))
            console.print(f"{name}" + (f"  (options: {opts})" if opts else ""), highlight=False)
        learned = ", ".join(policy_options(RL_DEFAULT))
        console.print(
            f"rl  (the model shipped with Hyperion, objective bsld; needs hyperion[rl]; "
            f"options: {learned})"
        )
        console.print(
            f"rl:PATH  (a model from hyperion train; needs hyperion[rl]; options: {learned})",
            markup=False,
        )
        return 0
    policy = make_policy(args.policy, args.seed, dict(args.option))
    if not args.trace:
        raise HyperionError("no workload given", hint="pass --trace FILE.swf (or lublin:JOBS:LOAD)")
    sc = _scenario(args, args.trace, args.seed)
    m = Engine(sc.sites, policy, forecast=args.forecast or DEFAULT_FORECAST).run(sc.jobs)
    if args.json:
        out = {
            "workload": sc.label,
            "site_names": [s.name for s in sc.sites],
            "notes": sc.notes,
            **m.to_dict(),
        }
        print(json.dumps(jsonable(out), indent=2))
        return 0
    for note in sc.notes:
        console.print(f"[dim]{note}[/dim]", highlight=False)
    render_metrics(console, sc.label, m)
    return 0


def render_metrics(console: Console, label: str, m: Metrics) -> None:
    t = Table(title=f"{label} — policy {m.policy}", show_header=False)
    t.add_column("metric")
    t.add_column("value", justify="right")
    rows = [
        ("jobs run / dropped", f"{m.jobs:,} / {m.dropped:,}"),
        ("jobs moved off their home site", f"{m.moved:,}"),
        ("mean wait (s)", _fmt(m.mean_wait, 2)),
        ("p95 wait (s)", _fmt(m.p95_wait, 1)),
        ("mean bounded slowdown (10 s)", _fmt(m.mean_bsld, 2)),
        ("makespan (s)", _fmt(m.makespan, 0)),
        ("utilisation (all sites)", f"{m.utilisation:.1%}"),
        ("energy (kWh)", _fmt(m.energy_kwh, 1)),
        ("carbon (kg CO2eq)", _fmt(m.carbon_kg, 1)),
        ("cost", _fmt(m.cost, 2)),
        ("simulated jobs/s", _fmt(m.jobs_per_s, 0)),
    ]
    if m.flexible:
        rows.insert(5, ("flexible jobs / held / late", f"{m.flexible:,} / {m.held:,} / {m.late:,}"))
        rows.insert(6, ("mean bounded slowdown, rigid jobs", _fmt(m.mean_bsld_rigid, 2)))
    if m.preemptions:
        rows.insert(3, ("preemptions / core-hours lost", f"{m.preemptions:,} / "
                        f"{_fmt(m.lost_core_s / 3600.0, 1)}"))  # fmt: skip
    if m.cloud_node_h:
        rows.insert(-1, ("cloud node-hours powered up", _fmt(m.cloud_node_h, 1)))
    for k, v in rows:
        t.add_row(k, v)
    console.print(t)
    if len(m.sites) > 1:
        st = Table(title="per site")
        for col in ("site", "jobs", "utilisation", "energy kWh", "carbon kg", "cost"):
            st.add_column(col, justify="left" if col == "site" else "right")
        for name, s in m.sites.items():
            st.add_row(
                name,
                f"{s.jobs:,}",
                f"{s.utilisation:.1%}",
                _fmt(s.energy_kwh),
                _fmt(s.carbon_kg),
                f"{s.cost:,.2f} {s.currency}",
            )
        console.print(st)


EVAL_COLUMNS = [
    "workload", "policy", "seed", "jobs", "dropped", "moved", "mean_wait", "p95_wait",
    "mean_bsld", "utilisation", "makespan", "energy_kwh", "carbon_kg", "cost", "seconds",
]  # fmt: skip


def run_eval(args: argparse.Namespace) -> int:
    """``hyperion eval``: every policy on every workload for every seed; table, CSV, plots."""
    names = (
        list(POLICIES)
        if args.policies == "all"
        else [p.strip() for p in args.policies.split(",") if p.strip()]
    )
    for n in names:
        if not is_policy_name(n):
            raise HyperionError(
                f"unknown placement policy {n!r}",
                hint=f"valid policies: {', '.join(POLICIES)}, rl (the shipped model), "
                "rl:PATH (a trained model)",
            )
    options = dict(args.option)
    if "seed" in options:
        raise HyperionError("--option seed: eval runs every seed of --seeds", hint="use --seeds")
    for key in options:
        if not any(key in policy_options(n) for n in names):
            raise HyperionError(
                f"--option {key}: none of the policies {', '.join(names)} takes it",
                hint="hyperion sim --list-policies shows each policy's options",
            )
    per_policy = {n: {k: v for k, v in options.items() if k in policy_options(n)} for n in names}
    seeds = parse_seeds(args.seeds)
    for n in names:  # a bad option value (or model) is refused before any simulation
        make_policy(n, seeds[0] if seeds else 0, per_policy[n])
    if not args.trace:
        raise HyperionError(
            "no workload given", hint="pass --trace FILE.swf (repeat for several workloads)"
        )
    err = Console(stderr=True)
    rows: list[dict[str, Any]] = []
    total = len(args.trace) * len(seeds) * len(names)
    from rich.progress import Progress

    with Progress(console=err, transient=True, disable=args.json) as progress:
        task = progress.add_task("simulating", total=total)
        for spec in args.trace:
            for seed in seeds:
                sc = _scenario(args, spec.split("+"), seed)
                for name in names:
                    progress.update(task, description=f"{sc.label}: {name} (seed {seed})")
                    pol = make_policy(name, seed, per_policy[name])
                    forecast = args.forecast or DEFAULT_FORECAST
                    m = Engine(sc.sites, pol, forecast=forecast).run(sc.jobs)
                    row = {k: v for k, v in m.to_dict().items() if k in EVAL_COLUMNS}
                    row.update(workload=sc.label, policy=name, seed=seed)
                    rows.append(row)
                    progress.advance(task)
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        with (out / "results.csv").open("w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=EVAL_COLUMNS)
            w.writeheader()
            for r in rows:
                w.writerow({k: r[k] for k in EVAL_COLUMNS})
    except OSError as exc:
        raise HyperionError(f"{out}: cannot write results: {exc.strerror}") from None
    plots = [] if args.no_plot else plot_results(rows, out) + plot_training_curves(names, out)
    if args.json:
        print(
            json.dumps(
                jsonable({"rows": rows, "csv": str(out / "results.csv"), "plots": plots}), indent=2
            )
        )
        return 0
    console = _console()
    console.print(eval_table(rows))
    console.print(
        f"wrote {out / 'results.csv'}" + "".join(f", {p}" for p in plots), highlight=False
    )
    if not args.no_plot and not plots:
        console.print("[dim]no plots: pip install matplotlib (or hyperion[sim])[/dim]")
    return 0


def _mean(values: list[float]) -> float:
    vals = [v for v in values if v == v]
    return sum(vals) / len(vals) if vals else math.nan


def eval_table(rows: list[dict[str, Any]]) -> Table:
    """Means over seeds per (workload, policy)."""
    t = Table(title="policy evaluation (means over seeds)")
    for col in (
        "workload",
        "policy",
        "mean wait s",
        "p95 wait s",
        "mean bsld",
        "util",
        "carbon kg",
        "cost",
        "moved",
        "dropped",
    ):
        t.add_column(col, justify="left" if col in {"workload", "policy"} else "right")
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["workload"], r["policy"]), []).append(r)
    last = None
    for (wl, pol), rs in groups.items():
        if last is not None and wl != last:
            t.add_section()
        last = wl
        t.add_row(
            wl,
            pol,
            _fmt(_mean([r["mean_wait"] for r in rs]), 0),
            _fmt(_mean([r["p95_wait"] for r in rs]), 0),
            _fmt(_mean([r["mean_bsld"] for r in rs]), 2),
            f"{_mean([r['utilisation'] for r in rs]):.1%}",
            _fmt(_mean([r["carbon_kg"] for r in rs]), 0),
            _fmt(_mean([r["cost"] for r in rs]), 0),
            _fmt(_mean([r["moved"] for r in rs]), 0),
            _fmt(_mean([r["dropped"] for r in rs]), 0),
        )
    return t


def plot_results(rows: list[dict[str, Any]], out: Path) -> list[str]:
    """PNG plots (mean wait vs carbon, bounded slowdown per policy); [] without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    workloads = list(dict.fromkeys(r["workload"] for r in rows))
    policies = list(dict.fromkeys(r["policy"] for r in rows))
    fig, axes = plt.subplots(2, len(workloads), figsize=(5.5 * len(workloads), 9), squeeze=False)
    cmap = plt.get_cmap("tab10")
    for col, wl in enumerate(workloads):
        ax, bx = axes[0][col], axes[1][col]
        bslds = []
        for i, pol in enumerate(policies):
            rs = [r for r in rows if r["workload"] == wl and r["policy"] == pol]
            wait = _mean([r["mean_wait"] for r in rs]) / 3600.0
            carbon = _mean([r["carbon_kg"] for r in rs]) / 1000.0
            ax.scatter([carbon], [wait], color=cmap(i % 10), s=60, label=pol)
            ax.annotate(pol, (carbon, wait), textcoords="offset points", xytext=(4, 4), fontsize=8)
            bslds.append(_mean([r["mean_bsld"] for r in rs]))
        ax.set_title(wl)
        ax.set_xlabel("carbon (t CO2eq)")
        ax.set_ylabel("mean wait (h, symlog)")
        ax.set_yscale("symlog", linthresh=0.1)
        ax.grid(alpha=0.3)
        bx.bar(range(len(policies)), bslds, color=[cmap(i % 10) for i in range(len(policies))])
        bx.set_xticks(range(len(policies)), policies, rotation=35, ha="right", fontsize=8)
        bx.set_ylabel("mean bounded slowdown")
        bx.set_yscale("log")
        bx.grid(alpha=0.3, axis="y")
    fig.suptitle("Hyperion policy evaluation: lower-left is better (wait vs carbon)")
    fig.tight_layout()
    path = out / "wait_vs_carbon.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [str(path)]


def _model_path(policy: str) -> str | None:
    """The model file of a learned policy name (``rl`` or ``rl:PATH``), else None."""
    from hyperion.placement.heuristics import RL_DEFAULT, RL_PREFIX, default_model_path

    if policy == RL_DEFAULT:
        return default_model_path()
    return policy[len(RL_PREFIX) :] if policy.startswith(RL_PREFIX) else None


def plot_training_curves(policies: list[str], out: Path) -> list[str]:
    """``training_curve.png``: each learned policy's mean episode return per PPO iteration
    (from its artifact), with the iteration training kept; [] without learned policies or
    matplotlib."""
    models = [(pol, path) for pol in policies if (path := _model_path(pol)) is not None]
    if not models:
        return []
    from hyperion.rl.artifact import read_meta

    curves = []
    for pol, path in models:
        meta = read_meta(path)
        curves.append((pol, meta.get("curve") or [], meta.get("training", {})))
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    fig, ax = plt.subplots(figsize=(7, 4))
    for pol, curve, training in curves:
        xs = [c["iteration"] for c in curve]
        (line,) = ax.plot(xs, [c["episode_return_mean"] for c in curve], label=pol)
        kept = training.get("selected_iteration")
        if kept is not None:
            ax.axvline(kept, color=line.get_color(), linestyle=":", alpha=0.8)
    ax.set_xlabel("PPO iteration (dotted: the checkpoint kept)")
    ax.set_ylabel("mean episode return (higher is better)")
    ax.set_title("training curves of the learned policies")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    png = out / "training_curve.png"
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return [str(png)]


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use: hyperion sim|eval")
