"""Priority ordering and conservative backfilling, on hand-built schedules and against a
brute-force second-by-second reference scheduler."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hyperion.errors import HyperionError
from hyperion.placement.heuristics import get_policy
from hyperion.sim import Engine, Pool, SimJob, SimSite, assign_priorities, load_sim_sites
from hyperion.sim.pool import backfill_mode


def J(jid: int, submit: float, cores: int, run: float, req: float | None = None, prio: int = 0):
    return SimJob(jid, submit, run, run if req is None else req, cores, priority=prio)


def starts(jobs: list[SimJob], cores: int, **pool: object) -> dict[int, float]:
    site = SimSite("s", [Pool("p", cores, **pool)])  # type: ignore[arg-type]
    Engine([site], get_policy("home")).run(jobs)
    return {j.job_id: j.start for j in jobs}


# -- priority ordering ---------------------------------------------------------------------------


def test_priority_order_runs_higher_priority_first_then_submission_order() -> None:
    def jobs() -> list[SimJob]:
        return [J(1, 0, 4, 10), J(2, 1, 4, 5), J(3, 2, 4, 5, prio=5), J(4, 3, 4, 5, prio=5)]

    assert starts(jobs(), 4, backfill=False) == {1: 0, 2: 10, 3: 15, 4: 20}
    # 3 and 4 (priority 5) overtake 2; between them, submission order
    assert starts(jobs(), 4, backfill=False, order="priority") == {1: 0, 2: 20, 3: 10, 4: 15}


def test_equal_priorities_are_plain_fcfs() -> None:
    def jobs() -> list[SimJob]:
        return [J(1, 0, 2, 10, prio=3), J(2, 1, 4, 5, prio=3), J(3, 2, 1, 1, prio=3)]

    for backfill in (False, True):
        assert starts(jobs(), 4, backfill=backfill, order="priority") == starts(
            jobs(), 4, backfill=backfill
        )


def test_a_new_high_priority_head_changes_what_easy_may_backfill() -> None:
    def jobs() -> list[SimJob]:
        return [J(1, 0, 2, 10), J(2, 1, 4, 5), J(3, 2, 3, 5, prio=9), J(4, 3, 1, 20)]

    # FCFS: head 2 needs all 4 cores at 10, no extra core: 4 (ends 23 > 10) must wait
    assert starts(jobs(), 4) == {1: 0, 2: 10, 3: 15, 4: 15}
    # priority: head 3 needs 3 of 4 cores at 10, one extra core: 4 backfills on it at 3,
    # and 2 (4 cores) waits for it until 23
    assert starts(jobs(), 4, order="priority") == {1: 0, 2: 23, 3: 10, 4: 3}


def test_unknown_order_is_an_error() -> None:
    with pytest.raises(ValueError, match="order"):
        Pool("p", 4, order="sjf")


def test_assign_priorities_draws_a_seeded_share() -> None:
    base = [J(i, i, 1, 1) for i in range(2000)]
    a = assign_priorities(base, {10: 0.25}, seed=1)
    assert a is not base and all(j.priority == 0 for j in base)
    share = sum(j.priority == 10 for j in a) / len(a)
    assert 0.2 < share < 0.3
    assert [j.priority for j in a] == [
        j.priority for j in assign_priorities(base, {10: 0.25}, seed=1)
    ]
    with pytest.raises(HyperionError, match="add up"):
        assign_priorities(base, {1: 0.7, 2: 0.7})


# -- conservative backfilling ---------------------------------------------------------------------


def cons_jobs() -> list[SimJob]:
    return [J(1, 0, 3, 10), J(2, 1, 2, 10), J(3, 2, 4, 10), J(4, 3, 1, 30), J(5, 4, 1, 5)]


def test_easy_lets_a_backfilled_job_delay_the_second_queued_job() -> None:
    # head 2 (2 cores) reserved at 10 leaves 2 extra cores; 4 (1 core, 30 s) takes one at 3,
    # so 3 (all 4 cores) cannot start before 4 ends at 33
    assert starts(cons_jobs(), 4, backfill="easy") == {1: 0, 2: 10, 3: 33, 4: 3, 5: 10}


def test_conservative_backfilling_delays_no_queued_job() -> None:
    # reservations: 2 at 10, 3 at 20 (after 2), so 4 (30 s) only fits after 3, at 30;
    # 5 (1 core, 5 s) fits in the hole before 10 and still backfills at once
    assert starts(cons_jobs(), 4, backfill="conservative") == {1: 0, 2: 10, 3: 20, 4: 30, 5: 4}


def test_conservative_with_priority_order() -> None:
    jobs = cons_jobs()
    jobs[3].priority = 5  # 4 now precedes 2 and 3: it starts at once on the free core
    got = starts(jobs, 4, backfill="conservative", order="priority")
    assert got == {1: 0, 2: 10, 3: 33, 4: 3, 5: 10}


def test_conservative_start_estimate_is_the_reservation() -> None:
    pool = Pool("p", 4, backfill="conservative")
    site = SimSite("s", [pool])
    eng = Engine([site], get_policy("home"))
    jobs = cons_jobs()[:3]
    eng.run(jobs)
    pool.reset()
    for j in jobs:
        pool.submit(j, j.submit)
    probe = J(9, 3, 1, 30)
    assert pool.estimate_start(probe, 3) == 30  # behind 3's reservation, as 4 above
    assert pool.estimate_start(J(10, 3, 1, 5), 3) == 3


def test_backfill_mode_names() -> None:
    assert [backfill_mode(v) for v in (True, False, "easy", "conservative", "none")] == [
        "easy",
        "none",
        "easy",
        "conservative",
        "none",
    ]
    with pytest.raises(ValueError, match="backfill"):
        backfill_mode("aggressive")
    assert Pool("p", 4, backfill="conservative").mode == "conservative"


def test_sim_config_sets_order_and_conservative_backfilling(tmp_path) -> None:
    cfg = tmp_path / "s.toml"
    cfg.write_text(
        '[sites.a]\naccess = { kind = "local" }\n[[sites.a.partitions]]\n'
        'name = "batch"\nnodes = 2\ncores_per_node = 4\nmem_per_node = 1000\n'
    )
    sim = tmp_path / "s.sim.toml"
    sim.write_text('[sim.defaults]\nbackfill = "conservative"\norder = "priority"\n')
    (site,) = load_sim_sites(cfg)
    p = site.pools[0]
    assert (p.mode, p.order) == ("conservative", "priority")
    sim.write_text('[sim.defaults]\nbackfill = "lazy"\n')
    with pytest.raises(HyperionError, match="backfill mode"):
        load_sim_sites(cfg)
    sim.write_text('[sim.defaults]\norder = "sjf"\n')
    with pytest.raises(HyperionError, match="unknown order"):
        load_sim_sites(cfg)
    sim.write_text("[sim.defaults]\nbackfill = false\n")
    assert load_sim_sites(cfg)[0].pools[0].mode == "none"


# -- against a brute-force reference -------------------------------------------------------------


def _reference(
    spec: list[tuple[int, int, int, int, int]], cap: int, mode: str, by_priority: bool
) -> dict[int, int]:
    """Second-by-second scheduler: a full pass after every end instant and every arrival."""
    jobs = [
        dict(id=i, submit=s, cores=c, run=r, req=max(1, r + x), prio=p if by_priority else 0)
        for i, (s, c, r, x, p) in enumerate(spec)
    ]
    pending = sorted(jobs, key=lambda j: (j["submit"], j["id"]))
    queue: list[dict[str, int]] = []
    running: list[dict[str, int]] = []
    start: dict[int, int] = {}
    seq = [0]

    def run(j: dict[str, int], t: int) -> None:
        j["start"] = t
        start[j["id"]] = t
        running.append(j)
        queue.remove(j)

    def used_after(t: int) -> int:
        return sum(j["cores"] for j in running if j["start"] + j["req"] > t)

    def easy(t: int) -> None:
        free = cap - sum(j["cores"] for j in running)
        while queue and queue[0]["cores"] <= free:
            free -= queue[0]["cores"]
            run(queue[0], t)
        if not queue or mode == "none":
            return
        head = queue[0]
        shadow = t
        while cap - used_after(shadow) < head["cores"]:
            shadow += 1
        extra = cap - used_after(shadow) - head["cores"]
        for j in list(queue[1:]):
            if j["cores"] > free:
                continue
            if t + j["req"] <= shadow:
                pass
            elif j["cores"] <= extra:
                extra -= j["cores"]
            else:
                continue
            free -= j["cores"]
            run(j, t)

    def conservative(t: int) -> None:
        horizon = t + sum(j["req"] for j in queue + running) + 2
        used = [0] * (horizon - t)
        for j in running:
            for x in range(t, max(j["start"] + j["req"], t)):
                used[x - t] += j["cores"]
        free = cap - sum(j["cores"] for j in running)
        for j in list(queue):
            s = t
            while any(used[x - t] + j["cores"] > cap for x in range(s, s + j["req"])):
                s += 1
            for x in range(s, s + j["req"]):
                used[x - t] += j["cores"]
            if s == t and j["cores"] <= free:
                free -= j["cores"]
                run(j, t)

    one_pass = conservative if mode == "conservative" else easy
    t = 0
    while pending or queue or running:
        ended = [j for j in running if j["start"] + j["run"] == t]
        for j in ended:
            running.remove(j)
        if ended:
            one_pass(t)
        while pending and pending[0]["submit"] == t:
            j = pending.pop(0)
            j["seq"] = seq[0]
            seq[0] += 1
            queue.append(j)
            queue.sort(key=lambda q: (-q["prio"], q["seq"]))
            one_pass(t)
        t += 1
    return start


job_lists = st.lists(
    st.tuples(
        st.integers(0, 30),  # submit
        st.integers(1, 8),  # cores
        st.integers(1, 12),  # run
        st.integers(-6, 6),  # requested minus actual time (negative: the job overruns)
        st.integers(0, 3),  # priority
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=300, deadline=None)
@given(job_lists, st.sampled_from(["none", "easy", "conservative"]), st.booleans())
def test_fast_scheduler_matches_the_reference(
    spec: list[tuple[int, int, int, int, int]], mode: str, by_priority: bool
) -> None:
    jobs = [J(i, s, c, r, req=max(1, r + x), prio=p) for i, (s, c, r, x, p) in enumerate(spec)]
    got = starts(
        jobs,
        8,
        backfill=mode,
        order="priority" if by_priority else "fcfs",
    )
    assert got == _reference(spec, 8, mode, by_priority)


@settings(max_examples=300, deadline=None)
@given(job_lists, st.booleans())
def test_conservative_with_exact_estimates_matches_the_reference(
    spec: list[tuple[int, int, int, int, int]], by_priority: bool
) -> None:
    """Requested = actual time: the conservative plan is then updated incrementally."""
    spec = [(s, c, r, 0, p) for s, c, r, _, p in spec]
    jobs = [J(i, s, c, r, prio=p) for i, (s, c, r, _, p) in enumerate(spec)]
    order = "priority" if by_priority else "fcfs"
    got = starts(jobs, 8, backfill="conservative", order=order)
    assert got == _reference(spec, 8, "conservative", by_priority)


@settings(max_examples=100, deadline=None)
@given(job_lists)
def test_conservative_never_starts_a_job_later_than_its_first_reservation(
    spec: list[tuple[int, int, int, int, int]],
) -> None:
    """With exact run times (requested = actual), conservative backfilling guarantees each job
    the start its reservation at submission gave it."""
    jobs = [J(i, s, c, r) for i, (s, c, r, _, _) in enumerate(spec)]
    promised: dict[int, float] = {}

    class Spy(Pool):
        __slots__ = ()

        def submit(self, job: SimJob, now: float) -> None:
            promised[job.job_id] = self.estimate_start(job, now)
            super().submit(job, now)

    pool = Spy("p", 8, backfill="conservative")
    Engine([SimSite("s", [pool])], get_policy("home")).run(jobs)
    assert all(j.start <= promised[j.job_id] for j in jobs)


@settings(max_examples=150, deadline=None)
@given(job_lists, st.sampled_from(["easy", "conservative"]))
def test_start_estimates_are_never_in_the_past(
    spec: list[tuple[int, int, int, int, int]], mode: str
) -> None:
    """Cached plans whose breakpoints passed without an event (jobs overrunning their
    requests, reservations that did not happen) are re-made, not read from the past."""
    from hyperion.placement.policy import Candidate, Decision, Policy
    from hyperion.types import JobRequest

    seen: list[tuple[float, float]] = []

    class Spy(Policy):
        name = "spy"
        needs_start_estimate = True

        def decide(self, job: JobRequest, candidates, now: float) -> Decision:  # type: ignore[no-untyped-def, override]
            c: Candidate = candidates[len(seen) % len(candidates)]
            seen.extend((x.est_start, now) for x in candidates)  # type: ignore[misc]
            return Decision(site=c.site, partition=c.partition, reason="spy")

    jobs = [J(i, s, c, r, req=max(1, r + x)) for i, (s, c, r, x, _) in enumerate(spec)]
    sites = [SimSite(n, [Pool("p", 8, backfill=mode)]) for n in ("a", "b")]
    Engine(sites, Spy()).run(jobs)
    assert all(est >= now for est, now in seen)


def test_conservative_arrival_replans_when_a_reservation_passed_unmet() -> None:
    # job 15 overruns its 1 s request, so job 19's reservation at 3 passes unmet; job 20
    # arriving at 4 must not be planned around that stale reservation (found by hypothesis)
    spec = [(0, 1, 1, 0, 0)] * 15 + [
        (0, 2, 3, -2, 0),
        (0, 3, 1, 0, 0),
        (0, 4, 2, 2, 0),
        (0, 5, 1, 0, 0),
        (0, 4, 1, 3, 0),
        (4, 1, 1, 0, 0),
    ]
    jobs = [J(i, s, c, r, req=max(1, r + x), prio=p) for i, (s, c, r, x, p) in enumerate(spec)]
    got = starts(jobs, 8, backfill="conservative")
    assert got == _reference(spec, 8, "conservative", False)
    assert got[20] == 4
