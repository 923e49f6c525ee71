"""``hyperion eval carbon``: the four-site carbon evaluation on synthetic series."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from hyperion.cli.main import main
from hyperion.sim.carbon_eval import parse_spec

CONFIG = Path(__file__).resolve().parents[2] / "site-configs" / "sim" / "carbon4.toml"
ZONES = {"DE": 330.0, "FR": 30.0, "GB": 140.0, "US-CAL-CISO": 190.0}


@pytest.fixture
def carbon_dir(tmp_path: Path) -> Path:
    """Two weeks of made-up hourly series (a daily swing around each zone's mean)."""
    d = tmp_path / "carbon"
    d.mkdir()
    for zone, mean in ZONES.items():
        lines = ["time,value"]
        for h in range(24 * 21):
            swing = 0.3 * mean * (1 if 10 <= h % 24 < 16 else -1)
            lines.append(f"{1672531200 + h * 3600},{mean - swing:.1f}")
        (d / f"{zone}_2023_hourly.csv").write_text("\n".join(lines) + "\n")
    return d


def test_eval_carbon_writes_table_csv_and_bound(
    carbon_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    args = [
        "eval", "carbon", "--sites", str(CONFIG), "--carbon-dir", str(carbon_dir),
        "--trace", "lublin:400:0.4:256", "--seeds", "0,1", "--out", str(out), "--no-plot",
        "--policies", "earliest-start,greenest,carbon-aware:slack=2@oracle", "--flex", "3h",
        "--json",
    ]  # fmt: skip
    assert main(args) == 0
    res = json.loads(capsys.readouterr().out)
    summary = {(e["mode"], e["policy"]): e for e in res["summary"]}
    assert set(summary) == {
        (m, p)
        for m in ("rigid", "flex")
        for p in ("earliest-start", "greenest", "carbon-aware:slack=2@oracle", "lower-bound")
    }
    assert summary[("rigid", "earliest-start")]["carbon_ratio"] == pytest.approx(1.0)
    for mode in ("rigid", "flex"):
        lb = summary[(mode, "lower-bound")]["carbon_kg"]
        # over earliest-start's span: below every schedule that ends by then
        assert 0 < lb < summary[(mode, "earliest-start")]["carbon_kg"]
        assert lb < summary[(mode, "carbon-aware:slack=2@oracle")]["carbon_kg"]
    assert summary[("flex", "greenest")]["carbon_ratio"] < 0.5  # everything to FR
    rows = list(csv.DictReader((out / "carbon.csv").open()))
    assert len(rows) == 2 * 2 * 3 + 4 and rows[-1]["policy"] == "lower-bound"
    flex_rows = [r for r in rows if r["mode"] == "flex" and r["policy"] != "lower-bound"]
    assert all(int(r["flexible"]) > 0 for r in flex_rows)
    assert all(int(r["flexible"]) == 0 for r in rows if r["mode"] == "rigid" and r["jobs"])


def test_eval_carbon_table_output(
    carbon_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["eval", "carbon", "--sites", str(CONFIG), "--carbon-dir", str(carbon_dir),
            "--trace", "lublin:200:0.4:256", "--policies", "carbon-aware", "--no-plot",
            "--out", str(tmp_path / "o")]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "lower-bound" in out and "earliest-start" in out and "goal" in out


def test_eval_carbon_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("HYPERION_CARBON_DATA", raising=False)
    assert main(["eval", "carbon", "--sites", str(CONFIG)]) != 0
    assert "HYPERION_CARBON_DATA" in capsys.readouterr().err
    assert main(["eval", "carbon", "--carbon-dir", str(tmp_path / "nope")]) != 0
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["eval", "carbon", "--flex", "soon"])
    assert "duration" in capsys.readouterr().err


def test_policy_specs() -> None:
    s = parse_spec("carbon-aware:slack=8:shift=false@oracle", "daily-profile-blend")
    assert (s.name, s.options, s.forecast) == (
        "carbon-aware",
        {"slack": 8, "shift": False},
        "oracle",
    )
    assert parse_spec("weighted", "persistence").forecast == "persistence"
    from hyperion.errors import HyperionError

    with pytest.raises(HyperionError, match="unknown placement policy"):
        parse_spec("bluest", "daily-profile-blend")
    with pytest.raises(HyperionError, match="unknown carbon forecast"):
        parse_spec("greenest@tarot", "daily-profile-blend")
    with pytest.raises(HyperionError, match="no option"):
        parse_spec("greenest:colour=green", "daily-profile-blend")
