"""``hctl check`` against the real testbed, through the installed command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from .conftest import CONFIG


def _hctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hyperion.cli.hctl", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_three_healthy_sites(testbed: Path) -> None:
    proc = _hctl("check", str(CONFIG), "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert {s["site"]: s["healthy"] for s in report["sites"]} == {
        "alpha": True,
        "beta": True,
        "gamma": True,
    }
    assert all(s["slurm_version"].startswith("22.05") for s in report["sites"])


def test_mismatch_is_reported(testbed: Path, tmp_path: Path) -> None:
    text = CONFIG.read_text().replace('name = "batch"\nnodes = 4', 'name = "batch"\nnodes = 5')
    text = text.replace("${HYPERION_TESTBED_DIR:-../.testbed}", str(testbed))
    wrong = tmp_path / "wrong.toml"
    wrong.write_text(text)
    proc = _hctl("check", str(wrong), "--json", "--site", "alpha")
    assert proc.returncode == 1
    (alpha,) = json.loads(proc.stdout)["sites"]
    assert alpha["reachable"] and not alpha["healthy"]
    assert any("4 nodes in Slurm, 5 configured" in p for p in alpha["problems"])


def test_bad_config_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[sites.x]\naccess = { kind = 'local' }\n[[sites.x.partitions]]\nname = 'p'\n")
    proc = _hctl("check", str(bad))
    assert proc.returncode == 2
    assert str(bad) in proc.stderr and "nodes" in proc.stderr
    assert "Traceback" not in proc.stderr
