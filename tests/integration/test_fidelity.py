"""hyperion bench fidelity on the real testbed: a 30-job replay on alpha against the simulator.

The replay holds /tmp/testbed.lock (as every long testbed run does) so that no benchmark shares
the cluster with it, unless the process that runs the tests already holds it. About 70 s.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from hyperion.bench import fidelity
from hyperion.bench.fidelity_live import Cluster, foreign_jobs, replay, wait_idle
from hyperion.bench.fidelity_stats import latencies

from .conftest import CONFIG

LOCK = Path("/tmp/testbed.lock")


def _held_by_an_ancestor(path: Path) -> bool:
    """True if a process this one descends from holds the flock on ``path`` (for instance
    ``flock /tmp/testbed.lock scripts/run-tests``): taking it again would wait forever."""
    inode = f":{path.stat().st_ino}"
    holders = set()
    for line in Path("/proc/locks").read_text().splitlines():
        f = line.split()
        if len(f) > 5 and f[1] == "FLOCK" and f[5].endswith(inode):
            holders.add(int(f[4]))
    pid = os.getpid()
    while pid > 1:
        if pid in holders:
            return True
        pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    return False


@pytest.fixture
def testbed_lock() -> Iterator[None]:
    """Hold /tmp/testbed.lock for the replay, unless a parent process already does."""
    with LOCK.open("a") as fh:
        if not _held_by_an_ancestor(LOCK):
            fcntl.flock(fh, fcntl.LOCK_EX)
        yield


@pytest.mark.testbed
def test_replay_of_30_jobs_matches_the_simulator(testbed: Path, testbed_lock: None) -> None:
    plan = fidelity.plan_workload(
        30, seed=11, total_cores=8, max_cores=8, load=1.3, min_run=2, max_run=12, limit_factor=4
    )
    cluster = Cluster("alpha", str(testbed / "alpha" / "slurm.conf"), "alice", 100)
    wait_idle(cluster, 120)
    observed = replay(cluster, plan, prefix="hfid-test-", timeout=300, report=lambda _: None)
    observed.sort(key=lambda o: int(o.job_id))
    by_index = {p.index: p for p in plan}
    # every job ran to completion as asked: its cores, its limit in minutes, its sleep
    assert [o.state for o in observed] == ["COMPLETED"] * 30
    for o in observed:
        job = by_index[o.index]
        assert (o.cores, o.limit_min) == (job.cores, job.limit_min)
        assert job.run_s <= o.end - o.start <= job.run_s + 2
        assert o.nodes >= -(-o.cores // 2)  # a 3-core job needs two of alpha's 2-core nodes
    assert any(o.start > o.submit for o in observed), "no job waited: the test measures nothing"
    foreign = foreign_jobs(cluster, "hfid-test-", observed[0].submit, max(o.end for o in observed))
    msg = f"{foreign} foreign jobs on alpha during the replay"
    # Slurm starts a queued job at its next scheduling pass after the end that freed the cores:
    # within one bf_interval (2 s) on average (0.7 s in the 200-job runs)
    lat = latencies(
        [o.submit for o in observed],
        [o.start for o in observed],
        [o.end for o in observed],
        [o.cores for o in observed],
        8,
    )
    assert 0 < lat["handoff_s"] <= 2, (lat, msg)
    sites = {
        m: fidelity.build_site(CONFIG, "alpha", None, fidelity.VARIANTS[m])[0]
        for m in ("easy", "none")
    }
    easy = fidelity.compare(observed, {"easy": sites["easy"]}, 2, 100)["easy"]["all"]
    # issue 4's goal, with the simulator's default discipline (FCFS + EASY)
    assert easy["spearman_start"] >= 0.9, (easy, msg)
    # the model docs/simulator.md found closest to Slurm here, FCFS with a 0.7 s hand-off, is
    # within 3-5% of Slurm's mean wait on 200 jobs and 20% on 30 (small waits, 1 s timestamps)
    fcfs = fidelity.compare(observed, {"none": sites["none"]}, 2, 100, release_s=0.7)
    err = fcfs["none"]["all"]
    assert err["mae_wait"] <= 0.35 * err["mean_wait_live"] + 2, (err, msg)
