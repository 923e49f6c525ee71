"""Placing one job on the nodes of a partition, the way Slurm's ``cons_tres`` with
``CR_Core_Memory`` does for a job without ``--exclusive`` (and whole nodes for one with it).

The node state is three lists, free cores, free memory (MB) and free GPUs per node. A job's
demand (:data:`Need`) is ``(cores, gpus, nodes, mem_per_node, mem_per_core, exclusive)``:
``gpus`` in total; ``nodes`` the node count asked (0: any), or for an exclusive job the whole
nodes it needs; memory per node or per core (0: none asked). The rules, in order:

* exclusive: the first ``nodes`` fully idle nodes (lowest index first), held whole;
* a node count ``N``: ``ceil(cores / N)`` cores, ``ceil(gpus / N)`` GPUs and the memory on each of
  ``N`` nodes (like ``--ntasks-per-node``), best fit: the nodes with the fewest free cores;
* otherwise, if one node can hold the whole job, the one with the fewest free cores (best fit,
  lowest index on ties);
* otherwise the cores are spread: every node with a free core (and, per node, the memory asked;
  per core, memory for at least one core) can take what it has, most-used nodes first (fewest free
  cores), so idle nodes stay whole. GPUs go with cores: the nodes with the most free GPUs each
  take one core and their GPUs until the GPUs are placed, then the other cores are spread.

Each rule finds a placement whenever one of its kind exists, so a job that fits keeps fitting
when more is free (backfill reservations rely on that). An allocation is a list of
``(node, cores, memory MB, GPUs)``.
"""

from __future__ import annotations

#: (cores, gpus, nodes, memory per node MB, memory per core MB, exclusive)
Need = tuple[int, int, int, int, int, bool]
#: (node, cores, memory MB, GPUs) per node used
Alloc = list[tuple[int, int, int, int]]


def place(
    need: Need, fc: list[int], fm: list[int], fg: list[int], shape: tuple[int, int, int]
) -> Alloc | None:
    """Where ``need`` goes on nodes with free cores ``fc``, memory ``fm`` and GPUs ``fg`` (each
    node has ``shape`` = (cores, memory, GPUs) in all); None if it does not fit now."""
    c, g, n, memn, memc, excl = need
    if c > sum(fc) or (g and g > sum(fg)) or (memc and c * memc > sum(fm)):
        return None
    if excl:
        return _whole(n, fc, fm, fg, shape)
    if n:
        return _per_node(c, g, n, memn, memc, fc, fm, fg)
    mem = memc * c if memc else memn
    best = -1
    bc = 0
    for i, f in enumerate(fc):
        if f >= c and (best < 0 or f < bc) and fm[i] >= mem and fg[i] >= g:
            best = i
            bc = f
    if best >= 0:
        return [(best, c, mem, g)]
    return _spread(c, g, memn, memc, fc, fm, fg)


def _whole(
    n: int, fc: list[int], fm: list[int], fg: list[int], shape: tuple[int, int, int]
) -> Alloc | None:
    cpn, mpn, gpn = shape
    out: Alloc = []
    for i, f in enumerate(fc):
        if f == cpn and fm[i] == mpn and fg[i] == gpn:
            out.append((i, cpn, mpn, gpn))
            if len(out) == n:
                return out
    return None


def _per_node(
    c: int, g: int, n: int, memn: int, memc: int, fc: list[int], fm: list[int], fg: list[int]
) -> Alloc | None:
    k = -(-c // n)
    h = -(-g // n)
    mem = memc * k if memc else memn
    ok = [(f, i) for i, f in enumerate(fc) if f >= k and fm[i] >= mem and fg[i] >= h]
    if len(ok) < n:
        return None
    ok.sort()
    return [(i, k, mem, h) for _, i in ok[:n]]


def _spread(
    c: int, g: int, memn: int, memc: int, fc: list[int], fm: list[int], fg: list[int]
) -> Alloc | None:
    if memc:  # cores each node can take
        caps = list(map(min, fc, [m // memc for m in fm]))
    elif memn:
        caps = [f if fm[i] >= memn else 0 for i, f in enumerate(fc)]
    else:
        caps = fc
    if sum(caps) < c:
        return None
    usable = [i for i, k in enumerate(caps) if k > 0]
    took: dict[int, list[int]] = {}  # node -> [cores, GPUs]
    if g:
        # every node used holds a core, so at most ``c`` nodes hold GPUs: the ``c`` with the most
        # free GPUs are the best such set
        top = sorted(usable, key=lambda i: (-fg[i], fc[i], i))[:c]
        if sum(fg[i] for i in top) < g:
            return None
        left_g = g
        for i in top:
            h = min(fg[i], left_g)
            took[i] = [1, h]
            left_g -= h
            if not left_g:
                break
    left = c - len(took)
    # most used first; ``sorted`` is stable and ``usable`` is in node order, so ties go by index
    order = list(took) + sorted((i for i in usable if i not in took), key=fc.__getitem__)
    for i in order:
        if not left:
            break
        have = took.setdefault(i, [0, 0])
        k = min(caps[i] - have[0], left)
        have[0] += k
        left -= k
    return [(i, k, memc * k if memc else memn, h) for i, (k, h) in took.items()]


def take(alloc: Alloc, fc: list[int], fm: list[int], fg: list[int]) -> None:
    """Hold ``alloc`` on the node lists."""
    for i, k, m, h in alloc:
        fc[i] -= k
        fm[i] -= m
        fg[i] -= h


def give(alloc: Alloc, fc: list[int], fm: list[int], fg: list[int]) -> None:
    """Release ``alloc`` on the node lists."""
    for i, k, m, h in alloc:
        fc[i] += k
        fm[i] += m
        fg[i] += h
