"""The AccaSim side-by-side run of ``hyperion bench sim``: skipped with a reason when AccaSim
cannot be imported; when it can, its FIFO must agree with our FCFS and its EASY must show the
reservation-less backfilling our docs describe."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from hyperion.bench.sim import measure
from hyperion.cli.main import main
from hyperion.placement.heuristics import get_policy
from hyperion.sim import Engine, Pool, SimJob, SimSite, accasim, generate, write_swf


@pytest.fixture
def swf(tmp_path: Path) -> Path:
    p = tmp_path / "w.swf"
    write_swf(generate(32, 120, load=1.0, seed=7), p, machine_size=32)
    return p


@pytest.fixture
def no_accasim(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "accasim", None)  # any import of it fails


def needs_accasim() -> None:
    why = accasim.unavailable()
    if why is not None:
        pytest.skip(why)


def test_bench_says_why_it_skipped_accasim(
    swf: Path, no_accasim: None, capsys: pytest.CaptureFixture[str]
) -> None:
    why = accasim.unavailable()
    assert why is not None and "not installed" in why and "hyperion[bench]" in why
    res = measure(swf, repeat=1)
    assert res["accasim"]["status"] == "skipped" and res["accasim"]["reason"] == why
    assert main(["bench", "sim", "--trace", str(swf), "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    assert "AccaSim side-by-side run skipped: AccaSim is not installed" in out
    assert "pip install 'hyperion[bench]'" in out
    assert main(["bench", "sim", "--trace", str(swf), "--repeat", "1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["accasim"]["status"] == "skipped"


def test_no_accasim_flag_skips_it(swf: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "sim", "--trace", str(swf), "--repeat", "1", "--no-accasim"]) == 0
    assert "skipped: --no-accasim" in capsys.readouterr().out


def _ours(jobs: list[SimJob], cores: int, backfill: bool) -> dict[int, float]:
    copies = [j.copy() for j in jobs]
    Engine([SimSite("s", [Pool("p", cores, backfill=backfill)])], get_policy("home")).run(copies)
    return {i: j.start for i, j in enumerate(copies)}


def test_accasim_fifo_is_our_plain_fcfs() -> None:
    needs_accasim()
    jobs = generate(32, 200, load=1.2, seed=3)
    r = accasim.run(jobs, 32, "FIFO")
    assert r.jobs == 200
    assert r.starts == _ours(jobs, 32, backfill=False)


def test_accasim_easy_keeps_no_reservation() -> None:
    needs_accasim()

    def J(jid: int, submit: float, cores: int, run: float) -> SimJob:
        return SimJob(jid, submit, run, run, cores)

    # head 1 (4 cores) is blocked until 10; job 2 (1 core, 100 s) fits now but would delay it
    jobs = [J(0, 0, 2, 10), J(1, 1, 4, 5), J(2, 2, 1, 100)]
    assert _ours(jobs, 4, backfill=True) == {0: 0, 1: 10, 2: 15}  # EASY protects the head
    assert accasim.run(jobs, 4, "EASY").starts == {0: 0, 1: 102, 2: 2}  # AccaSim does not


def test_bench_runs_accasim_side_by_side(swf: Path, capsys: pytest.CaptureFixture[str]) -> None:
    needs_accasim()
    res = measure(swf, repeat=1, accasim_jobs=60)
    side = res["accasim"]
    assert side["status"] == "ran" and side["jobs"] == 60
    fifo = next(c for c in side["cases"] if c["dispatcher"] == "FIFO")
    assert fifo["accasim"]["jobs"] == fifo["hyperion"]["jobs"] == 60
    assert fifo["accasim"]["mean_wait"] == pytest.approx(fifo["hyperion"]["mean_wait"])
    assert fifo["accasim"]["mean_bsld"] == pytest.approx(fifo["hyperion"]["mean_bsld"])
    assert all(c["speed_ratio"] > 1 for c in side["cases"])
    assert main(["bench", "sim", "--trace", str(swf), "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    assert "side by side with AccaSim" in out and "as many jobs/s as AccaSim" in out
