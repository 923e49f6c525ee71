"""Per-site translation: Hyperion's names in a :class:`JobSpec` rewritten for one cluster.

Partition names become the cluster's ``slurm_name``; accounts and QOS go through the site's
``account_map``/``qos_map`` (names not in a map are kept); site-neutral GPU types in ``--gres``
and ``--gpus*`` become the partition's ``slurm_gpu_type`` (an untyped request when that is
None); ``--time`` is checked against each partition's ``max_time_s``. Without ``--partition``
the site's default partition (``default = true``, else the first) is set explicitly.

:class:`SiteLike` and :class:`PartitionLike` are structural, so ``hyperion.config.SiteConfig``
and simple test doubles both work.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Protocol

from hyperion.errors import JobSpecError
from hyperion.jobspec.spec import JobSpec, OptionValue
from hyperion.jobspec.values import (
    GresItem,
    format_gpus,
    format_gres,
    format_time,
    parse_gpus,
    parse_gres,
    parse_time_limit,
)

_GPU_OPTIONS = ("gres", "gpus", "gpus-per-node", "gpus-per-socket", "gpus-per-task")


class PartitionLike(Protocol):
    """What translation needs of a partition (``hyperion.config.PartitionConfig`` fits)."""

    @property
    def name(self) -> str: ...
    @property
    def slurm_name(self) -> str | None: ...
    @property
    def max_time_s(self) -> int | None: ...
    @property
    def gpu_type(self) -> str | None: ...
    @property
    def slurm_gpu_type(self) -> str | None: ...


class SiteLike(Protocol):
    """What translation needs of a site (``hyperion.config.SiteConfig`` fits)."""

    @property
    def name(self) -> str: ...
    @property
    def partitions(self) -> Sequence[PartitionLike]: ...
    @property
    def account_map(self) -> Mapping[str, str]: ...
    @property
    def qos_map(self) -> Mapping[str, str]: ...


def _slurm_name(p: PartitionLike) -> str:
    return p.slurm_name or p.name


def _partitions(spec: JobSpec, site: SiteLike) -> list[PartitionLike]:
    parts = list(site.partitions)
    if not parts:
        raise JobSpecError(f"site {site.name!r} has no partitions configured")
    ov = spec.options.get("partition")
    if ov is None or ov.value is None:
        return [next((p for p in parts if getattr(p, "default", False)), parts[0])]
    by_name = {p.name: p for p in parts}
    chosen = []
    for name in ov.value.split(","):
        if name not in by_name:
            raise JobSpecError(
                f"site {site.name!r} has no partition {name!r} (--partition, {ov.origin})",
                hint="partitions of this site: " + ", ".join(sorted(by_name)),
            )
        chosen.append(by_name[name])
    return chosen


def _check_time(spec: JobSpec, site: SiteLike, chosen: list[PartitionLike]) -> None:
    ov = spec.options.get("time")
    if ov is None or ov.value is None:
        return
    seconds = parse_time_limit(ov.value)
    for p in chosen:
        limit = p.max_time_s
        if limit is not None and (seconds is None or seconds > limit):
            raise JobSpecError(
                f"--time={ov.value} ({ov.origin}) exceeds the time limit {format_time(limit)} of "
                f"partition {p.name!r} on site {site.name!r}",
                hint=f"ask for at most --time={format_time(limit)} or choose another partition",
            )


def _slurm_gpu_type(gtype: str, site: SiteLike, chosen: list[PartitionLike]) -> str | None:
    for p in chosen:
        if p.gpu_type != gtype:
            raise JobSpecError(
                f"the job asks for GPU type {gtype!r}, but partition {p.name!r} on site "
                f"{site.name!r} has {p.gpu_type or 'no GPU type'!r}"
            )
    names = {p.slurm_gpu_type for p in chosen}
    if len(names) > 1:
        raise JobSpecError(
            f"GPU type {gtype!r} has different names in the partitions of site {site.name!r} "
            "the job lists; list one partition"
        )
    return names.pop()


def _translate_gpus(name: str, value: str, site: SiteLike, chosen: list[PartitionLike]) -> str:
    items = parse_gres(value) if name == "gres" else parse_gpus(value)
    new = tuple(
        GresItem(i.name, _slurm_gpu_type(i.type, site, chosen), i.count)
        if i.name == "gpu" and i.type is not None
        else i
        for i in items
    )
    if new == items:
        return value
    return format_gres(new) if name == "gres" else format_gpus(new)


def translate(spec: JobSpec, site: SiteLike) -> JobSpec:
    """``spec`` with its site-dependent options rewritten for ``site`` (see module doc)."""
    chosen = _partitions(spec, site)
    _check_time(spec, site, chosen)
    options: dict[str, OptionValue] = dict(spec.options)

    def put(name: str, value: str) -> None:
        old = options.get(name)
        if old is None:
            options[name] = OptionValue(name, value, "hyperion", f"site {site.name}")
        elif old.value != value:
            options[name] = replace(old, value=value, original=old.value)

    put("partition", ",".join(_slurm_name(p) for p in chosen))
    for name, mapping in (("account", site.account_map), ("qos", site.qos_map)):
        value = spec.get(name)
        if value is not None and value in mapping:
            put(name, mapping[value])
    for name in _GPU_OPTIONS:
        value = spec.get(name)
        if value is not None:
            put(name, _translate_gpus(name, value, site, chosen))
    return replace(spec, options=options)
