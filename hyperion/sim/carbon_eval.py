"""``hyperion eval carbon``: carbon against bounded slowdown for every policy (issue #6).

Runs the four-site scenario (``site-configs/sim/carbon4.toml``: four equal sites on the DE, FR,
GB and US-CAL-CISO 2023 series, from ``--carbon-dir`` or ``$HYPERION_CARBON_DATA``) on a
workload scaled so the sites are about 40% busy (default ``lublin:50000:0.4:256`` with submit
times scaled by 1/4), for every seed, every policy, without flexibility (``rigid``) and with a
seeded share of flexible jobs (``flex``: ``--flex-share``, default 0.5, of ``--flex``, 6 h).
Prints per mode the mean over seeds of carbon and mean bounded slowdown, their ratios to
``earliest-start`` (ratio of the sums over seeds) and the fluid lower bound
(:mod:`hyperion.sim.bound`) over earliest-start's span (first submission to its last end);
writes ``carbon.csv`` and ``pareto.png`` (with matplotlib).

Policies are specs ``NAME[:KEY=VALUE...][@FORECAST]``, e.g. ``carbon-aware:slack=8@oracle``
(the forecast the simulator gives the policy: ``daily-profile-blend`` by default, ``oracle``
is the real future and only an upper bound).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.table import Table

from hyperion.cli.common import parse_seeds
from hyperion.errors import HyperionError
from hyperion.placement.heuristics import get_policy, is_policy_name
from hyperion.sim.bound import carbon_lower_bound
from hyperion.sim.engine import Engine
from hyperion.sim.forecast import DEFAULT_FORECAST, CarbonForecasts
from hyperion.sim.scenario import build

#: the environment variable naming the directory of the carbon CSVs
DATA_ENV = "HYPERION_CARBON_DATA"
DEFAULT_SITES = "site-configs/sim/carbon4.toml"
DEFAULT_WORKLOAD = "lublin:50000:0.4:256"
DEFAULT_POLICIES = (
    "earliest-start,home,round-robin,least-loaded,greenest,weighted,"
    "carbon-aware,carbon-aware@persistence,carbon-aware@oracle"
)
#: the issue's goal: carbon and mean bounded slowdown at most these times earliest-start's
GOAL_CARBON, GOAL_BSLD = 0.6, 1.1
BASELINE = "earliest-start"
COLUMNS = [
    "mode", "workload", "policy", "seed", "jobs", "flexible", "held", "late", "mean_wait",
    "mean_bsld", "mean_bsld_rigid", "utilisation", "energy_kwh", "carbon_kg", "carbon_ratio",
    "bsld_ratio", "makespan",
]  # fmt: skip


@dataclass(frozen=True)
class PolicySpec:
    """One policy to run: its label, name, options and the forecast it gets."""

    label: str
    name: str
    options: dict[str, object]
    forecast: str


def parse_spec(text: str, default_forecast: str) -> PolicySpec:
    """``NAME[:KEY=VALUE...][@FORECAST]`` (values are JSON where they parse, else strings)."""
    body, _, fc = text.strip().partition("@")
    name, *pairs = body.split(":")
    if not is_policy_name(name) or name.startswith("rl:"):
        raise HyperionError(
            f"--policies: unknown placement policy {name!r} in {text!r}",
            hint="write NAME[:KEY=VALUE...][@FORECAST], e.g. carbon-aware:slack=4@oracle",
        )
    opts: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise HyperionError(f"--policies {text!r}: expected KEY=VALUE, got {pair!r}")
        try:
            opts[key.replace("-", "_")] = json.loads(value)
        except json.JSONDecodeError:
            opts[key.replace("-", "_")] = value
    forecast = fc or default_forecast
    try:
        CarbonForecasts(forecast)
    except HyperionError as exc:
        raise HyperionError(f"--policies {text!r}: {exc.message}", hint=exc.hint) from None
    get_policy(name, **opts)  # check the options now, not after an hour of simulation
    return PolicySpec(text.strip(), name, opts, forecast)


def carbon_dir(given: str | None) -> Path:
    """The directory of the carbon CSVs: ``--carbon-dir``, else ``$HYPERION_CARBON_DATA``."""
    text = given or os.environ.get(DATA_ENV)
    if not text:
        raise HyperionError(
            "no carbon data given",
            hint=f"pass --carbon-dir DIR or export {DATA_ENV}=DIR (a directory with "
            "DE_2023_hourly.csv, FR_..., GB_..., US-CAL-CISO_...)",
        )
    d = Path(text).expanduser()
    if not d.is_dir():
        raise HyperionError(
            f"carbon data directory {d} does not exist",
            hint=f"pass --carbon-dir DIR or export {DATA_ENV}=DIR",
        )
    return d


def run_carbon_eval(args: argparse.Namespace) -> int:
    """The evaluation (module docstring); returns the exit status."""
    from rich.console import Console
    from rich.progress import Progress

    from hyperion.sim.cli import _console, jsonable

    os.environ[DATA_ENV] = str(carbon_dir(getattr(args, "carbon_dir", None)).resolve())
    sites_config = args.sites or DEFAULT_SITES
    if not Path(sites_config).exists():
        raise HyperionError(
            f"site config {sites_config} not found",
            hint="run from the repository root or pass --sites site-configs/sim/carbon4.toml",
        )
    forecast = args.forecast or DEFAULT_FORECAST
    names = DEFAULT_POLICIES if args.policies == "all" else args.policies
    specs = [parse_spec(p, forecast) for p in names.split(",") if p.strip()]
    if BASELINE not in [s.label for s in specs]:
        specs.insert(0, parse_spec(BASELINE, forecast))
    seeds = parse_seeds(args.seeds)
    share = args.flex_share if args.flex_share > 0 else 0.5
    modes = [("rigid", 0.0), ("flex", share)]
    workloads = args.trace or [DEFAULT_WORKLOAD]
    scale = args.time_scale or 1.0 / _site_count(sites_config)
    rows: list[dict[str, Any]] = []
    bounds: list[dict[str, Any]] = []
    err = Console(stderr=True)
    total = len(workloads) * len(seeds) * len(modes) * len(specs)
    with Progress(console=err, transient=True, disable=args.json) as progress:
        task = progress.add_task("simulating", total=total)
        for spec in workloads:
            for seed in seeds:
                for mode, flex_share in modes:
                    sc = build(
                        spec.split("+"),
                        sites_config=sites_config,
                        sim_config=args.sim_config,
                        carbon=args.carbon,
                        backfill=not args.no_backfill,
                        homes=args.homes,
                        time_scale=scale,
                        seed=seed,
                        max_procs=args.max_procs,
                        skip_bad=args.skip_bad,
                        plan_depth=args.plan_depth,
                        flex_share=flex_share,
                        flex_s=args.flex,
                    )
                    end = math.nan
                    for ps in specs:
                        progress.update(task, description=f"{mode}: {ps.label} (seed {seed})")
                        pol = get_policy(ps.name, **ps.options)
                        m = Engine(sc.sites, pol, forecast=ps.forecast).run(sc.jobs)
                        if ps.label == BASELINE:
                            end = max((j.end for j in sc.jobs if j.start >= 0), default=0.0)
                        d = m.to_dict()
                        row = {k: d[k] for k in COLUMNS if k in d}
                        row.update(mode=mode, workload=sc.label, policy=ps.label, seed=seed)
                        rows.append(row)
                        progress.advance(task)
                    t0 = min(j.submit for j in sc.jobs)
                    lb = carbon_lower_bound(sc.jobs, sc.sites, t0, end)
                    bounds.append(
                        {"mode": mode, "workload": sc.label, "seed": seed, "lb": lb.carbon_kg}
                    )
    add_ratios(rows)
    out = Path(args.out)
    write_csv(out, rows, bounds)
    summary = summarise(rows, bounds)
    plots = [] if args.no_plot else plot_pareto(summary, out)
    if args.json:
        print(json.dumps(jsonable({"summary": summary, "rows": rows, "plots": plots}), indent=2))
        return 0
    console = _console()
    console.print(summary_table(summary))
    console.print(
        f"goal: carbon <= {GOAL_CARBON}x and mean bsld <= {GOAL_BSLD}x {BASELINE}'s; "
        f"wrote {out / 'carbon.csv'}" + "".join(f", {p}" for p in plots),
        highlight=False,
    )
    if not args.no_plot and not plots:
        console.print("[dim]no plot: pip install matplotlib (or hyperion[sim])[/dim]")
    return 0


def _site_count(path: str) -> int:
    """Enabled sites of a config: submit times are scaled by 1/this (each site sees the
    workload's own load) unless ``--time-scale`` says otherwise."""
    from hyperion.config import load_config

    return max(sum(1 for s in load_config(path).sites.values() if s.enabled), 1)


def add_ratios(rows: list[dict[str, Any]]) -> None:
    """Each row's carbon and mean bsld over the baseline's in the same mode, workload, seed."""
    base = {(r["mode"], r["workload"], r["seed"]): r for r in rows if r["policy"] == BASELINE}
    for r in rows:
        b = base.get((r["mode"], r["workload"], r["seed"]))
        r["carbon_ratio"] = r["carbon_kg"] / b["carbon_kg"] if b and b["carbon_kg"] else math.nan
        r["bsld_ratio"] = r["mean_bsld"] / b["mean_bsld"] if b and b["mean_bsld"] else math.nan


def write_csv(out: Path, rows: list[dict[str, Any]], bounds: list[dict[str, Any]]) -> None:
    """``carbon.csv``: one row per run, plus one ``lower-bound`` row per mode, workload, seed."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        with (out / "carbon.csv").open("w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=COLUMNS, extrasaction="ignore")
            w.writeheader()
            for r in rows:
                w.writerow(r)
            for b in bounds:
                w.writerow(
                    {"mode": b["mode"], "workload": b["workload"], "policy": "lower-bound",
                     "seed": b["seed"], "carbon_kg": b["lb"]}
                )  # fmt: skip
    except OSError as exc:
        raise HyperionError(f"{out}: cannot write results: {exc.strerror}") from None


def summarise(rows: list[dict[str, Any]], bounds: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (mode, workload, policy): means over seeds and ratios of the sums to the baseline's;
    a ``lower-bound`` entry per (mode, workload)."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["mode"], r["workload"], r["policy"]), []).append(r)
    out = []
    for (mode, wl, pol), rs in groups.items():
        base = groups[(mode, wl, BASELINE)]
        seeds = {r["seed"] for r in rs}
        bs = [b for b in base if b["seed"] in seeds]
        c, cb = _sum(rs, "carbon_kg"), _sum(bs, "carbon_kg")
        s, sb = _sum(rs, "mean_bsld"), _sum(bs, "mean_bsld")
        n = len(rs)
        out.append(
            {
                "mode": mode, "workload": wl, "policy": pol, "seeds": n,
                "carbon_kg": c / n, "carbon_ratio": c / cb if cb else math.nan,
                "mean_bsld": s / n, "bsld_ratio": s / sb if sb else math.nan,
                "mean_bsld_rigid": _sum(rs, "mean_bsld_rigid") / n,
                "mean_wait": _sum(rs, "mean_wait") / n,
                "held": _sum(rs, "held") / n, "late": _sum(rs, "late") / n,
                "utilisation": _sum(rs, "utilisation") / n,
            }
        )  # fmt: skip
    for key in dict.fromkeys((b["mode"], b["workload"]) for b in bounds):
        bs = [b for b in bounds if (b["mode"], b["workload"]) == key]
        base = groups[(key[0], key[1], BASELINE)]
        cb = _sum([r for r in base if r["seed"] in {b["seed"] for b in bs}], "carbon_kg")
        lb = sum(b["lb"] for b in bs)
        out.append(
            {"mode": key[0], "workload": key[1], "policy": "lower-bound", "seeds": len(bs),
             "carbon_kg": lb / len(bs), "carbon_ratio": lb / cb if cb else math.nan}
        )  # fmt: skip
    return out


def _sum(rows: list[dict[str, Any]], key: str) -> float:
    return math.fsum(float(r[key]) for r in rows if r.get(key) == r.get(key))


def meets_goal(entry: dict[str, Any]) -> bool:
    """Carbon <= 0.6x and mean bsld <= 1.1x the baseline's."""
    c, b = entry.get("carbon_ratio", math.nan), entry.get("bsld_ratio", math.nan)
    return bool(c <= GOAL_CARBON and b <= GOAL_BSLD)


def _f(x: Any, fmt: str) -> str:
    return "-" if x is None or x != x else format(x, fmt)


def summary_table(summary: list[dict[str, Any]]) -> Table:
    """The rich table of :func:`summarise`."""
    t = Table(title=f"carbon vs mean bounded slowdown (means over seeds; ratios to {BASELINE})")
    for col in (
        "mode", "policy", "carbon kg", "x ES", "mean bsld", "x ES", "bsld rigid jobs",
        "mean wait s", "held", "late", "util", "goal",
    ):  # fmt: skip
        t.add_column(col, justify="left" if col in {"mode", "policy"} else "right")
    last = None
    for e in summary:
        if last is not None and e["mode"] != last:
            t.add_section()
        last = e["mode"]
        bound = e["policy"] == "lower-bound"
        t.add_row(
            e["mode"],
            e["policy"],
            _f(e["carbon_kg"], ",.0f"),
            _f(e["carbon_ratio"], ".3f"),
            "-" if bound else _f(e["mean_bsld"], ",.2f"),
            "-" if bound else _f(e["bsld_ratio"], ".3f"),
            "-" if bound else _f(e["mean_bsld_rigid"], ",.2f"),
            "-" if bound else _f(e["mean_wait"], ",.0f"),
            "-" if bound else _f(e["held"], ",.0f"),
            "-" if bound else _f(e["late"], ",.0f"),
            "-" if bound else _f(e["utilisation"], ".1%"),
            "" if bound else ("yes" if meets_goal(e) else "no"),
        )
    return t


def plot_pareto(summary: list[dict[str, Any]], out: Path) -> list[str]:
    """``pareto.png``: carbon against mean bsld per policy and mode, the lower bound and the
    goal region; [] without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    workloads = list(dict.fromkeys(e["workload"] for e in summary))
    fig, axes = plt.subplots(1, len(workloads), figsize=(8 * len(workloads), 6), squeeze=False)
    cmap = plt.get_cmap("tab10")
    policies = list(dict.fromkeys(e["policy"] for e in summary if e["policy"] != "lower-bound"))
    markers = {"rigid": "o", "flex": "^"}
    for ax, wl in zip(axes[0], workloads, strict=True):
        es = {e["mode"]: e for e in summary if e["workload"] == wl and e["policy"] == BASELINE}
        drawn: list[float] = []
        for e in summary:
            if e["workload"] != wl:
                continue
            if e["policy"] == "lower-bound":
                y = e["carbon_kg"] / 1000.0
                if any(abs(y - v) <= 0.005 * y for v in drawn):
                    continue
                drawn.append(y)
                ax.axhline(e["carbon_kg"] / 1000.0, ls="--", color="grey", lw=1)
                ax.annotate(
                    f"lower bound ({e['mode']})",
                    (0.01, e["carbon_kg"] / 1000.0),
                    xycoords=("axes fraction", "data"),
                    fontsize=8,
                    va="bottom",
                )
                continue
            i = policies.index(e["policy"])
            ax.scatter(
                [e["mean_bsld"]],
                [e["carbon_kg"] / 1000.0],
                color=cmap(i % 10),
                marker=markers.get(e["mode"], "s"),
                s=60,
                label=f"{e['policy']} ({e['mode']})",
            )
        base = es.get("rigid")
        if base is not None:
            x = base["mean_bsld"] * GOAL_BSLD
            y = base["carbon_kg"] / 1000.0 * GOAL_CARBON
            ax.fill_between([0, x], 0, y, color="green", alpha=0.08, label="goal region")
        ax.set_xscale("log")
        ax.set_xlabel("mean bounded slowdown (10 s), log")
        ax.set_ylabel("carbon (t CO2eq)")
        ax.set_ylim(bottom=0)
        ax.set_title(wl)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, ncol=2)
    fig.suptitle("Hyperion carbon evaluation: lower-left is better (o rigid, ^ flexible jobs)")
    fig.tight_layout()
    path = out / "pareto.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [str(path)]
