"""The tables of ``hyperion bench multicluster`` (also ``--render RESULT_JSON``)."""

from __future__ import annotations

from typing import Any

from hyperion.bench.burst import JOB_INFO_RPCS


def render(out: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    w = out["workload"]
    console.print(
        f"[bold]workload[/]: {w['jobs']} jobs (seed {w['seed']}), tasks {w['ntasks']}, "
        f"{w['two_node_jobs']} two-node jobs, run time mean {w['runtime_s']['mean']:.1f} s "
        f"max {w['runtime_s']['max']:.1f} s, requested limit >= "
        f"{w['requested_over_actual_min']:.0f}x the run time, "
        f"{w['core_seconds']:.0f} core-seconds"
    )
    if "baseline" in out or "hyperion" in out:
        t = Table(title="burst: wait from the user's submit command to Slurm's start (sacct)")
        t.add_column("metric")
        runs = [k for k in ("baseline", "hyperion") if k in out]
        names = {"baseline": "sbatch -M", "hyperion": "hsub (earliest-start + re-placement)"}
        for k in runs:
            t.add_column(names[k], justify="right")
        if "ratio" in out:
            t.add_column("hsub / sbatch -M", justify="right")
        for metric, label in (
            ("mean_wait_s", "mean wait (s)"),
            ("median_wait_s", "median wait (s)"),
            ("p95_wait_s", "p95 wait (s)"),
            ("max_wait_s", "max wait (s)"),
            ("makespan_s", "makespan (s)"),
        ):
            row = [label] + [f"{out[k].get(metric, float('nan')):.1f}" for k in runs]
            if "ratio" in out:
                r = out["ratio"].get(metric)
                row.append(f"{r:.2f}x" if r is not None else "-")
            t.add_row(*row)
        t.add_row(
            "jobs timed",
            *[str(out[k].get("jobs", 0)) for k in runs],
            *([""] if "ratio" in out else []),
        )
        t.add_row(
            "placed on",
            *[_fmt_counts(out[k]["placed"]) for k in runs],
            *([""] if "ratio" in out else []),
        )
        t.add_row(
            "ran on",
            *[_fmt_counts(out[k]["ran_on"]) for k in runs],
            *([""] if "ratio" in out else []),
        )
        t.add_row(
            "final states",
            *[_fmt_counts(out[k]["states"]) for k in runs],
            *([""] if "ratio" in out else []),
        )
        console.print(t)
        if "hyperion" in out:
            moves = sum(r.get("moves", 0) for r in out["hyperion"]["per_job"])
            moved = sum(1 for r in out["hyperion"]["per_job"] if r.get("moves"))
            console.print(f"Hyperion re-placed {moved} job(s), {moves} move(s) in all")
        if "goal_met" in out:
            verdict = "[green]met[/]" if out["goal_met"] else "[red]NOT met[/]"
            console.print(
                f"goal: Hyperion's mean wait <= 0.8x sbatch -M: {verdict} "
                f"({out['ratio']['mean_wait_s']:.2f}x)"
            )
        for k in runs:
            if out[k]["failed_submits"]:
                console.print(
                    f"[red]{k}: {len(out[k]['failed_submits'])} failed submissions:[/] "
                    f"{out[k]['failed_submits'][:3]}"
                )
    if "burst_rpcs_baseline" in out or "burst_rpcs_hyperion" in out:
        t = Table(title="slurmctld RPCs during each burst (sdiag), by site")
        for col in ("run", "site", "all", "SUBMIT", "WILL_RUN", "JOB_INFO", "NODE_INFO", "CANCEL"):
            t.add_column(col, justify="left" if col in ("run", "site") else "right")
        for key, label in (("burst_rpcs_baseline", "sbatch -M"), ("burst_rpcs_hyperion", "hsub")):
            for site, d in out.get(key, {}).items():
                t.add_row(
                    label,
                    site,
                    str(sum(v for k, v in d.items() if k != "REQUEST_STATS_INFO")),
                    str(d.get("REQUEST_SUBMIT_BATCH_JOB", 0)),
                    str(d.get("REQUEST_JOB_WILL_RUN", 0)),
                    str(sum(d.get(k, 0) for k in JOB_INFO_RPCS)),
                    str(d.get("REQUEST_NODE_INFO", 0)),
                    str(d.get("REQUEST_CANCEL_JOB_STEP", 0) + d.get("REQUEST_KILL_JOB", 0)),
                )
        console.print(t)
    if "latency" in out:
        t = Table(title="submit latency, whole command as the user (ms)")
        for col in ("command", "median", "p95", "n"):
            t.add_column(col, justify="left" if col == "command" else "right")
        for kind, s in out["latency"].items():
            t.add_row(kind, f"{s['median_ms']:.1f}", f"{s['p95_ms']:.1f}", str(s["n"]))
        console.print(t)
    if "rpc" in out:
        r = out["rpc"]
        st = r["settings"]
        t = Table(
            title=f"slurmctld job-info RPCs (sdiag) over {r['interval_s']:.0f} s; poll every "
            f"{st['poll_interval_s']:g}-{st['poll_max_interval_s']:g} s, snapshot every "
            f"{st['snapshot_interval_s']:g} s, re-place every {st['replace_interval_s']:g} s"
        )
        for col in (
            "phase",
            "site",
            "tracked",
            "job-info RPCs",
            "of which snapshot",
            "poll",
            "poll per round",
            "all RPCs",
        ):
            t.add_column(col, justify="left" if col in ("phase", "site") else "right")
        for phase in ("few", "many", "unpinned"):
            if phase not in r:
                continue
            p = r[phase]
            for site, s in p["sites"].items():
                t.add_row(
                    phase,
                    site,
                    str(p["tracked_per_site"].get(site, 0)),
                    str(s["job_info_rpcs"]),
                    str(s["snapshot_rounds"]),
                    str(s["poll_job_info_rpcs"]),
                    f"{s['poll_job_info_per_round']:.2f}",
                    str(s["all_rpcs"]),
                )
        console.print(t)
        for phase in ("few", "many", "unpinned"):
            for site, s in r.get(phase, {}).get("sites", {}).items():
                types = ", ".join(
                    f"{k.removeprefix('REQUEST_')} {v}"
                    for k, v in s["by_type"].items()
                    if k != "REQUEST_STATS_INFO"
                )
                console.print(f"  {phase} {site}: {types}")
        console.print(
            "job-info = REQUEST_JOB_INFO(+_SINGLE, _USER_INFO) over the interval; snapshot = "
            "REQUEST_NODE_INFO (only the snapshot loop asks for nodes, with one squeue each); "
            "poll = the rest; rounds = interval / poll ceiling "
            f"({r['few']['expected_poll_rounds'] if 'few' in r else 0:.1f}; an upper bound: "
            "a round also takes its own time)"
        )
    console.print(f"cancelled: {out['cancelled']}; full results: {out.get('saved_to')}")


def _fmt_counts(d: dict[str, int]) -> str:
    return " ".join(f"{k}:{v}" for k, v in d.items())
