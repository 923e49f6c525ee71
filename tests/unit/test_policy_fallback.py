"""A default policy that cannot be loaded (a bad learned model) falls back, and says so."""

from __future__ import annotations

from pathlib import Path

import pytest

from hyperion.daemon.federation import Federation
from hyperion.errors import HyperionError
from tests.unit.memory_site import ALICE, SCRIPT
from tests.unit.rl_sites import tiny_model

BODY = {"argv": ["--time=5"], "script": SCRIPT, "env": {"PATH": "/bin"}, "cwd": "/tmp"}


@pytest.mark.parametrize("content", [None, b"not a zip at all", b"PK\x03\x04broken"])
def test_a_refused_model_falls_back_to_the_configured_heuristic(
    fed: Federation, tmp_path: Path, content: bytes | None
) -> None:
    model = tmp_path / "model.hyp"
    if content is not None:
        model.write_bytes(content)
    name = f"rl:{model}"
    fed.settings = fed.settings.model_copy(
        update={"default_policy": name, "fallback_policy": "least-loaded"}
    )
    fed.load_default_policy()
    assert str(model) in fed.policy_errors[name]
    site = fed.sites()[0]
    assert site["policy"] == name and site["policy_error"] == fed.policy_errors[name]
    _, out = fed.submit(ALICE, dict(BODY))
    reason = out["job"]["attempts"][0]["placed_reason"]
    assert reason.startswith(f"least-loaded (fallback: {name} refused)")


def test_a_users_bad_policy_is_the_users_error(fed: Federation, tmp_path: Path) -> None:
    with pytest.raises(HyperionError, match="model.hyp"):
        fed.submit(ALICE, {**BODY, "policy": f"rl:{tmp_path / 'model.hyp'}"})
    assert not fed.policy_errors


def test_a_model_stepping_aside_says_so_in_the_reason_and_in_hctl_sites(
    fed: Federation, tmp_path: Path
) -> None:
    model = tmp_path / "model.hyp"
    tiny_model(model, {"log_cpus": [5.0, 6.0]})  # trained only on jobs of 150-400 cores
    name = f"rl:{model}"
    fed.settings = fed.settings.model_copy(
        update={"default_policy": name, "policy_options": {"fallback": "least-loaded"}}
    )
    fed.load_default_policy()
    assert fed.sites()[0]["policy_status"] is None and not fed.policy_errors
    _, out = fed.submit(ALICE, dict(BODY))  # one core: outside the model's range
    reason = out["job"]["attempts"][0]["placed_reason"]
    assert reason.startswith(f"{name}: least loaded")  # the fallback's choice and reason
    assert "(the model steps aside: 1 of the last 1 jobs lie outside" in reason
    status = fed.sites()[0]["policy_status"]
    assert status is not None and "least-loaded places them" in status
