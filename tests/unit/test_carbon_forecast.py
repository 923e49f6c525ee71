"""Forecasters on hand-built series, the backtest, ``hyperion carbon forecast-eval`` and the
provider-or-forecaster outlook."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest

from hyperion.carbon.evaluate import evaluate
from hyperion.carbon.forecast import (
    FORECASTERS,
    DailyProfile,
    Persistence,
    make_forecaster,
)
from hyperion.carbon.outlook import outlook
from hyperion.carbon.providers import CsvProvider
from hyperion.carbon.series import CarbonError, Hourly, IntensityPoint, IntensityResult
from hyperion.cli.main import main

H = 3600.0
START = 1672531200.0  # 2023-01-01T00:00Z


def cycle(hour_of_day: int) -> float:
    return 200.0 + 100.0 * math.sin(2 * math.pi * hour_of_day / 24) + (hour_of_day % 5)


def daily_series(days: int) -> Hourly:
    return Hourly(START, tuple(cycle(i % 24) for i in range(days * 24)))


def test_persistence_repeats_the_last_finished_hour() -> None:
    s = Hourly(START, (10.0, 20.0, 30.0, 40.0))
    p = Persistence().prepare(s)
    assert p.at(START + 2 * H, 3) == (20.0, 20.0, 20.0)  # at 02:00 the hour 01:00 is the last
    assert p.at(START + 2 * H + 1799, 2) == (20.0, 20.0)  # 02:00-03:00 is not over: not known
    assert p.at(START + 10 * H, 1) == (40.0,)  # past the end of the data: the last value


def test_same_hour_yesterday() -> None:
    s = Hourly(START, tuple(float(i) for i in range(72)))
    f = make_forecaster("same-hour-yesterday")
    assert f.forecast(s, START + 50 * H, 3) == (26.0, 27.0, 28.0)
    # beyond one day ahead, the latest known day is reused
    assert f.forecast(s, START + 50 * H, 26)[24:] == (26.0, 27.0)


def test_daily_profile_recovers_a_pure_daily_cycle_exactly() -> None:
    s = daily_series(10)
    for days in (1, 3, 7):
        p = DailyProfile(days).prepare(s)
        for k in (24, 30, 100, 239):
            got = p.at(START + k * H, 48)
            assert got == tuple(cycle((k + h) % 24) for h in range(48)), (days, k)
    blend = make_forecaster("daily-profile-blend").prepare(s)
    assert blend.at(START + 100 * H, 24) == tuple(cycle((100 + h) % 24) for h in range(24))


def test_daily_profile_is_the_mean_of_the_last_days() -> None:
    values = [0.0] * 72
    values[5], values[29], values[53] = 10.0, 20.0, 60.0  # hour 05:00 on three days
    s = Hourly(START, tuple(values))
    at = START + 72 * H  # midnight of day 4: target 05:00 is 5 hours ahead
    assert DailyProfile(2).forecast(s, at, 6)[5] == 40.0  # (20 + 60) / 2
    assert DailyProfile(3).forecast(s, at, 6)[5] == 30.0
    assert DailyProfile(7).forecast(s, at, 6)[5] == 30.0  # fewer days known: those there are


def test_blend_adds_the_current_deviation_fading_with_lead_time() -> None:
    values = [100.0] * 48
    values[47] = 160.0  # the last hour is 60 above its profile
    s = Hourly(START, tuple(values))
    got = DailyProfile(1, tau=2.0).forecast(s, START + 48 * H, 3)
    # profile: the same hour of the last day (hour 47 for target 71, else 100)
    assert got[0] == pytest.approx(100 + 60 * math.exp(-1 / 2))
    assert got[1] == pytest.approx(100 + 60 * math.exp(-2 / 2))


@pytest.mark.parametrize("name", [*FORECASTERS, "daily-profile:2", "daily-profile-blend:2:4"])
def test_no_forecaster_peeks_at_values_after_now(name: str) -> None:
    rng = random.Random(7)
    base = [rng.uniform(50, 500) for _ in range(24 * 12)]
    f = make_forecaster(name)
    for k in (30, 150, 200):
        changed = base[:k] + [rng.uniform(50, 500) for _ in range(len(base) - k)]
        now = START + k * H + 1200  # mid-hour: hour k itself is not over
        a = f.forecast(Hourly(START, tuple(base)), now, 24)
        b = f.forecast(Hourly(START, tuple(changed)), now, 24)
        assert a == b, (name, k)
        c = f.forecast(Hourly(START, tuple(base[:k])), now, 24)  # data ends at now
        assert a == c, (name, k)


def test_prepared_answers_are_memoised() -> None:
    p = DailyProfile(3).prepare(daily_series(5))
    first = p.at(START + 50 * H, 24)
    assert p.at(START + 50 * H + 10, 24) is first  # same hour: the same tuple, not recomputed


def test_forecaster_errors() -> None:
    s = Hourly(START, (1.0, 2.0))
    with pytest.raises(CarbonError, match="no carbon-intensity history"):
        Persistence().forecast(s, START + 10, 3)
    with pytest.raises(CarbonError, match="at least 1 hour"):
        Persistence().forecast(s, START + 2 * H, 0)
    for bad in ("prophet", "persistence:3", "daily-profile:x", "daily-profile:0", "blend:3:-1"):
        with pytest.raises(CarbonError):
            make_forecaster(bad)
    assert make_forecaster("blend").name == "blend"
    f = make_forecaster("daily-profile:14")
    assert isinstance(f, DailyProfile) and f.days == 14 and f.tau is None


def test_backtest_scores() -> None:
    s = daily_series(20)
    scores = {
        x.forecaster: x for x in evaluate(s, "cycle", [make_forecaster(n) for n in FORECASTERS], 24)
    }
    assert scores["daily-profile"].mae == 0.0
    assert scores["same-hour-yesterday"].mae == 0.0
    assert scores["persistence"].mae > 30
    p = scores["persistence"]
    assert p.issues == 20 * 24 - 24 + 1 - 7 * 24  # the largest warm-up (7 days) for all
    assert p.mae_rel == pytest.approx(p.mae / p.mean)
    # persistence 24 h ahead reads the same hour of the previous day: exact on a daily cycle
    assert p.mae_at_horizon == pytest.approx(0.0)
    with pytest.raises(CarbonError, match="too short"):
        evaluate(daily_series(2), "short", [DailyProfile(7)], 24)


def write_cycle_csv(path: Path, days: int) -> None:
    rows = [f"{START + i * H:.0f},{cycle(i % 24) + (i // 24):.3f}" for i in range(days * 24)]
    path.write_text("time,value\n" + "\n".join(rows) + "\n")


def test_forecast_eval_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    write_cycle_csv(tmp_path / "XX_test.csv", 15)
    argv = ["carbon", "forecast-eval", "--data", str(tmp_path), "--horizon", "6", "--json"]
    assert main([*argv, "--forecaster", "persistence", "daily-profile:2"]) == 0
    out = json.loads(capsys.readouterr().out)
    rows = {r["forecaster"]: r for r in out["scores"]}
    assert set(rows) == {"persistence", "daily-profile:2"}
    assert rows["persistence"]["series"] == "XX" and rows["persistence"]["horizon"] == 6
    assert 0 < rows["daily-profile:2"]["mae"] < rows["persistence"]["mae"]
    assert "24 gCO2/kWh" in out["context"]

    monkeypatch.setenv("HYPERION_CARBON_DATA", str(tmp_path / "XX_test.csv"))
    assert main(["carbon", "forecast-eval", "--horizon", "3"]) == 0
    text = capsys.readouterr().out
    assert "daily-profile-blend" in text and "24 gCO2/kWh" in text

    monkeypatch.delenv("HYPERION_CARBON_DATA")
    assert main(["carbon", "forecast-eval"]) == 2
    assert "HYPERION_CARBON_DATA" in capsys.readouterr().err
    assert main(["carbon", "forecast-eval", "--data", str(tmp_path / "nope")]) == 2
    assert "no such file or folder" in capsys.readouterr().err


class Published(CsvProvider):
    """A CSV provider that also publishes a forecast."""

    def forecast(self, zone: str, now: float | None = None) -> IntensityResult | None:
        pts = tuple(IntensityPoint(START + (48 + h) * H, 1000.0 + h) for h in range(3))
        return IntensityResult(zone, pts, "published", stale=True, error="old")


def test_outlook_uses_the_provider_forecast_else_the_forecaster(tmp_path: Path) -> None:
    write_cycle_csv(tmp_path / "XX_a.csv", 2)
    now = START + 48 * H + 60
    plain = outlook(CsvProvider(directory=tmp_path), "XX", now, 4, DailyProfile(1))
    assert plain is not None and plain.start == START + 48 * H
    yesterday = [cycle(h) + 1 for h in range(4)]
    assert plain.values == pytest.approx(yesterday, abs=1e-3)
    assert plain.source == "csv+daily-profile" and not plain.stale
    pub = outlook(Published(directory=tmp_path), "XX", now, 5, DailyProfile(1))
    assert pub is not None and pub.values == (1000.0, 1001.0, 1002.0, 1002.0, 1002.0)
    assert pub.stale and pub.error == "old"
    assert outlook(CsvProvider(directory=tmp_path), "XX", START - 10 * H, 4, Persistence()) is None


@pytest.mark.parametrize(
    "spec", ["daily-profile:inf", "daily-profile:nan", "daily-profile-blend:3:nan"]
)
def test_non_finite_forecaster_parameters_are_refused(spec: str) -> None:
    from hyperion.carbon.series import CarbonError

    with pytest.raises(CarbonError, match="unknown forecaster"):
        make_forecaster(spec)
