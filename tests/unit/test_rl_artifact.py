"""The model.hyp artifact: round trip, refusal of bad files, and ``rl:PATH`` as a policy."""

from __future__ import annotations

import json
import math
import sys
import zipfile
from pathlib import Path

import pytest
import torch

from hyperion.errors import HyperionError
from hyperion.placement.heuristics import get_policy
from hyperion.rl.artifact import META, WEIGHTS, load, save
from hyperion.rl.features import FEATURE_SPEC, JOB_FEATURES, SITE_FEATURES
from hyperion.rl.model import PlacementModel
from hyperion.sim import simulate
from hyperion.sim.scenario import build
from tests.unit.rl_sites import write_sites


def _model(path: Path) -> PlacementModel:
    torch.manual_seed(0)
    m = PlacementModel(len(JOB_FEATURES), len(SITE_FEATURES), hidden=16)
    nj, ns = len(JOB_FEATURES), len(SITE_FEATURES)
    m.set_normalisation([0.5] * nj, [2.0] * nj, [0.1] * ns, [0.0] + [3.0] * (ns - 1))
    save(path, m, {"objective": {"bsld": 1.0}, "command": "test", "curve": [{"iteration": 1}]})
    return m


def _rewrite_meta(path: Path, **changes: object) -> None:
    with zipfile.ZipFile(path) as z:
        meta, weights = json.loads(z.read(META)), z.read(WEIGHTS)
    meta.update(changes)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(META, json.dumps(meta))
        z.writestr(WEIGHTS, weights)


def test_round_trip_keeps_weights_normalisation_and_metadata(tmp_path: Path) -> None:
    path = tmp_path / "model.hyp"
    original = _model(path)
    loaded, meta = load(path)
    for (k, a), (k2, b) in zip(
        original.state_dict().items(), loaded.state_dict().items(), strict=True
    ):
        assert k == k2 and torch.equal(a, b)
    assert loaded.site_std[0].item() == 1.0  # a zero std is stored as 1
    assert meta["feature_spec"] == FEATURE_SPEC and meta["arch"]["hidden"] == 16
    assert meta["command"] == "test" and meta["curve"] == [{"iteration": 1}]
    job, sites = [1.0] * len(JOB_FEATURES), [[0.2] * len(SITE_FEATURES), [0.9] * len(SITE_FEATURES)]
    for a, b in zip(
        loaded.log_probs(job, sites, [True, False]),
        original.log_probs(job, sites, [True, False]),
        strict=True,
    ):
        assert a == pytest.approx(b)


def test_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(HyperionError, match=r"nope\.hyp: no such model file"):
        load(tmp_path / "nope.hyp")


def test_corrupt_bytes_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.hyp"
    path.write_bytes(b"\x00not a zip at all" * 50)
    with pytest.raises(HyperionError, match=r"model\.hyp: not a readable Hyperion model"):
        load(path)


def test_damaged_weights_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.hyp"
    _model(path)
    with zipfile.ZipFile(path) as z:
        meta = z.read(META)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(META, meta)
        z.writestr(WEIGHTS, b"garbage")
    with pytest.raises(HyperionError, match=r"model\.hyp: the model's weights cannot be loaded"):
        load(path)


def test_wrong_format_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.hyp"
    _model(path)
    _rewrite_meta(path, version=99)
    with pytest.raises(HyperionError, match=r"model\.hyp: model format version 99"):
        load(path)


def test_other_feature_spec_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.hyp"
    _model(path)
    spec = dict(FEATURE_SPEC, site=[*SITE_FEATURES[:-1], "queue_colour"])
    _rewrite_meta(path, feature_spec=spec)
    with pytest.raises(HyperionError, match=r"model\.hyp: the model was trained on other features"):
        load(path)


def test_other_architecture_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.hyp"
    _model(path)
    _rewrite_meta(path, arch={"job_dim": len(JOB_FEATURES), "site_dim": 3, "hidden": 16})
    with pytest.raises(HyperionError, match="weights cannot be loaded"):
        load(path)


def test_rl_policy_runs_in_the_simulator_and_explains_its_choice(tmp_path: Path) -> None:
    path = tmp_path / "model.hyp"
    _model(path)
    cfg = write_sites(tmp_path, [16, 32, 8], core_hour=[0.1, 0.2, 0.3])
    sc = build(["lublin:150:1.2:32"], sites_config=cfg, seed=2)
    policy = get_policy(f"rl:{path}")
    m = simulate(sc.jobs, sc.sites, f"rl:{path}")
    assert m.policy == f"rl:{path}" and m.jobs + m.dropped == 150 and m.jobs > 100
    assert sum(s.jobs for s in m.sites.values()) == m.jobs
    seen = []

    class Spy:
        def __init__(self) -> None:
            self.name, self.needs_start_estimate = policy.name, True
            self.watches_workload = True

        def record(self, *args: object) -> None:
            policy.record(*args)  # type: ignore[arg-type]

        def decide(self, *args: object) -> object:
            d = policy.decide(*args)  # type: ignore[arg-type]
            seen.append(d)
            return d

    simulate(sc.jobs, sc.sites, Spy())  # type: ignore[arg-type]
    assert seen
    for d in seen:
        assert len(d.scores) >= 2 and d.site == min(d.scores, key=d.scores.__getitem__)
        kept = [s for s in d.scores.values() if s < 1000]  # the guard's left-outs score +1000
        probs = [math.exp(-(s % 1000)) for s in d.scores.values()]
        assert kept and sum(probs) == pytest.approx(1.0, rel=1e-4)
        assert d.reason.startswith("learned policy (bsld=1)")


def test_rl_policy_options_are_checked(tmp_path: Path) -> None:
    with pytest.raises(HyperionError, match="has no option seed"):
        get_policy(f"rl:{tmp_path / 'm.hyp'}", seed=1)
    with pytest.raises(HyperionError, match="guard must be a number"):
        get_policy(f"rl:{tmp_path / 'm.hyp'}", guard="wide")


def test_the_guard_keeps_the_model_off_sites_that_start_much_later(tmp_path: Path) -> None:
    from hyperion.placement.policy import Candidate
    from hyperion.types import JobRequest, PartitionState, SiteState

    path = tmp_path / "model.hyp"
    _model(path)
    part = PartitionState("batch", 8, 0, 8, 0, 64, 0, 64, 0, 0, 0)
    job = JobRequest(time_limit_s=600)

    def cands(late_start: float) -> list[Candidate]:
        return [
            Candidate(site=n, state=SiteState(site=n, time=0.0, partitions=(part,)),
                      partition="batch", est_start=t, carbon_g_per_kwh=100.0)
            for n, t in (("soon", 0.0), ("late", late_start))
        ]  # fmt: skip

    guarded = get_policy(f"rl:{path}", guard=4)
    for late in (1e5, 1e6):  # far beyond 4 x 600 s: never chosen, whatever the model says
        d = guarded.decide(job, cands(late), 0.0)
        assert d.site == "soon" and "guard: 1 site(s)" in d.reason
        assert d.scores["late"] > 1000 > d.scores["soon"]
    d = guarded.decide(job, cands(1000.0), 0.0)  # within 2,400 s: the model may choose
    assert "guard" not in d.reason and max(d.scores.values()) < 1000
    free = get_policy(f"rl:{path}", guard=-1)
    assert "guard" not in free.decide(job, cands(1e6), 0.0).reason


def test_missing_torch_names_the_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in [m for m in sys.modules if m.startswith("hyperion.rl.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(HyperionError) as err:
        get_policy(f"rl:{tmp_path / 'm.hyp'}")
    assert "needs torch" in str(err.value) and "pip install hyperion[rl]" in str(err.value)


def test_the_shipped_default_model_loads_and_places(tmp_path: Path) -> None:
    from hyperion.placement.heuristics import default_model_path, is_policy_name

    assert is_policy_name("rl")
    _, meta = load(Path(default_model_path()))  # refused if the feature spec moved on
    assert meta["objective"] == {"bsld": 1.0, "wait": 0.0, "cost": 0.0, "carbon": 0.0}
    assert meta["command"].startswith("hyperion train ") and "--objective bsld" in meta["command"]
    cfg = write_sites(tmp_path, [16, 32, 8], core_hour=[0.1, 0.2, 0.3])
    sc = build(["lublin:150:1.2:32"], sites_config=cfg, seed=3)
    m = simulate(sc.jobs, sc.sites, "rl")
    assert m.jobs + m.dropped == 150 and m.jobs > 100


def test_eval_plots_the_training_curve_of_learned_policies(tmp_path: Path) -> None:
    from hyperion.cli.main import main

    cfg = write_sites(tmp_path, [16, 32, 8], core_hour=[0.1, 0.2, 0.3])
    out = tmp_path / "ev"
    args = ["eval", "--sites", str(cfg), "--trace", "lublin:60:1.0:32", "--policies",
            "rl,earliest-start", "--seeds", "1", "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    png = out / "training_curve.png"
    assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "wait_vs_carbon.png").is_file()
    no_rl = tmp_path / "ev2"
    assert main([*args[:6], "earliest-start", "--seeds", "1", "--out", str(no_rl)]) == 0
    assert not (no_rl / "training_curve.png").exists()
