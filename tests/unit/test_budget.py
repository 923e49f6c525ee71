"""Per-account budgets: the period window, leaving out sites over budget, the refusal (through
the federation, the API and hsub), and the config checks."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hyperion.api.client import api_error
from hyperion.api.server import Api, ApiError
from hyperion.cli import hsub
from hyperion.config import load_config
from hyperion.daemon.budget import BudgetExceeded, budget_status, period_start
from hyperion.daemon.routes import routes
from hyperion.errors import ConfigError
from tests.unit.ledger_sites import SITES, federation, finished_attempt, write_config
from tests.unit.memory_site import ALICE, SCRIPT

NOW = datetime(2025, 3, 5, 13, 30, tzinfo=UTC).timestamp()  # a Wednesday


def _utc(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()  # type: ignore[misc]


def test_period_windows_are_utc_calendar_periods() -> None:
    assert period_start("day", NOW) == _utc(2025, 3, 5)
    assert period_start("week", NOW) == _utc(2025, 3, 3)  # Monday
    assert period_start("month", NOW) == _utc(2025, 3, 1)
    assert period_start("quarter", NOW) == _utc(2025, 1, 1)
    assert period_start("quarter", _utc(2025, 8, 15, 23)) == _utc(2025, 7, 1)
    assert period_start("year", NOW) == _utc(2025, 1, 1)
    assert period_start("week", _utc(2025, 3, 3)) == _utc(2025, 3, 3)  # its first instant


def _spend(engine: object, account: str, cost_eur: float, ended: float) -> None:
    """A finished attempt on site cpu costing ``cost_eur`` (1 core x 0.04 EUR/h)."""
    hours = cost_eur / 0.04
    start = ended - hours * 3600
    finished_attempt(engine, owner="bob", account=account, started=start, ended=ended)


def test_spend_counts_only_this_period_and_converts_currencies(tmp_path: Path) -> None:
    with federation(tmp_path) as fed:
        _spend(fed.engine, "physics", 2.0, _utc(2025, 2, 28, 23))  # last month: not counted
        _spend(fed.engine, "physics", 1.0, _utc(2025, 3, 2))
        _spend(fed.engine, "chemistry", 5.0, _utc(2025, 3, 2))  # another account
        finished_attempt(  # 1 node-hour at 0.5 USD plus the 2-minute boot, at 0.9 EUR/USD
            fed.engine, account="physics", site="cloud", partition="burst",
            started=_utc(2025, 3, 4), ended=_utc(2025, 3, 4, 1),
        )  # fmt: skip
        fed.ledger.record_finished()
        status = budget_status(fed.config, fed.engine, "physics", NOW)
        assert status is not None and status.since == _utc(2025, 3, 1)
        assert status.spent == pytest.approx(1.0 + 0.5 * (3600 + 120) / 3600 * 0.9)
        assert budget_status(fed.config, fed.engine, "nobudget", NOW) is None
        assert budget_status(fed.config, fed.engine, None, NOW) is None


def _body(*argv: str) -> dict[str, object]:
    return {"argv": ["--time=60", "-n", "2", *argv], "script": SCRIPT, "cwd": "/tmp"}


def test_sites_over_budget_are_left_out_and_the_reason_says_so(tmp_path: Path) -> None:
    with federation(tmp_path) as fed:
        # predicted for 2 cores x 1 h: gpu 0.02, cpu 0.08, cloud (1 node + boot) 0.465 EUR
        _spend(fed.engine, "physics", 9.95, time.time() - 60)  # submit() checks the real now
        fed.ledger.record_finished()
        _, out = fed.submit(ALICE, {**_body("-A", "physics"), "test_only": True})
        d = out["decision"]
        assert d["site"] == "gpu"
        assert "left out over account 'physics''s budget: cloud, cpu" in d["reason"]
        why = {c["site"]: c["why_not"] for c in d["candidates"]}
        assert why["cpu"].startswith("over budget: would cost 0.08 EUR")
        assert "has 0.05 EUR left this month" in why["cpu"]
        # pinned to a site over budget: nothing cheaper may be used, so it is refused
        with pytest.raises(BudgetExceeded, match="only site"):
            fed.submit(ALICE, {**_body("-A", "physics"), "site": "cpu"})
        # an account without a budget, or no account: no limit
        _, free = fed.submit(ALICE, {**_body("-A", "chemistry"), "test_only": True})
        assert free["decision"]["site"] == "gpu" and "budget" not in free["decision"]["reason"]
        _, placed = fed.submit(ALICE, _body("-A", "physics"))
        assert "budget" in placed["job"]["attempts"][0]["placed_reason"]


def test_refusal_names_account_budget_spent_and_cost(tmp_path: Path) -> None:
    with federation(tmp_path) as fed:
        _spend(fed.engine, "physics", 9.99, time.time() - 60)
        fed.ledger.record_finished()
        with pytest.raises(BudgetExceeded) as err:
            fed.submit(ALICE, _body("-A", "physics"))
        msg = err.value.message
        for text in ("'physics'", "10.00 EUR per month", "spent 9.99 EUR", "0.02 EUR", "gpu"):
            assert text in msg, text
        assert err.value.hint and "--time" in err.value.hint
        # the API answers 402 with the message; nothing is stored
        api = Api(routes(fed), "admins", lambda *a, **k: None)
        with pytest.raises(ApiError) as api_err:
            api.dispatch("POST", "/hyperion/v1/jobs", "", _body("-A", "physics"), ALICE, [])
        assert api_err.value.status == 402 and "over budget" in api_err.value.message
        assert fed.list_jobs(ALICE, {}) == []


def test_a_daily_budget_counts_today_only(tmp_path: Path) -> None:
    with federation(tmp_path) as fed:
        # tiny: 0.01 EUR per day; 0.02 EUR spent yesterday does not count today
        _spend(fed.engine, "tiny", 0.02, NOW - 86400)
        fed.ledger.record_finished()
        status = budget_status(fed.config, fed.engine, "tiny", NOW)
        assert status is not None and status.spent == 0.0 and status.period == "day"
        with pytest.raises(BudgetExceeded):  # the cheapest site wants 0.02 > 0.01
            fed.submit(ALICE, _body("-A", "tiny"))


class _Refusing:
    last_warnings: list[str] = []

    def submit(self, **kwargs: object) -> dict[str, object]:
        raise api_error(402, [{"error": "over budget: account 'physics' ...", "hint": "ask"}])


def test_hsub_exits_non_zero_with_the_message(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setattr(hsub, "make_client", lambda: _Refusing())
    script = tmp_path / "job.sh"
    script.write_text(SCRIPT)
    assert hsub.main(["-A", "physics", str(script)]) != 0
    err = capsys.readouterr().err
    assert "over budget: account 'physics'" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            "[budgets]\naccounts = { x = { amount = 1 } }\n",
            "sites.cloud.prices.currency is USD but the budgets are in EUR: add "
            "budgets.exchange_rates.USD",
        ),
        ("[budgets]\nperiod = 'fortnight'\n", "budgets.period"),
        ("[budgets]\naccounts = { x = { amount = -1 } }\n", "budgets.accounts.x.amount"),
        ("[budgets]\nexchange_rates = { usd = 0.9 }\n", "not a currency code"),
        ("[budgets]\nbudget = 3\n", "budgets.budget: unknown key"),
    ],
)
def test_bad_budget_config_is_a_clear_error(tmp_path: Path, extra: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(write_config(tmp_path, extra))
    assert message in str(err.value)


def test_bad_prices_are_clear_errors(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(SITES.replace("spot_discount = 0.25", "spot_discount = 1.5"))
    with pytest.raises(ConfigError, match="sites.cpu.prices.spot_discount"):
        load_config(path)
    no_spot = SITES.replace("preemptible = true", "")
    path.write_text(no_spot)
    with pytest.raises(ConfigError, match="preemptible partitions, and this site has none"):
        load_config(path)
    path.write_text(SITES.replace("pue = 1.2", "pue = 0.5"))
    with pytest.raises(ConfigError, match="sites.cpu.power.pue"):
        load_config(path)
