"""`hyperion sim --partition-share`: jobs asking for beta's high-tier partition preempt the
preemptible one in the simulator, as they do on the real testbed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hyperion.cli.main import main

SITES = str(Path(__file__).resolve().parents[2] / "site-configs" / "testbed.toml")


def _run(capsys: pytest.CaptureFixture[str], *extra: str) -> dict:  # type: ignore[type-arg]
    argv = [
        "sim",
        "--trace",
        "lublin:400:0.9:6",
        "--sites",
        SITES,
        "--policy",
        "earliest-start",
        "--json",
        *extra,
    ]
    assert main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    return doc.get("metrics", doc)  # type: ignore[no-any-return]


def test_partition_share_makes_preemption_happen(capsys: pytest.CaptureFixture[str]) -> None:
    without = _run(capsys)
    assert without["preemptions"] == 0
    with_share = _run(capsys, "--partition-share", "inference=0.3")
    assert with_share["preemptions"] > 0 and with_share["lost_core_s"] > 0


def test_bad_share_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["sim", "--trace", "lublin:10:0.5", "--partition-share", "inference=2"])
    assert exit_.value.code == 2
    assert "SHARE in [0, 1]" in capsys.readouterr().err
