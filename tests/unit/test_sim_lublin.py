"""The Lublin–Feitelson generator: sizes, run times, the daily cycle, load, job types, callers."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import replace

import pytest

from hyperion.cli.main import main
from hyperion.errors import HyperionError
from hyperion.sim.job import SimJob
from hyperion.sim.lublin import generate
from hyperion.sim.lublin_day import DayClock, day_weights, gamma_mass
from hyperion.sim.lublin_params import BATCH, INTERACTIVE, WHOLE, JobClass, LublinParams

N = 20000


def _share(jobs: list[SimJob], pred: Callable[[SimJob], bool]) -> float:
    return sum(1 for j in jobs if pred(j)) / len(jobs)


def _tol(p: float, n: int) -> float:
    """Five standard errors of a share p measured over n jobs."""
    return 5 * math.sqrt(p * (1 - p) / n)


def _pow2(n: int) -> bool:
    return n & (n - 1) == 0


def _hours(jobs: list[SimJob]) -> list[int]:
    counts = [0] * 24
    for j in jobs:
        counts[int(j.submit % 86400 // 3600)] += 1
    return counts


def _offered(jobs: list[SimJob], machine: int) -> float:
    return sum(j.cores * j.run for j in jobs) / (machine * max(j.submit for j in jobs))


def test_deterministic_per_seed_and_parameters() -> None:
    def key(jobs: list[SimJob]) -> list[tuple[float, float, int]]:
        return [(j.submit, j.run, j.cores) for j in jobs]

    a = generate(256, 3000, load=0.8, seed=7)
    assert key(a) == key(generate(256, 3000, load=0.8, seed=7))
    assert key(a) != key(generate(256, 3000, load=0.8, seed=8))
    assert key(a) != key(generate(256, 3000, load=0.8, seed=7, interactive_share=0.5))
    assert [j.job_id for j in a] == list(range(1, 3001))
    assert all(x.submit <= y.submit for x, y in zip(a, a[1:], strict=False))


@pytest.mark.parametrize("machine", [1, 2, 6, 100, 128, 1000])
def test_sizes_stay_within_the_machine(machine: int) -> None:
    for share in (0.0, 1.0):
        sizes = [j.cores for j in generate(machine, 4000, seed=machine, interactive_share=share)]
        assert min(sizes) == 1 and max(sizes) <= machine
    # interactive jobs are capped at 2^(log2(machine) - 1.5)
    inter = generate(1000, 4000, seed=1, interactive_share=1.0)
    assert max(j.cores for j in inter) <= round(2 ** (math.log2(1000) - 1.5))


def _incidental_pow2(low: float, med: float, hi: float, u_prob: float) -> float:
    """P(round(2^x) is a power of two) for x two-stage uniform, not rounded."""

    def hit(a: float, b: float) -> float:
        total = 0.0
        for k in range(0, int(hi) + 2):
            lo_k = math.log2(2**k - 0.5)
            hi_k = math.log2(2**k + 0.5)
            total += max(0.0, min(b, hi_k) - max(a, lo_k))
        return total / (b - a)

    return u_prob * hit(low, med) + (1 - u_prob) * hit(med, hi)


@pytest.mark.parametrize(("share", "cls"), [(0.0, BATCH), (1.0, INTERACTIVE)])
def test_serial_and_power_of_two_shares_follow_the_parameters(share: float, cls: JobClass) -> None:
    machine = 1024  # u_hi = 10 and 8.5: no rounded log2(size) lands above u_hi (and is capped)
    hi = math.log2(machine) - cls.hi_below
    jobs = generate(machine, N, seed=5, interactive_share=share)
    serial = _share(jobs, lambda j: j.cores == 1)
    assert abs(serial - cls.serial_prob) < _tol(cls.serial_prob, N)
    # pow2_prob counts all jobs: serial + rounded + the unrounded ones that land on 2^k
    other = 1 - cls.serial_prob - cls.pow2_prob
    q = _incidental_pow2(cls.u_low, hi - cls.med_below, hi, cls.u_prob)
    expect = cls.serial_prob + cls.pow2_prob + other * q
    pow2 = _share(jobs, lambda j: _pow2(j.cores))
    assert abs(pow2 - expect) < _tol(expect, N) + 0.002


def test_changed_size_parameters_take_effect() -> None:
    cls = replace(BATCH, serial_prob=0.5, pow2_prob=0.5)
    jobs = generate(512, 5000, seed=2, interactive_share=0.0, params=LublinParams(batch=cls))
    assert all(_pow2(j.cores) for j in jobs)
    assert abs(_share(jobs, lambda j: j.cores == 1) - 0.5) < _tol(0.5, 5000)


def _expected_log_run(cls: JobClass, size: int) -> float:
    p = min(1.0, max(0.0, cls.pa * size + cls.pb))
    return p * cls.a1 * cls.b1 + (1 - p) * cls.a2 * cls.b2


@pytest.mark.parametrize(("share", "cls"), [(0.0, BATCH), (1.0, INTERACTIVE)])
def test_larger_jobs_run_longer_with_a_mix_linear_in_size(share: float, cls: JobClass) -> None:
    jobs = generate(128, N, seed=9, interactive_share=share)
    small = [j for j in jobs if j.cores <= 2]
    large = [j for j in jobs if j.cores >= 32]
    assert len(small) > 1000 and len(large) > 200

    def mean(xs: list[float]) -> float:
        return sum(xs) / len(xs)

    assert mean([j.run for j in large]) > 1.2 * mean([j.run for j in small])
    for group in (small, large):  # E[ln run] per job from p = pa * size + pb
        got = mean([math.log(j.run) for j in group])
        want = mean([_expected_log_run(cls, j.cores) for j in group])
        assert got == pytest.approx(want, abs=0.35 if group is large else 0.15)
    assert all(1 <= j.run <= math.exp(12) for j in jobs)


@pytest.mark.parametrize("load", [0.3, 3.0])
def test_arrivals_follow_the_daily_cycle_at_any_load(load: float) -> None:
    for share in (0.0, 1.0):
        hours = _hours(generate(128, N, load=load, seed=4, interactive_share=share))
        day, night = sum(hours[10:18]) / 8, sum(hours[0:6]) / 6
        assert day > 2.5 * night
        assert 11 <= max(range(24), key=hours.__getitem__) <= 17


def test_the_day_starts_at_start_hour() -> None:
    jobs = generate(128, N, seed=4, interactive_share=0.0, params=LublinParams(start_hour=12))
    hours = _hours(jobs)  # hours since time 0, which is noon: the afternoon peak comes first
    assert sum(hours[0:6]) > 2.5 * sum(hours[12:18])


@pytest.mark.parametrize(
    ("machine", "n", "load", "share"),
    [(128, 2000, 0.7, None), (256, 5000, 0.9, 0.0), (64, 3000, 1.5, 1.0), (512, 4000, 0.5, 0.3)],
)
def test_offered_load_hits_the_target(
    machine: int, n: int, load: float, share: float | None
) -> None:
    jobs = generate(machine, n, load=load, seed=n, interactive_share=share)
    assert _offered(jobs, machine) == pytest.approx(load, rel=1e-3)


def test_interactive_and_batch_jobs_differ_as_fitted() -> None:
    batch = generate(128, N, seed=6, interactive_share=0.0)
    inter = generate(128, N, seed=6, interactive_share=1.0)

    def median_run(jobs: list[SimJob]) -> float:
        return sorted(j.run for j in jobs)[len(jobs) // 2]

    assert median_run(inter) * 10 < median_run(batch)  # interactive jobs are short
    assert max(j.cores for j in inter) <= 45 < max(j.cores for j in batch)
    s_batch = _share(batch, lambda j: j.cores == 1)
    s_inter = _share(inter, lambda j: j.cores == 1)
    assert s_inter < s_batch
    # the model's own mix and a forced half-and-half mix lie between the two types
    natural = _share(generate(128, N, seed=6), lambda j: j.cores == 1)
    assert s_inter < natural < s_batch
    half = _share(generate(128, N, seed=6, interactive_share=0.5), lambda j: j.cores == 1)
    mix = (BATCH.serial_prob + INTERACTIVE.serial_prob) / 2
    assert abs(half - mix) < _tol(mix, N)


def test_whole_sample_parameters_as_a_single_type() -> None:
    jobs = generate(128, N, seed=3, interactive_share=0.0, params=LublinParams(batch=WHOLE))
    serial = _share(jobs, lambda j: j.cores == 1)
    assert abs(serial - WHOLE.serial_prob) < _tol(WHOLE.serial_prob, N)
    assert _offered(jobs, 128) == pytest.approx(0.8, rel=1e-3)


def test_gamma_mass_and_day_clock() -> None:
    # Erlang(3, 2) CDF in closed form
    def erlang(x: float) -> float:
        y = x / 2
        return 1 - math.exp(-y) * (1 + y + y * y / 2)

    assert gamma_mass(1.0, 4.0, 3.0, 2.0) == pytest.approx(erlang(4) - erlang(1), rel=1e-6)
    w = day_weights(BATCH.anum, BATCH.bnum, 11)
    assert len(w) == 48 and sum(w) == pytest.approx(48)
    clock = DayClock(w, start_hour=3)
    for t in (0.0, 1.0, 1799.0, 40000.0, 86400.0, 5 * 86400 + 12345.6):
        assert clock.seconds(clock.points(t)) == pytest.approx(t, abs=1e-6)
    assert clock.points(86400.0) == pytest.approx(48.0)
    with pytest.raises(HyperionError):
        DayClock(w[:10])


def test_bad_arguments_are_rejected() -> None:
    with pytest.raises(HyperionError, match="interactive share"):
        generate(64, 10, interactive_share=1.5)
    with pytest.raises(HyperionError, match="batch job probabilities"):
        generate(64, 10, params=LublinParams(batch=replace(BATCH, pow2_prob=0.9)))
    with pytest.raises(HyperionError, match="start hour"):
        generate(64, 10, params=LublinParams(start_hour=24))


def test_sim_cli_runs_a_generated_workload(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", "--trace", "lublin:2000:0.8", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["jobs"] == 2000 and out["dropped"] == 0
