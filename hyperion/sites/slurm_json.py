"""Parsers of what Slurm 22.05 prints: ``--json`` documents (the same shapes slurmrestd's
v0.0.38 returns), ``scontrol show ... -o`` lines and ``sbatch --test-only`` messages.

Pure functions: unit-tested on documents captured from the real testbed.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from hyperion.sites.base import JobStatus, PartitionInfo, StartEstimate
from hyperion.sites.states import from_slurm
from hyperion.types import JobState, PartitionState, QueuedJob

Json = Mapping[str, Any]

_TEST_ONLY = re.compile(
    r"Job (?P<id>\d+) to start at (?P<time>\S+) using (?P<cpus>\d+) processors on nodes "
    r"(?P<nodes>\S+) in partition (?P<partition>\S+)"
)


def envelope_errors(doc: Json) -> list[str]:
    """Messages from the ``errors`` list of a Slurm JSON envelope.

    "Nothing found" (slurmdbd error 9003, an empty query result) is not an error.
    """
    out = []
    for err in doc.get("errors") or []:
        if isinstance(err, Mapping) and err.get("error_number") == 9003:
            continue
        if isinstance(err, Mapping):
            text = err.get("error") or err.get("description") or str(err)
            desc = err.get("description")
            if desc and desc != text:
                text = f"{text} ({desc})"
            out.append(str(text))
        else:
            out.append(str(err))
    return out


def slurm_version(doc: Json) -> str:
    """The Slurm release from a JSON envelope's ``meta`` block."""
    meta = doc.get("meta") or {}
    release = (meta.get("Slurm") or {}).get("release")
    if release:
        return str(release)
    v = (meta.get("Slurm") or {}).get("version") or {}
    minor = v.get("minor", "?")
    if isinstance(minor, int):  # releases are written YY.MM.micro: 22.05.9, not 22.5.9
        minor = f"{minor:02d}"
    return f"{v.get('major', '?')}.{minor}.{v.get('micro', '?')}"


def gpu_count(gres: str | None) -> int:
    """GPUs in a GRES string: ``gpu:2``, ``gpu:a100:2(IDX:0-1)``, ``gres:gpu:2``, lists."""
    if not gres or gres in {"N/A", "(null)"}:
        return 0
    total = 0
    for item in gres.split(","):
        parts = item.strip().split("(", 1)[0].removeprefix("gres:").removeprefix("gres/").split(":")
        if parts[0].lower() != "gpu":
            continue
        total += int(parts[-1]) if len(parts) > 1 and parts[-1].isdigit() else 1
    return total


def tres(text: str | None) -> dict[str, str]:
    """``cpu=2,mem=1000M,gres/gpu=2`` -> ``{"cpu": "2", "mem": "1000M", "gres/gpu": "2"}``."""
    out: dict[str, str] = {}
    for part in (text or "").split(","):
        if "=" in part:
            k, v = part.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def _time(value: Any) -> float | None:
    if isinstance(value, Mapping):  # newer data_parser: {"set": true, "number": N}
        value = value.get("number") if value.get("set", True) else None
    if isinstance(value, int | float) and value > 0:
        return float(value)
    return None


def _minutes(value: Any) -> int | None:
    if isinstance(value, Mapping):
        if value.get("infinite"):
            return None
        value = value.get("number") if value.get("set", True) else None
    if isinstance(value, int) and 0 <= value < 0xFFFFFFFE:
        return value * 60
    return None


def _job_gpus(job: Json) -> int:
    req = tres(job.get("tres_req_str"))
    if "gres/gpu" in req:
        return int(req["gres/gpu"])
    per_node = gpu_count(job.get("tres_per_node"))
    return per_node * int(job.get("node_count") or 1) + gpu_count(job.get("tres_per_job"))


def _reason(value: Any) -> str:
    """Slurm's state reason; its placeholder "None" means there is none."""
    text = str(value or "")
    return "" if text == "None" else text


def squeue_statuses(doc: Json) -> list[JobStatus]:
    """Job statuses from ``squeue --json`` or ``GET /slurm/v0.0.38/jobs``."""
    out = []
    for job in doc.get("jobs") or []:
        slurm_state = job.get("job_state") or ""
        if isinstance(slurm_state, list):
            slurm_state = "+".join(slurm_state)
        exit_code = job.get("exit_code")
        out.append(
            JobStatus(
                job_id=str(job["job_id"]),
                state=from_slurm(slurm_state),
                slurm_state=str(slurm_state),
                user=job.get("user_name") or None,
                name=job.get("name") or "",
                partition=job.get("partition") or "",
                comment=job.get("comment") or "",
                submit_time=_time(job.get("submit_time")),
                start_time=_time(job.get("start_time")),
                end_time=_time(job.get("end_time")),
                exit_code=exit_code if isinstance(exit_code, int) else None,
                reason=_reason(job.get("state_reason")),
            )
        )
    return out


def sacct_statuses(doc: Json) -> list[JobStatus]:
    """Job statuses from ``sacct --json`` (accounting: jobs slurmctld has forgotten).

    A requeued job has several records; the one submitted last wins.
    """
    latest: dict[str, JobStatus] = {}
    for job in doc.get("jobs") or []:
        state = (job.get("state") or {}).get("current") or ""
        times = job.get("time") or {}
        comment = (job.get("comment") or {}).get("job") or ""
        exit_code = (job.get("exit_code") or {}).get("return_code")
        status = JobStatus(
            job_id=str(job["job_id"]),
            state=from_slurm(state),
            slurm_state=str(state),
            user=job.get("user") or None,
            name=job.get("name") or "",
            partition=job.get("partition") or "",
            comment=comment,
            submit_time=_time(times.get("submission")),
            start_time=_time(times.get("start")),
            end_time=_time(times.get("end")),
            exit_code=exit_code if isinstance(exit_code, int) else None,
            reason=_reason((job.get("state") or {}).get("reason")),
        )
        prev = latest.get(status.job_id)
        if prev is None or (status.submit_time or 0) >= (prev.submit_time or 0):
            latest[status.job_id] = status
    return list(latest.values())


def queued_jobs(doc: Json) -> list[QueuedJob]:
    """Pending and running jobs with their requested resources, for a :class:`SiteState`."""
    out = []
    for job in doc.get("jobs") or []:
        state = from_slurm(job.get("job_state"))
        if not state.is_active:
            continue
        out.append(
            QueuedJob(
                job_id=str(job["job_id"]),
                state=state,
                partition=job.get("partition") or "",
                user=job.get("user_name") or "",
                name=job.get("name") or "",
                nodes=int(job.get("node_count") or 1),
                cpus=int(job.get("cpus") or 1),
                gpus=_job_gpus(job),
                time_limit_s=_minutes(job.get("time_limit")),
                submit_time=_time(job.get("submit_time")),
                start_time=_time(job.get("start_time")),
                priority=job.get("priority") if isinstance(job.get("priority"), int) else None,
                comment=job.get("comment") or "",
            )
        )
    return out


def _flags(node: Json) -> set[str]:
    flags = {str(f).upper() for f in node.get("state_flags") or []}
    state = node.get("state")
    if isinstance(state, list):
        flags |= {str(s).upper() for s in state}
    return flags


def _base_state(node: Json) -> str:
    state = node.get("state")
    if isinstance(state, list):
        state = state[0] if state else ""
    return str(state or "").lower()


def partition_states(
    nodes_doc: Json, partitions: Iterable[PartitionInfo], jobs: Iterable[QueuedJob]
) -> tuple[PartitionState, ...]:
    """Per-partition totals from ``sinfo --json`` / ``GET /nodes`` plus the queue."""
    per_part: dict[str, list[Json]] = defaultdict(list)
    for node in nodes_doc.get("nodes") or []:
        for part in node.get("partitions") or []:
            per_part[part].append(node)
    pending: dict[str, list[QueuedJob]] = defaultdict(list)
    running: dict[str, int] = defaultdict(int)
    for job in jobs:
        for part in job.partition.split(","):
            if job.state is JobState.PENDING:
                pending[part].append(job)
            elif job.state in (JobState.RUNNING, JobState.COMPLETING, JobState.SUSPENDED):
                running[part] += 1
    out = []
    for info in partitions:
        nodes = per_part.get(info.name, [])
        idle_nodes = alloc_nodes = down_nodes = up_cloud = down_cloud = 0
        total_cpus = idle_cpus = alloc_cpus = total_gpus = alloc_gpus = 0
        for node in nodes:
            flags = _flags(node)
            base = _base_state(node)
            cpus = int(node.get("cpus") or 0)
            gpus = gpu_count(node.get("gres"))
            used_gpus = gpu_count(node.get("gres_used"))
            unusable = _unusable(node)
            total_cpus += cpus
            total_gpus += gpus
            if "CLOUD" in flags:
                if flags & {"POWERED_DOWN", "POWER_DOWN", "POWERING_DOWN"}:
                    down_cloud += 1
                else:
                    up_cloud += 1
            if unusable:
                down_nodes += 1
                continue
            alloc = int(node.get("alloc_cpus") or 0)
            alloc_cpus += alloc
            alloc_gpus += used_gpus
            idle_cpus += max(cpus - alloc, 0)
            if alloc == 0 and base == "idle":
                idle_nodes += 1
            else:
                alloc_nodes += 1
        waiting = pending.get(info.name, [])
        out.append(
            PartitionState(
                name=info.name,
                total_nodes=len(nodes),
                idle_nodes=idle_nodes,
                alloc_nodes=alloc_nodes,
                down_nodes=down_nodes,
                total_cpus=total_cpus,
                idle_cpus=idle_cpus,
                alloc_cpus=alloc_cpus,
                total_gpus=total_gpus,
                idle_gpus=max(total_gpus - alloc_gpus - _down_gpus(nodes), 0),
                alloc_gpus=alloc_gpus,
                cloud_nodes_powered_down=down_cloud,
                cloud_nodes_powered_up=up_cloud,
                pending_jobs=len(waiting),
                running_jobs=running.get(info.name, 0),
                pending_cpus=sum(j.cpus for j in waiting),
                pending_gpus=sum(j.gpus for j in waiting),
                max_time_s=info.max_time_s,
                priority_tier=info.priority_tier,
                preempt_mode=info.preempt_mode,
            )
        )
    return tuple(out)


_UNUSABLE_STATES = frozenset({"down", "drained", "fail", "future", "unknown"})
_UNUSABLE_FLAGS = frozenset({"DRAIN", "DOWN", "FAIL", "NOT_RESPONDING", "MAINTENANCE"})


def _unusable(node: Json) -> bool:
    return _base_state(node) in _UNUSABLE_STATES or bool(_flags(node) & _UNUSABLE_FLAGS)


def _down_gpus(nodes: list[Json]) -> int:
    return sum(gpu_count(node.get("gres")) for node in nodes if _unusable(node))


def slurm_duration(text: str) -> int | None:
    """Seconds from a Slurm time limit string (``1-00:00:00``, ``04:00:00``, ``UNLIMITED``)."""
    text = text.strip()
    if text.upper() in {"UNLIMITED", "INFINITE", "NONE", "N/A", ""}:
        return None
    days = 0
    if "-" in text:
        d, text = text.split("-", 1)
        days = int(d)
    parts = [int(p) for p in text.split(":")]
    if len(parts) == 1:
        seconds = parts[0] * 60 if days == 0 else parts[0] * 3600
    elif len(parts) == 2:
        seconds = parts[0] * 60 + parts[1] if days == 0 else parts[0] * 3600 + parts[1] * 60
    else:
        seconds = parts[0] * 3600 + parts[1] * 60 + parts[2]
    return days * 86400 + seconds


def key_values(line: str) -> dict[str, str]:
    """``A=1 B=x y C=2`` (scontrol one-line output) -> dict; values may not contain '='."""
    out: dict[str, str] = {}
    for m in re.finditer(r"(\S+?)=(.*?)(?=\s+\S+?=|$)", line.strip()):
        out[m.group(1)] = m.group(2).strip()
    return out


def scontrol_partitions(text: str) -> list[PartitionInfo]:
    """Partitions from ``scontrol show partition -o`` (one line each)."""
    out = []
    for line in text.splitlines():
        if not line.strip().startswith("PartitionName="):
            continue
        kv = key_values(line)
        out.append(
            PartitionInfo(
                name=kv["PartitionName"],
                nodes=kv.get("Nodes", ""),
                total_nodes=int(kv.get("TotalNodes", "0") or 0),
                total_cpus=int(kv.get("TotalCPUs", "0") or 0),
                max_time_s=slurm_duration(kv.get("MaxTime", "UNLIMITED")),
                priority_tier=int(kv.get("PriorityTier", "1") or 1),
                preempt_mode=kv.get("PreemptMode", "OFF").upper(),
                default=kv.get("Default", "NO").upper() == "YES",
                state=kv.get("State", "UP").upper(),
            )
        )
    return out


def rest_partitions(doc: Json) -> list[PartitionInfo]:
    """Partitions from ``GET /slurm/v0.0.38/partitions``."""
    out = []
    for p in doc.get("partitions") or []:
        modes = [m for m in p.get("preemption_mode") or [] if str(m).lower() != "disabled"]
        out.append(
            PartitionInfo(
                name=p["name"],
                nodes=p.get("nodes") or "",
                total_nodes=int(p.get("total_nodes") or 0),
                total_cpus=int(p.get("total_cpus") or 0),
                max_time_s=_minutes(p.get("max_time_limit")),
                priority_tier=int(p.get("priority_tier") or 1),
                preempt_mode=",".join(str(m) for m in modes).upper() or "OFF",
                default="default" in [str(f).lower() for f in p.get("flags") or []],
                state=str(p.get("state") or "UP").upper(),
            )
        )
    return out


def test_only_estimate(stderr: str) -> StartEstimate | None:
    """Parse ``sbatch --test-only``: ``Job N to start at T using C processors on nodes X in
    partition P``. Slurm prints local time without a zone: CLI transports run Slurm with
    ``TZ=UTC`` so the time is read as UTC."""
    m = _TEST_ONLY.search(stderr)
    if not m:
        return None
    try:
        when = datetime.strptime(m.group("time"), "%Y-%m-%dT%H:%M:%S")
    except ValueError:  # another SLURM_TIME_FORMAT: no estimate rather than a traceback
        return None
    when = when.replace(tzinfo=UTC)
    return StartEstimate(
        start_time=when.timestamp(),
        partition=m.group("partition"),
        nodes=m.group("nodes"),
    )
