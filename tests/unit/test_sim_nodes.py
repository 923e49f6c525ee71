"""Node-aware partitions: placement rules, hand-built schedules with known starts, EASY
reservations over nodes, and random workloads checked for over-commitment, kept reservations
and agreement with the pooled scheduler where nodes have one core."""

from __future__ import annotations

from math import inf
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hyperion.errors import HyperionError
from hyperion.placement.heuristics import get_policy
from hyperion.sim import Engine, NodePool, Pool, SimJob, SimSite, load_sim_sites
from hyperion.sim.nodes import Alloc, place


def J(
    jid: int,
    submit: float,
    cores: int,
    run: float,
    req: float | None = None,
    **kw: object,
) -> SimJob:
    j = SimJob(jid, submit, run, run if req is None else req, cores, **kw)  # type: ignore[arg-type]
    j.idx = jid  # the engine numbers jobs; tests that submit directly need distinct numbers
    return j


def run(jobs: list[SimJob], pool: Pool) -> dict[int, float]:
    Engine([SimSite("s", [pool])], get_policy("home")).run(jobs)
    return {j.job_id: j.start for j in jobs}


def free(n: int, cores: int, mem: int = 0, gpus: int = 0) -> tuple[list[int], ...]:
    return [cores] * n, [mem] * n, [gpus] * n


# -- placement ----------------------------------------------------------------------------------


def test_one_node_best_fit_takes_the_fullest_node_that_holds_the_job() -> None:
    fc, fm, fg = [8, 3, 5, 3], [0] * 4, [0] * 4
    assert place((3, 0, 0, 0, 0, False), fc, fm, fg, (8, 0, 0)) == [(1, 3, 0, 0)]
    assert place((4, 0, 0, 0, 0, False), fc, fm, fg, (8, 0, 0)) == [(2, 4, 0, 0)]


def test_spread_fills_the_most_used_nodes_first() -> None:
    fc, fm, fg = [8, 2, 8, 3], [0] * 4, [0] * 4
    assert place((10, 0, 0, 0, 0, False), fc, fm, fg, (8, 0, 0)) == [
        (1, 2, 0, 0),
        (3, 3, 0, 0),
        (0, 5, 0, 0),
    ]
    assert place((22, 0, 0, 0, 0, False), fc, fm, fg, (8, 0, 0)) is None


def test_memory_per_core_limits_the_cores_a_node_takes() -> None:
    fc, fm, fg = free(2, 8, 1000)
    # 100 MB a core: 8 cores fit on one node, the other 4 on the next
    a = place((12, 0, 0, 0, 100, False), fc, fm, fg, (8, 1000, 0))
    assert a == [(0, 8, 800, 0), (1, 4, 400, 0)]
    # 200 MB a core: 5 cores a node at most, 10 in all
    assert place((12, 0, 0, 0, 200, False), fc, fm, fg, (8, 1000, 0)) is None
    assert place((10, 0, 0, 0, 200, False), fc, fm, fg, (8, 1000, 0)) is not None


def test_memory_per_node_is_asked_on_every_node_used() -> None:
    fc, fm, fg = [4, 4], [1000, 500], [0, 0]
    assert place((6, 0, 0, 600, 0, False), fc, fm, fg, (4, 1000, 0)) is None
    assert place((6, 0, 0, 500, 0, False), fc, fm, fg, (4, 1000, 0)) == [
        (0, 4, 500, 0),
        (1, 2, 500, 0),
    ]


def test_gpus_go_with_cores_when_spread() -> None:
    fc, fm, fg = [4, 4, 4], [0] * 3, [1, 0, 2]
    # no node has 3 GPUs: node 2 (2 GPUs) and node 0 (1 GPU) each take one core and their GPUs
    a = place((2, 3, 0, 0, 0, False), fc, fm, fg, (4, 0, 2))
    assert a is not None and sorted(a) == [(0, 1, 0, 1), (2, 1, 0, 2)]
    # one core cannot hold GPUs on two nodes
    assert place((1, 3, 0, 0, 0, False), fc, fm, fg, (4, 0, 2)) is None


def test_node_count_puts_an_equal_share_on_each_node() -> None:
    fc, fm, fg = [4, 2, 3, 4], [0] * 4, [2, 2, 0, 2]
    a = place((4, 2, 2, 0, 0, False), fc, fm, fg, (4, 0, 2))  # 2 cores + 1 GPU on 2 nodes
    assert a == [(1, 2, 0, 1), (0, 2, 0, 1)]
    assert place((4, 2, 4, 0, 0, False), fc, fm, fg, (4, 0, 2)) is None  # node 2 has no GPU


def test_exclusive_takes_whole_idle_nodes() -> None:
    fc, fm, fg = [4, 3, 4], [100, 100, 100], [0, 0, 0]
    assert place((1, 0, 1, 0, 0, True), fc, fm, fg, (4, 100, 0)) == [(0, 4, 100, 0)]
    assert place((1, 0, 2, 0, 0, True), fc, fm, fg, (4, 100, 0)) == [
        (0, 4, 100, 0),
        (2, 4, 100, 0),
    ]
    assert place((1, 0, 3, 0, 0, True), fc, fm, fg, (4, 100, 0)) is None


# -- hand-built schedules -----------------------------------------------------------------------


def test_job_that_fits_in_total_cores_but_on_no_node_waits() -> None:
    def jobs() -> list[SimJob]:
        return [J(1, 0, 4, 100, nodes=2), J(2, 1, 4, 10, nodes=1), J(3, 2, 4, 10)]

    # 2 of 4 cores are free on each node: 2 (4 cores on one node) waits for 1; 3 spreads over
    # both nodes and, ending at 12, backfills before 2's shadow time (100)
    assert run(jobs(), NodePool("p", 2, 4)) == {1: 0, 2: 100, 3: 2}
    assert run(jobs(), NodePool("p", 2, 4, backfill=False)) == {1: 0, 2: 100, 3: 100}
    assert run(jobs(), Pool("p", 8, backfill=False)) == {1: 0, 2: 1, 3: 11}  # pooled: no wait


def test_memory_blocks_a_job_while_cores_are_free() -> None:
    jobs = [
        J(1, 0, 1, 100, mem_mb=800),
        J(2, 0, 1, 50, mem_mb=800),
        J(3, 1, 1, 10, mem_mb=300),
    ]
    assert run(jobs, NodePool("p", 2, 8, mem_per_node=1000)) == {1: 0, 2: 0, 3: 50}
    # nodes without a memory size: memory is not a resource
    jobs = [j.copy() for j in jobs]
    assert run(jobs, NodePool("p", 2, 8)) == {1: 0, 2: 0, 3: 1}


def test_job_needing_more_memory_than_nodes_have_is_dropped() -> None:
    jobs = [J(1, 0, 12, 10, mem_per_core=200), J(2, 0, 1, 10, mem_mb=2000), J(3, 0, 12, 10)]
    site = SimSite("s", [NodePool("p", 2, 8, mem_per_node=1000)])
    m = Engine([site], get_policy("home")).run(jobs)
    assert m.dropped == 2 and jobs[2].start == 0


def test_gpus_per_node() -> None:
    def jobs() -> list[SimJob]:
        return [
            J(1, 0, 7, 100, gpus=1),  # node 0
            J(2, 1, 2, 10, gpus=1),  # node 1 (node 0 has one core left)
            J(3, 2, 1, 10, gpus=2, nodes=1),  # 2 GPUs free, but one a node: waits for 2
            J(4, 3, 1, 10, gpus=1),  # node 0's last GPU: the head gets node 1 at 11
        ]

    assert run(jobs(), NodePool("p", 2, 8, 2)) == {1: 0, 2: 1, 3: 11, 4: 3}
    assert run(jobs(), Pool("p", 16, 4)) == {1: 0, 2: 1, 3: 2, 4: 11}  # pooled GPUs


def test_explicit_node_count_holds_a_share_on_each_node() -> None:
    pool = NodePool("p", 4, 4)
    SimSite("s", [pool])
    pool.submit(J(1, 0, 4, 100, nodes=4), 0.0)
    assert pool.fc == [3, 3, 3, 3]
    pool.submit(J(2, 1, 4, 10, nodes=1), 1.0)
    assert [j.job_id for j in pool.queue] == [2] and pool.shadow == 100
    pool.submit(J(3, 2, 12, 10), 2.0)  # ends by the shadow time: spreads 3 cores a node
    assert pool.fc == [0, 0, 0, 0] and pool.queue[0].job_id == 2
    pool.submit(J(4, 3, 6, 5, nodes=3), 3.0)  # 2 cores on 3 nodes: 6 cores: none is free
    assert pool.queue[-1].job_id == 4 and pool.pending_cores == 4 + 6


def test_exclusive_takes_whole_nodes() -> None:
    def jobs() -> list[SimJob]:
        return [
            J(1, 0, 1, 100),  # node 0
            J(2, 1, 1, 10, exclusive=True),  # node 1, whole
            J(3, 2, 1, 10, exclusive=True),  # no idle node until 2 ends at 11
            J(4, 3, 1, 20),  # node 0 has 3 cores; 3 still gets node 1 at 11
        ]

    assert run(jobs(), NodePool("p", 2, 4)) == {1: 0, 2: 1, 3: 11, 4: 3}
    assert run(jobs(), NodePool("p", 2, 4, backfill=False)) == {1: 0, 2: 1, 3: 11, 4: 11}
    pool = NodePool("p", 2, 4)
    run(jobs(), pool)
    assert pool.busy_core_s == 100 + 4 * 10 + 4 * 10 + 20  # exclusive jobs hold whole nodes


def test_exclusive_node_count_follows_cores_gpus_and_memory_per_core() -> None:
    pool = NodePool("p", 3, 8, 2, mem_per_node=1000)
    # 300 MB a core: a whole node holds 3 of the job's cores, so 6 cores need 2 nodes
    assert pool.need(J(1, 0, 6, 10, mem_per_core=300, exclusive=True))[2] == 2
    assert pool.need(J(2, 0, 1, 10, gpus=5, exclusive=True))[2] == 3  # 2 GPUs a node
    assert pool.demand(J(2, 0, 1, 10, gpus=5, exclusive=True)) == (24, 6, 10)
    assert not pool.can_run(J(3, 0, 6, 10, mem_per_core=300, nodes=1, exclusive=True))
    assert not pool.can_run(J(4, 0, 1, 10, mem_mb=2000, nodes=1, exclusive=True))
    assert pool.can_run(J(5, 0, 6, 10, mem_per_core=300, nodes=2, exclusive=True))


def test_easy_accepts_a_long_backfill_on_nodes_the_head_does_not_need() -> None:
    jobs = [
        J(1, 0, 4, 100, nodes=1),  # node 0 until 100
        J(2, 0, 2, 1000, nodes=1),  # node 1, 2 cores until 1000
        J(3, 1, 4, 10, nodes=1),  # head: node 0 at 100
        J(4, 2, 2, 500, nodes=1),  # fits now on node 1 only, which the head does not need
    ]
    assert run(jobs, NodePool("p", 2, 4)) == {1: 0, 2: 0, 3: 100, 4: 2}


def test_easy_refuses_a_long_backfill_that_would_delay_the_head() -> None:
    jobs = [
        J(1, 0, 2, 100, nodes=1),  # node 0, 2 cores until 100
        J(2, 0, 4, 1000, nodes=1),  # node 1 until 1000
        J(3, 1, 4, 10, nodes=1),  # head: node 0 at 100
        J(4, 2, 2, 500, nodes=1),  # fits now on node 0, but would hold it past 100: refused
        J(5, 3, 2, 50, nodes=1),  # fits now on node 0 and ends by 100: backfilled
    ]
    assert run(jobs, NodePool("p", 2, 4)) == {1: 0, 2: 0, 3: 100, 4: 110, 5: 3}


def test_reservation_uses_requested_times() -> None:
    jobs = [
        J(1, 0, 2, 10, 100, nodes=1),  # node 0: asks 100 s, runs 10
        J(2, 0, 4, 1000, nodes=1),  # node 1
        J(3, 1, 4, 10, nodes=1),  # head: node 0 at 100 as far as the scheduler knows
        J(4, 2, 2, 50, nodes=1),  # ends by 100 on node 0: backfilled, and holds the head to 52
    ]
    assert run(jobs, NodePool("p", 2, 4)) == {1: 0, 2: 0, 3: 52, 4: 2}


def test_conservative_backfilling_is_refused_on_nodes() -> None:
    with pytest.raises(ValueError, match="conservative"):
        NodePool("p", 2, 4, backfill="conservative")


def test_site_snapshot_counts_idle_nodes() -> None:
    pool = NodePool("p", 4, 4)
    site = SimSite("s", [pool])
    pool.submit(J(1, 0, 2, 100), 0.0)
    pool.submit(J(2, 0, 2, 100, nodes=2), 0.0)  # one core on each of two nodes
    ps = site.state(0.0).partitions[0]
    assert (ps.idle_cpus, ps.idle_nodes, ps.alloc_nodes) == (12, 2, 2)


def test_estimate_waits_for_a_node_that_can_hold_the_job() -> None:
    pool = NodePool("p", 2, 4)
    SimSite("s", [pool])
    pool.submit(J(1, 0, 2, 100, nodes=2), 0.0)
    assert pool.estimate_start(J(2, 1, 4, 10, nodes=1), 1.0) == 100  # pooled plan would say 1
    assert pool.estimate_start(J(3, 1, 4, 10), 1.0) == 1


# -- site configs -------------------------------------------------------------------------------


def _config(tmp_path: Path, sim: str) -> Path:
    cfg = tmp_path / "hpc.toml"
    cfg.write_text(
        '[sites.hpc]\naccess = { kind = "local" }\n[[sites.hpc.partitions]]\nname = "gpu"\n'
        'nodes = 2\ncores_per_node = 4\nmem_per_node = "1G"\ngpus_per_node = 2\n'
    )
    (tmp_path / "hpc.sim.toml").write_text(sim)
    return cfg


def test_config_node_packing_builds_node_pools(tmp_path: Path) -> None:
    (site,) = load_sim_sites(_config(tmp_path, "[sim.defaults]\nnode_packing = true\n"))
    (pool,) = site.pools
    assert isinstance(pool, NodePool) and pool.shape == (4, 1024, 2) and pool.nodes == 2
    (site,) = load_sim_sites(_config(tmp_path, "[sim.defaults]\n"))
    assert not isinstance(site.pools[0], NodePool)
    bad = '[sim.defaults]\nnode_packing = true\nbackfill = "conservative"\n'
    with pytest.raises(HyperionError, match="conservative"):
        load_sim_sites(_config(tmp_path, bad))


# -- random workloads ---------------------------------------------------------------------------

node_jobs = st.lists(
    st.tuples(
        st.integers(0, 30),  # submit
        st.integers(1, 8),  # cores
        st.integers(1, 12),  # run
        st.integers(0, 6),  # requested minus actual time
        st.integers(0, 3),  # GPUs
        st.integers(0, 3),  # node count (0: any)
        st.sampled_from([None, ("mem_mb", 400), ("mem_mb", 900), ("mem_per_core", 150)]),
        st.integers(0, 9),  # 0: exclusive
    ),
    min_size=1,
    max_size=25,
)


def _node_jobs(spec: list[tuple[int, int, int, int, int, int, object, int]]) -> list[SimJob]:
    out = []
    for i, (s, c, r, x, g, n, mem, ex) in enumerate(spec):
        kw: dict[str, object] = {"gpus": g, "nodes": n, "exclusive": ex == 0}
        if isinstance(mem, tuple):
            kw[mem[0]] = mem[1]
        out.append(J(i, s, c, r, r + x, **kw))
    return out


class Spy(NodePool):
    """Records every allocation and every shadow time given to a head."""

    __slots__ = ("allocs", "shadows")

    def reset(self) -> None:
        super().reset()
        self.allocs: list[tuple[float, float, Alloc]] = []
        self.shadows: list[tuple[SimJob, float]] = []

    def _launch(self, job: SimJob, now: float, alloc: Alloc) -> None:
        super()._launch(job, now, alloc)
        self.allocs.append((job.start, job.end, list(alloc)))

    def schedule(self, now: float) -> None:
        super().schedule(now)
        if self.queue and -inf < self.shadow < inf:
            self.shadows.append((self.queue[0], self.shadow))


def _never_overcommitted(pool: Spy) -> bool:
    events: list[tuple[float, int, int, int, int, int]] = []
    for start, end, alloc in pool.allocs:
        for i, k, m, h in alloc:
            events.append((start, 1, i, k, m, h))
            events.append((end, 0, i, -k, -m, -h))  # ends first at equal times
    used = [[0, 0, 0] for _ in range(pool.nodes)]
    cap = pool.shape
    for _, _, i, k, m, h in sorted(events):
        used[i][0] += k
        used[i][1] += m
        used[i][2] += h
        if any(u > c for u, c in zip(used[i], cap, strict=True)):
            return False
    return True


@settings(max_examples=200, deadline=None)
@given(node_jobs, st.booleans(), st.booleans())
def test_random_workloads_keep_nodes_and_reservations(
    spec: list[tuple[int, int, int, int, int, int, object, int]], backfill: bool, mem: bool
) -> None:
    jobs = _node_jobs(spec)
    pool = Spy("p", 3, 4, 2, mem_per_node=1000 if mem else None, backfill=backfill)
    m = Engine([SimSite("s", [pool])], get_policy("home")).run(jobs)
    assert m.jobs == len(jobs) - m.dropped
    assert all(pool.can_run(j) == (j.start >= 0) for j in jobs)
    assert _never_overcommitted(pool)
    # requested >= actual times: a head never starts after a shadow time it was given
    assert all(head.start <= t for head, t in pool.shadows)
    again = _node_jobs(spec)
    run(again, Spy("p", 3, 4, 2, mem_per_node=1000 if mem else None, backfill=backfill))
    assert [j.start for j in again] == [j.start for j in jobs]  # deterministic


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 30),
            st.integers(1, 8),
            st.integers(1, 12),
            st.integers(-6, 6),  # negative: the job overruns its requested time
            st.integers(0, 3),
        ),
        min_size=1,
        max_size=25,
    ),
    st.booleans(),
    st.booleans(),
)
def test_one_core_nodes_schedule_like_the_pooled_partition(
    spec: list[tuple[int, int, int, int, int]], backfill: bool, by_priority: bool
) -> None:
    def jobs() -> list[SimJob]:
        return [J(i, s, c, r, max(1, r + x), priority=p) for i, (s, c, r, x, p) in enumerate(spec)]

    order = "priority" if by_priority else "fcfs"
    pooled = run(jobs(), Pool("p", 8, backfill=backfill, order=order))
    assert run(jobs(), NodePool("p", 8, 1, backfill=backfill, order=order)) == pooled


def test_bench_runs_the_node_cases_beside_the_pooled_ones(tmp_path: Path) -> None:
    from hyperion.bench.sim import measure

    rows = [
        f"{i} {i * 7} -1 {5 + i % 9} {1 + i % 8} -1 -1 -1 -1 -1 1 {i % 3} 1 -1 1 -1 -1 -1"
        for i in range(1, 60)
    ]
    trace = tmp_path / "t.swf"
    trace.write_text("; MaxProcs: 8\n" + "\n".join(rows) + "\n")
    got = measure(trace, 1, 2, accasim=False, cores_per_node=4)["cases"]
    assert [c["case"] for c in got[3:]] == [
        "FCFS+EASY, 1 site, 4-core nodes",
        "earliest-start, 2 sites, 4-core nodes",
    ]
    # without memory, GPUs or node counts, jobs spread: the same schedules as pooled
    assert [c["mean_wait"] for c in got[3:]] == [got[0]["mean_wait"], got[2]["mean_wait"]]
    assert got[0]["mean_wait"] > 0
    with pytest.raises(HyperionError, match="cores-per-node 3"):
        measure(trace, 1, 2, accasim=False, cores_per_node=3)
