"""The learned policy steps aside on workloads mostly outside the job range it was trained on."""

from __future__ import annotations

import csv
import json
import math
import zipfile
from pathlib import Path

import pytest

from hyperion.cli.main import main
from hyperion.errors import HyperionError
from hyperion.placement.heuristics import get_policy, policy_options
from hyperion.placement.policy import Candidate, Decision, Policy
from hyperion.rl.artifact import META, WEIGHTS
from hyperion.rl.features import RANGE_FEATURES, job_features, job_range, outside_range
from hyperion.rl.policy import FAMILIAR_WINDOW, LearnedPolicy
from hyperion.types import JobRequest, PartitionState, SiteState
from tests.unit.rl_sites import tiny_model, write_sites

#: jobs enough to see the switch both ways
N = 40
#: jobs of 1-32 cores asking 1 minute to 10 hours, no GPUs, never flexible
SMALL = {
    "log_cpus": [0.69, 3.5],
    "log_gpus": [0.0, 0.0],
    "log_time_limit": [4.1, 10.5],
    "flexible": [0.0, 0.0],
    "log_flex_h": [0.0, 0.0],
}


def _cands() -> list[Candidate]:
    part = PartitionState("batch", 512, 0, 512, 0, 4096, 0, 4096, 0, 0, 0)
    return [
        Candidate(site=n, state=SiteState(site=n, time=0.0, partitions=(part,)),
                  partition="batch", est_start=t, carbon_g_per_kwh=100.0)
        for n, t in (("a", 0.0), ("b", 50.0))
    ]  # fmt: skip


def _job(cpus: int, limit: int | None = 3600, gpus: int = 0) -> JobRequest:
    return JobRequest(ntasks=cpus, time_limit_s=limit, gpus=gpus)


def test_job_range_and_outside_range_on_hand_built_vectors() -> None:
    rows = [job_features(_job(c, t), 0.0) for c, t in ((1, 60), (32, 36000), (4, 600))]
    bounds = job_range(rows)
    assert set(bounds) == set(RANGE_FEATURES)  # the hour of day is never out of range
    assert bounds["log_cpus"] == pytest.approx([0.693, 3.497], abs=1e-3)
    assert outside_range(job_features(_job(40, 600), 0.0), bounds) is None  # within tolerance
    why = outside_range(job_features(_job(128, 600), 0.0), bounds)
    assert why is not None and why.startswith("log_cpus 4.86 (seen 0.69-3.50)")
    assert outside_range(job_features(_job(8, 600, gpus=1), 0.0), bounds) is not None
    long_job = outside_range(job_features(_job(8, 2 * 86400), 0.0), bounds)
    assert long_job is not None and long_job.startswith("log_time_limit")
    with pytest.raises(ValueError):
        job_range([])


def _place(policy: Policy, job: JobRequest) -> Decision:
    """What the daemon and the simulator do for a real job: record it, then decide."""
    policy.record(job, 0.0)
    return policy.decide(job, _cands(), 0.0)


def test_model_steps_aside_while_most_recent_jobs_are_out_of_range(tmp_path: Path) -> None:
    path = tmp_path / "m.hyp"
    tiny_model(path, SMALL)
    policy = get_policy(f"rl:{path}")
    assert isinstance(policy, LearnedPolicy) and policy.status() is None
    for _ in range(N):  # in range: the model decides
        assert _place(policy, _job(8)).reason.startswith("learned policy")
    for _ in range(N):  # as many out of range: still the model (not more than half)
        assert _place(policy, _job(1024)).reason.startswith("learned policy")
    d = _place(policy, _job(1024))
    assert d.reason.startswith("weighted")  # the fallback's own reason, then why
    assert f"{N + 1} of the last {2 * N + 1} jobs" in d.reason
    assert "log_cpus 6.93" in d.reason and "weighted places them" in d.reason
    status = policy.status()
    assert status is not None and "the model steps aside" in status
    # deciding without recording (hsub --test-only, re-placements) changes nothing
    for _ in range(3 * N):
        policy.decide(_job(4), _cands(), 0.0)
    assert policy.status() == status
    # in-range jobs take over the window again: the model decides once they are the majority
    for _ in range(2):
        _place(policy, _job(4))
    assert policy.status() is None
    assert _place(policy, _job(4)).reason.startswith("learned policy")


def test_the_window_forgets_old_jobs(tmp_path: Path) -> None:
    path = tmp_path / "m.hyp"
    tiny_model(path, SMALL)
    policy = get_policy(f"rl:{path}")
    for _ in range(FAMILIAR_WINDOW):
        _place(policy, _job(4))
    for _ in range(FAMILIAR_WINDOW // 2):  # half of the window: not yet
        assert _place(policy, _job(4096)).reason.startswith("learned policy")
    # one more: the majority of the last FAMILIAR_WINDOW (with all history it would be a third)
    d = _place(policy, _job(4096))
    assert f"{FAMILIAR_WINDOW // 2 + 1} of the last {FAMILIAR_WINDOW} jobs" in d.reason


def test_jobs_without_a_time_limit_are_out_of_range(tmp_path: Path) -> None:
    path = tmp_path / "m.hyp"
    tiny_model(path, SMALL)
    policy = get_policy(f"rl:{path}", fallback="earliest-start")
    d = _place(policy, _job(4, limit=None))  # the first job: 1 of 1
    assert "log_time_limit 0.00" in d.reason and "earliest-start places them" in d.reason
    assert d.site == "a"  # earliest-start's choice


def test_fallback_none_and_models_without_a_range_always_decide(tmp_path: Path) -> None:
    with_range, without = tmp_path / "with.hyp", tmp_path / "without.hyp"
    tiny_model(with_range, SMALL)
    tiny_model(without, bounds=None)
    for policy in (get_policy(f"rl:{with_range}", fallback="none"), get_policy(f"rl:{without}")):
        for _ in range(N):
            d = _place(policy, _job(4096))
        assert d.reason.startswith("learned policy") and policy.status() is None


@pytest.mark.parametrize(
    "bounds",
    [
        {"log_cpus": [3.0, 1.0]},
        {"log_cpus": "wide"},
        {"no_such_feature": [0.0, 1.0]},
        {},
        ["log_cpus", 0.0, 1.0],
        {"log_cpus": [float("nan"), 1.0]},
        {"log_cpus": "38"},
        {"log_cpus": [0.0, 1.0, 2.0]},
        {"log_cpus": [False, True]},
        {"log_cpus": [0.0, float("inf")]},
    ],
)
def test_a_damaged_job_range_is_refused(tmp_path: Path, bounds: object) -> None:
    path = tmp_path / "m.hyp"
    tiny_model(path, SMALL)
    with zipfile.ZipFile(path) as z:
        meta, weights = json.loads(z.read(META)), z.read(WEIGHTS)
    meta["job_range"] = bounds
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(META, json.dumps(meta))
        z.writestr(WEIGHTS, weights)
    with pytest.raises(HyperionError, match="job_range is damaged"):
        get_policy(f"rl:{path}")


def test_fallback_option_must_be_a_heuristic(tmp_path: Path) -> None:
    path = tmp_path / "m.hyp"
    tiny_model(path, SMALL)
    for bad in ("rl", f"rl:{path}", "nope", 3, False):
        with pytest.raises(HyperionError, match="is not a heuristic"):
            get_policy(f"rl:{path}", fallback=bad)
    assert policy_options("rl") == policy_options(f"rl:{path}") == ["guard", "fallback"]


def test_the_shipped_model_records_its_training_range() -> None:
    from hyperion.placement.heuristics import default_model_path
    from hyperion.rl.artifact import read_meta

    meta = read_meta(default_model_path())
    assert set(meta["job_range"]) == set(RANGE_FEATURES)
    lo, hi = meta["job_range"]["log_cpus"]
    assert (lo, hi) == pytest.approx((math.log1p(1), math.log1p(64)))  # lublin:...:64: 1-64 cores


def test_eval_passes_options_to_the_policies_that_take_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "m.hyp"
    tiny_model(path, {"log_cpus": [8.0, 9.0]})  # no job of the workload is in range
    cfg = write_sites(tmp_path, [16, 32, 8], core_hour=[0.1, 0.2, 0.3])
    base = ["eval", "--trace", "lublin:80:1.0:32", "--sites", cfg, "--no-plot", "--json"]

    def rows(*option: str) -> dict[str, dict[str, str]]:
        out = tmp_path / "out"
        rc = main([*base, "--policies", f"earliest-start,rl:{path}", *option, "--out", str(out)])
        assert rc == 0
        with (out / "results.csv").open() as fh:
            return {r["policy"]: r for r in csv.DictReader(fh)}

    aside = rows("--option", "fallback=earliest-start")  # the model steps aside for every job
    assert aside[f"rl:{path}"]["mean_wait"] == aside["earliest-start"]["mean_wait"]
    own = rows("--option", "fallback=none", "--option", "guard=-1")  # the model decides all
    assert own[f"rl:{path}"]["mean_wait"] != own["earliest-start"]["mean_wait"]
    capsys.readouterr()
    rc = main([*base, "--policies", "weighted,earliest-start", "--option", "guard=0",
               "--out", str(tmp_path / "x")])  # fmt: skip
    assert rc != 0
    assert "--option guard: none of the policies weighted, earliest-start takes it" in (
        capsys.readouterr().err
    )
    for bad in ("fallback=rl", "seed=5"):
        rc = main([*base, "--policies", f"weighted,rl:{path}", "--option", bad,
                   "--out", str(tmp_path / "x")])  # fmt: skip
        assert rc != 0
    assert not (tmp_path / "x").exists()  # refused before any simulation


def test_bench_policy_counts_the_decisions_its_fallback_made(tmp_path: Path) -> None:
    from hyperion.bench.policy import measure

    narrow, plain = tmp_path / "narrow.hyp", tmp_path / "plain.hyp"
    tiny_model(narrow, {"log_cpus": [8.0, 9.0]})  # no bench job is that large
    tiny_model(plain, bounds=None)
    with pytest.raises(HyperionError, match="stepped aside for every decision"):
        measure(str(narrow), sites=3, decisions=20, warmup=2)
    out = measure(str(plain), sites=3, decisions=20, warmup=2)
    assert out["stepped_aside"] == 0 and out["decisions"] == 20
