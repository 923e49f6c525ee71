"""From a :class:`JobSpec` to the site-neutral :class:`~hyperion.types.JobRequest` policies see.

The arithmetic follows sbatch's documented defaults:

* ``nodes``: the minimum of ``--nodes``; without it, ``ceil(ntasks / ntasks-per-node)`` when
  both are given, else 1.
* ``ntasks``: ``--ntasks``; else ``nodes * --ntasks-per-node``; else ``gpus *
  --ntasks-per-gpu``; else one task per node (sbatch: "The default is one task per node").
* ``cpus_per_task``: ``--cpus-per-task``; else ``ceil(--cpus-per-gpu * gpus / ntasks)``; else 1.
* ``gpus`` (total): the largest of ``--gpus``, ``--gpus-per-node * nodes``, ``--gpus-per-task
  * ntasks``, ``--gpus-per-socket * nodes`` (at least one socket per node) and the ``gpu``
  entries of ``--gres`` (per node) ``* nodes``. One GPU type per job.
* ``mem_mb`` is memory **per node**: ``--mem`` (``--mem=0``, "all the node's memory", gives
  None); or ``--mem-per-cpu * cpus on the busiest node`` (``ceil(ntasks / nodes) *
  cpus_per_task``); or ``--mem-per-gpu * ceil(gpus / nodes)``; None when not requested.
* ``time_limit_s``: ``--time`` in seconds; None when absent or unlimited (UNLIMITED or 0).
* ``name``: ``--job-name``, else the script's file name, else "wrap" for ``--wrap`` jobs,
  else "sbatch" (sbatch's name for a script read from standard input).
"""

from __future__ import annotations

import math
import posixpath

from hyperion.errors import JobSpecError
from hyperion.jobspec.spec import JobSpec
from hyperion.jobspec.values import (
    GresItem,
    parse_gpus,
    parse_gres,
    parse_memory,
    parse_nodes,
    parse_time_limit,
)
from hyperion.types import JobRequest

_GPU_OPTIONS = ("gpus", "gpus-per-node", "gpus-per-socket", "gpus-per-task", "gres")


def _int(spec: JobSpec, name: str) -> int | None:
    value = spec.get(name)
    return int(value) if value is not None else None


def _gpu_items(spec: JobSpec, name: str) -> tuple[GresItem, ...]:
    value = spec.get(name)
    if value is None:
        return ()
    if name == "gres":
        return tuple(i for i in parse_gres(value) if i.name == "gpu")
    return parse_gpus(value)


def _gpu_type(items: list[GresItem]) -> str | None:
    types = sorted({i.type for i in items if i.type is not None})
    if len(types) > 1:
        raise JobSpecError(
            f"the job asks for several GPU types ({', '.join(types)}); Hyperion places jobs "
            "with one GPU type",
            hint="request one type, or submit one job per type",
        )
    return types[0] if types else None


def _name(spec: JobSpec) -> str:
    if (name := spec.get("job-name")) is not None:
        return name
    if spec.script_path:
        return posixpath.basename(spec.script_path)
    return "wrap" if "wrap" in spec.hyperion_options else "sbatch"


def to_request(spec: JobSpec) -> JobRequest:
    """The resources ``spec`` asks for, in Hyperion's site-neutral terms (see module doc)."""
    per_node, per_gpu = _int(spec, "ntasks-per-node"), _int(spec, "ntasks-per-gpu")
    ntasks_opt = _int(spec, "ntasks")
    nodes_value = spec.get("nodes")
    if nodes_value is not None:
        nodes = parse_nodes(nodes_value)[0]
    elif ntasks_opt is not None and per_node is not None:
        nodes = math.ceil(ntasks_opt / per_node)
    else:
        nodes = 1
    if nodes < 1:
        raise JobSpecError("--nodes=0 (a job without nodes) cannot be placed by Hyperion")

    sums = {n: sum(i.count for i in _gpu_items(spec, n)) for n in _GPU_OPTIONS}
    per_node_gpus = max(sums["gpus-per-node"], sums["gpus-per-socket"], sums["gres"])
    job_gpus = max(sums["gpus"], per_node_gpus * nodes)
    if ntasks_opt is not None:
        ntasks = ntasks_opt
    elif per_node is not None:
        ntasks = nodes * per_node
    elif per_gpu is not None and job_gpus:
        ntasks = job_gpus * per_gpu
    else:
        ntasks = nodes
    gpus = max(job_gpus, sums["gpus-per-task"] * ntasks)
    items = [i for n in sums for i in _gpu_items(spec, n)]

    cpus_per_task = _int(spec, "cpus-per-task")
    if cpus_per_task is None:
        per_gpu_cpus = _int(spec, "cpus-per-gpu")
        cpus_per_task = max(1, math.ceil(per_gpu_cpus * gpus / ntasks)) if per_gpu_cpus else 1

    mem_mb: int | None = None
    if (mem := spec.get("mem")) is not None:
        mem_mb = parse_memory(mem) or None
    elif (per_cpu := spec.get("mem-per-cpu")) is not None:
        mem_mb = parse_memory(per_cpu) * math.ceil(ntasks / nodes) * cpus_per_task
    elif (per_gpu_mem := spec.get("mem-per-gpu")) is not None:
        mem_mb = parse_memory(per_gpu_mem) * math.ceil(gpus / nodes) or None

    time = spec.get("time")
    return JobRequest(
        nodes=nodes,
        ntasks=ntasks,
        cpus_per_task=cpus_per_task,
        mem_mb=mem_mb,
        gpus=gpus,
        gpu_type=_gpu_type(items),
        time_limit_s=parse_time_limit(time) if time is not None else None,
        partition=spec.get("partition"),
        account=spec.get("account"),
        name=_name(spec),
    )
