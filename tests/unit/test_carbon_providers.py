"""Carbon providers: the HTTP clients against a local server speaking the documented JSON, the
stale fallback on every kind of failure, the CSV provider and the configuration."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from hyperion.carbon.config import load_providers
from hyperion.carbon.electricitymaps import ElectricityMapsProvider
from hyperion.carbon.gb import CarbonIntensityGBProvider
from hyperion.carbon.providers import CsvProvider
from hyperion.carbon.series import CarbonError, IntensityPoint

T0 = datetime(2023, 1, 1, tzinfo=UTC).timestamp()  # 2023-01-01T00:00Z
H = 3600.0


# -- a local server -------------------------------------------------------------------------


class Route:
    """What the server answers on one path: status, body (bytes or JSON-able), delay."""

    def __init__(self, body: Any, status: int = 200, delay: float = 0.0) -> None:
        self.body, self.status, self.delay = body, status, delay


class Api:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, dict[str, list[str]], dict[str, str]]] = []
        self.server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def hits(self, path: str) -> int:
        return sum(1 for p, _, _ in self.requests if p == path)


@pytest.fixture
def api() -> Iterator[Api]:
    state = Api()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            parts = urlsplit(self.path)
            headers = {k.lower(): v for k, v in self.headers.items()}  # case-insensitive
            state.requests.append((parts.path, parse_qs(parts.query), headers))
            route = state.routes.get(parts.path, Route({"error": "not found"}, 404))
            if route.delay:
                time.sleep(route.delay)
            body = route.body if isinstance(route.body, bytes) else json.dumps(route.body).encode()
            self.send_response(route.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                self.wfile.write(body)
            except OSError:
                pass  # the client gave up (timeout test)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.server = server
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def closed_port_url() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}"


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def em_entry(t: float, value: int | None) -> dict[str, Any]:
    stamp = datetime.fromtimestamp(t, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return {
        "zone": "DE",
        "carbonIntensity": value,
        "datetime": stamp,
        "updatedAt": "2023-01-01T05:32:21.002Z",
        "createdAt": "2022-12-31T06:20:31.772Z",
        "emissionFactorType": "direct",
        "isEstimated": False,
        "estimationMethod": None,
    }


EM_HISTORY = "/v3/carbon-intensity/history"
EM_FORECAST = "/v3/carbon-intensity/forecast"


def em(api: Api, clock: Clock, **kw: Any) -> ElectricityMapsProvider:
    return ElectricityMapsProvider(token="sekrit", base_url=api.url, clock=clock, **kw)


# -- Electricity Maps ---------------------------------------------------------------------------


def test_em_history_sends_token_and_parses_entries(api: Api) -> None:
    api.routes[EM_HISTORY] = Route(
        {
            "zone": "DE",
            "history": [em_entry(T0, 302), em_entry(T0 + H, None), em_entry(T0 + 2 * H, 280)],
        }
    )
    clock = Clock(T0 + 3 * H)
    res = em(api, clock).history("DE", T0, T0 + 3 * H)
    assert res.points == (IntensityPoint(T0, 302.0), IntensityPoint(T0 + 2 * H, 280.0))
    assert not res.stale and res.error is None and res.fetched_at == clock.now
    path, query, headers = api.requests[-1]
    assert path == EM_HISTORY
    assert query == {"zone": ["DE"], "emissionFactorType": ["direct"]}
    assert headers.get("auth-token") == "sekrit"


def test_em_history_keeps_only_the_range_asked(api: Api) -> None:
    api.routes[EM_HISTORY] = Route(
        {"zone": "DE", "history": [em_entry(T0 + h * H, 100 + h) for h in range(6)]}
    )
    res = em(api, Clock(T0 + 6 * H)).history("DE", T0 + 2 * H, T0 + 4 * H)
    assert res.values == [102.0, 103.0]


def test_em_forecast_and_latest(api: Api) -> None:
    api.routes[EM_FORECAST] = Route(
        {
            "zone": "DE",
            "forecast": [em_entry(T0 + h * H, 200 + h) for h in range(24)],
            "updatedAt": "2023-01-01T00:00:00.000Z",
        }
    )
    api.routes["/v3/carbon-intensity/latest"] = Route(em_entry(T0 - H, 321))
    p = em(api, Clock(T0 + 30 * 60))
    fc = p.forecast("DE")
    assert fc is not None and fc.values[:3] == [200.0, 201.0, 202.0] and len(fc.points) == 24
    latest = p.latest("DE")
    assert latest.points == (IntensityPoint(T0 - H, 321.0),) and not latest.stale


def test_em_old_ranges_use_past_range_in_ten_day_calls(api: Api) -> None:
    api.routes["/v3/carbon-intensity/past-range"] = Route(
        {"zone": "DE", "data": [em_entry(T0, 111)]}
    )
    p = em(api, Clock(T0 + 100 * 24 * H))
    res = p.history("DE", T0, T0 + 15 * 24 * H)
    assert res.values == [111.0]
    calls = [q for path, q, _ in api.requests if path.endswith("past-range")]
    assert [(q["start"][0], q["end"][0]) for q in calls] == [
        ("2023-01-01T00:00:00Z", "2023-01-11T00:00:00Z"),
        ("2023-01-11T00:00:00Z", "2023-01-16T00:00:00Z"),
    ]


def test_em_fresh_answers_are_reused_for_the_ttl(api: Api) -> None:
    api.routes[EM_HISTORY] = Route({"zone": "DE", "history": [em_entry(T0, 1)]})
    clock = Clock(T0 + 2 * H)
    p = em(api, clock, ttl_s=60)
    p.history("DE", T0, T0 + 2 * H)
    p.history("DE", T0, T0 + 2 * H)
    assert api.hits(EM_HISTORY) == 1
    clock.now += 61
    p.history("DE", T0, T0 + 2 * H)
    assert api.hits(EM_HISTORY) == 2


FAILURES: dict[str, Callable[[Api], None]] = {
    "http-500": lambda a: a.routes.__setitem__(EM_HISTORY, Route({"error": "boom"}, 500)),
    "timeout": lambda a: a.routes.__setitem__(EM_HISTORY, Route({"history": []}, delay=1.5)),
    "garbage-json": lambda a: a.routes.__setitem__(EM_HISTORY, Route(b"<html>not json")),
    "wrong-shape": lambda a: a.routes.__setitem__(EM_HISTORY, Route({"zone": "DE"})),
    "bad-entry": lambda a: a.routes.__setitem__(
        EM_HISTORY, Route({"history": [{"carbonIntensity": 5, "datetime": "yesterday"}]})
    ),
}


@pytest.mark.parametrize("failure", sorted(FAILURES))
def test_em_failure_gives_last_known_values_marked_stale(api: Api, failure: str) -> None:
    api.routes[EM_HISTORY] = Route(
        {"zone": "DE", "history": [em_entry(T0, 300), em_entry(T0 + H, 310)]}
    )
    clock = Clock(T0 + 2 * H)
    p = em(api, clock, ttl_s=0, timeout_s=0.3)
    fresh = p.history("DE", T0, T0 + 2 * H)
    assert not fresh.stale
    FAILURES[failure](api)
    clock.now += 600
    res = p.history("DE", T0, T0 + 2 * H)
    assert res.stale
    assert res.values == [300.0, 310.0]
    assert res.fetched_at == T0 + 2 * H  # when they were really fetched
    assert res.error


def test_em_failure_without_any_known_value_is_empty_and_stale(api: Api) -> None:
    api.routes[EM_FORECAST] = Route({"message": "Internal"}, 500)
    fc = em(api, Clock(T0)).forecast("DE")
    assert fc is not None and fc.stale and fc.points == () and fc.fetched_at is None
    assert fc.error is not None and "HTTP 500" in fc.error


def test_connection_refused_falls_back_to_the_disk_cache(api: Api, tmp_path: Path) -> None:
    api.routes[EM_HISTORY] = Route({"zone": "DE", "history": [em_entry(T0, 250)]})
    clock = Clock(T0 + H)
    em(api, clock, cache_dir=tmp_path).history("DE", T0, T0 + H)
    assert list(tmp_path.rglob("*.json")), "the disk cache was not written"
    restarted = ElectricityMapsProvider(
        token="t", base_url=closed_port_url(), clock=clock, cache_dir=tmp_path, timeout_s=1
    )
    res = restarted.history("DE", T0, T0 + H)
    assert res.stale and res.values == [250.0]
    assert res.error is not None and "cannot reach" in res.error


def test_em_stale_forecast_drops_hours_already_past(api: Api) -> None:
    api.routes[EM_FORECAST] = Route(
        {"zone": "DE", "forecast": [em_entry(T0 + h * H, 100 + h) for h in range(5)]}
    )
    clock = Clock(T0)
    p = em(api, clock, ttl_s=0)
    assert p.forecast("DE") is not None
    api.routes[EM_FORECAST] = Route(b"{", 200)
    clock.now = T0 + 2 * H + 5
    fc = p.forecast("DE")
    assert fc is not None and fc.stale and fc.values == [102.0, 103.0, 104.0]


def test_em_token_comes_from_the_environment(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MY_EM_TOKEN", raising=False)
    with pytest.raises(CarbonError, match="no Electricity Maps API token") as err:
        ElectricityMapsProvider(token_env="MY_EM_TOKEN", base_url=api.url)
    assert err.value.hint is not None and "MY_EM_TOKEN" in err.value.hint
    monkeypatch.setenv("MY_EM_TOKEN", "from-env")
    api.routes[EM_HISTORY] = Route({"zone": "FR", "history": []})
    p = ElectricityMapsProvider(token_env="MY_EM_TOKEN", base_url=api.url, clock=Clock(T0))
    p.history("FR", T0 - H, T0)
    assert api.requests[-1][2].get("auth-token") == "from-env"


def test_em_configured_zones_refuse_others(api: Api) -> None:
    p = em(api, Clock(T0), zones=["DE", "FR"])
    with pytest.raises(CarbonError, match="'PL'"):
        p.history("PL", T0 - H, T0)
    assert api.requests == []


# -- GB Carbon Intensity ----------------------------------------------------------------------


def gb_period(t: float, forecast: int, actual: int | None = None) -> dict[str, Any]:
    f = datetime.fromtimestamp(t, tz=UTC).strftime("%Y-%m-%dT%H:%MZ")
    to = datetime.fromtimestamp(t + 1800, tz=UTC).strftime("%Y-%m-%dT%H:%MZ")
    return {
        "from": f,
        "to": to,
        "intensity": {"forecast": forecast, "actual": actual, "index": "moderate"},
    }


GEN_MIX = [{"fuel": "gas", "perc": 40.5}, {"fuel": "wind", "perc": 59.5}]


def test_gb_national_forecast_averages_half_hours(api: Api) -> None:
    api.routes["/intensity/2023-01-01T00:00Z/fw48h"] = Route(
        {"data": [gb_period(T0 + i * 1800, 100 + 10 * i) for i in range(96)]}
    )
    fc = CarbonIntensityGBProvider(base_url=api.url, clock=Clock(T0 + 600)).forecast("GB")
    assert fc is not None and not fc.stale
    assert len(fc.points) == 48
    assert fc.points[0] == IntensityPoint(T0, 105.0)  # (100 + 110) / 2
    assert fc.points[1] == IntensityPoint(T0 + H, 125.0)


def test_gb_national_history_prefers_actual(api: Api) -> None:
    api.routes["/intensity/2023-01-01T00:00Z/2023-01-01T02:00Z"] = Route(
        {
            "data": [
                gb_period(T0, 200, 180),
                gb_period(T0 + 1800, 200, 220),
                gb_period(T0 + H, 150, None),  # no actual yet: the forecast
                gb_period(T0 + H + 1800, 170, None),
            ]
        }
    )
    res = CarbonIntensityGBProvider(base_url=api.url, clock=Clock(T0 + 3 * H)).history(
        "GB", T0, T0 + 2 * H
    )
    assert res.points == (IntensityPoint(T0, 200.0), IntensityPoint(T0 + H, 160.0))


@pytest.mark.parametrize("wrapped", [False, True])
def test_gb_regional_forecast(api: Api, wrapped: bool) -> None:
    region = {
        "regionid": 13,
        "dnoregion": "UKPN London",
        "shortname": "London",
        "data": [{**gb_period(T0 + i * 1800, 50 + i), "generationmix": GEN_MIX} for i in range(4)],
    }
    for entry in region["data"]:  # regional periods carry no 'actual'
        entry["intensity"].pop("actual")
    api.routes["/regional/intensity/2023-01-01T00:00Z/fw48h/regionid/13"] = Route(
        {"data": [region] if wrapped else region}
    )
    fc = CarbonIntensityGBProvider(base_url=api.url, clock=Clock(T0)).forecast("13")
    assert fc is not None and fc.values == [50.5, 52.5]


def test_gb_unknown_zone_and_failure(api: Api) -> None:
    p = CarbonIntensityGBProvider(base_url=api.url, clock=Clock(T0), ttl_s=0)
    with pytest.raises(CarbonError, match="unknown GB carbon-intensity zone 'DE'"):
        p.forecast("DE")
    with pytest.raises(CarbonError, match="region id"):
        p.history("18", T0 - H, T0)
    fc = p.forecast("GB")  # no route: HTTP 404
    assert fc is not None and fc.stale and fc.points == ()
    assert fc.error is not None and "404" in fc.error


def test_base_url_must_be_http() -> None:
    with pytest.raises(CarbonError, match="http"):
        CarbonIntensityGBProvider(base_url="file:///etc/passwd")


# -- CSV provider ------------------------------------------------------------------------------

EM_HEADER = (
    "Datetime (UTC),Country,Zone Name,Zone Id,Carbon Intensity gCO₂eq/kWh (direct),"
    "Carbon Intensity gCO₂eq/kWh (LCA)\n"
)


def write_csvs(d: Path) -> None:
    d.mkdir(parents=True, exist_ok=True)
    (d / "DE_2023_hourly.csv").write_text(
        EM_HEADER + "".join(f"2023-01-01 {h:02d}:00:00,G,G,DE,{100 + h},999\n" for h in range(6))
    )
    (d / "GB_2023_hourly.csv").write_text(
        EM_HEADER + "01/01/2023 00:00,B,B,GB,70,1\n01/01/2023 02:00,B,B,GB,50,1\n"
    )


def test_csv_provider_reads_a_directory_by_zone(tmp_path: Path) -> None:
    write_csvs(tmp_path)
    (tmp_path / "generic.csv").write_text("time,value\n2023-06-01T00:00:00Z,10\n")
    p = CsvProvider(directory=tmp_path)
    assert p.zones() == ["DE", "GB", "generic"]
    assert p.history("DE", T0 + 2 * H, T0 + 4 * H).values == [102.0, 103.0]
    assert p.history("GB", T0, T0 + 10 * H).values == [70.0, 70.0, 50.0]  # gap carried
    assert p.history("DE", T0 + 10 * H, T0 + 20 * H).points == ()
    assert p.forecast("DE") is None
    assert p.latest("DE", now=T0 + 4 * H + 10).points == (IntensityPoint(T0 + 4 * H, 104.0),)


def test_csv_provider_configuration_errors(tmp_path: Path) -> None:
    write_csvs(tmp_path)
    p = CsvProvider({"XX": tmp_path / "DE_2023_hourly.csv"})
    with pytest.raises(CarbonError, match="unknown carbon zone 'DE'") as err:
        p.history("DE", T0, T0 + H)
    assert err.value.hint == "known zones: XX"
    with pytest.raises(CarbonError, match="unknown carbon zone"):
        p.forecast("DE")
    with pytest.raises(CarbonError, match="no such file"):
        CsvProvider({"FR": tmp_path / "missing.csv"})
    with pytest.raises(CarbonError, match="does not exist"):
        CsvProvider(directory=tmp_path / "nope")
    with pytest.raises(CarbonError, match="is not a folder"):
        CsvProvider(directory=tmp_path / "DE_2023_hourly.csv")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CarbonError, match="has no series"):
        CsvProvider(directory=tmp_path / "empty")


def test_sim_keeps_its_names() -> None:
    from hyperion.sim.carbon import CarbonError as SimCarbonError
    from hyperion.sim.carbon import CarbonSeries, read_carbon_csv

    assert SimCarbonError is CarbonError
    assert callable(read_carbon_csv) and CarbonSeries([1.0]).at(0) == 1.0


def real_data_dir() -> Path:
    env = os.environ.get("HYPERION_CARBON_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2].parent / "shared" / "data" / "carbon"


@pytest.mark.skipif(not real_data_dir().exists(), reason="no real carbon data here")
def test_real_2023_files_read_as_full_hourly_years() -> None:
    p = CsvProvider(directory=real_data_dir())
    assert {"DE", "FR", "GB", "US-CAL-CISO"} <= set(p.zones())
    for zone in ("DE", "FR", "GB", "US-CAL-CISO"):
        s = p.series(zone)
        assert s.start == T0, zone
        assert len(s) == 8760, zone
        assert 0 < min(s.values) and max(s.values) < 1500, zone


# -- configuration ----------------------------------------------------------------------------


def test_config_builds_each_kind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_csvs(tmp_path / "data")
    monkeypatch.setenv("ELECTRICITYMAPS_TOKEN", "x")
    providers = load_providers(
        {
            "providers": {
                "replay": {"kind": "csv", "directory": "data"},
                "em": {"kind": "electricitymaps", "cache_dir": "cache", "zones": ["DE"]},
                "gb": {"kind": "carbonintensity-gb", "timeout_s": 3},
            }
        },
        base_dir=tmp_path,
    )
    assert isinstance(providers["replay"], CsvProvider)
    assert providers["replay"].zones() == ["DE", "GB"]
    em_p = providers["em"]
    assert isinstance(em_p, ElectricityMapsProvider) and em_p.token == "x"
    assert em_p.cache.directory == tmp_path / "cache"
    gb_p = providers["gb"]
    assert isinstance(gb_p, CarbonIntensityGBProvider) and gb_p.timeout_s == 3


def test_config_errors_name_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(CarbonError, match=r"carbon\.providers\.em\.electricitymaps\.tokn"):
        load_providers({"providers": {"em": {"kind": "electricitymaps", "tokn": "x"}}})
    with pytest.raises(CarbonError, match="providers.x"):
        load_providers({"providers": {"x": {"kind": "watttime"}}})
    monkeypatch.delenv("ELECTRICITYMAPS_TOKEN", raising=False)
    with pytest.raises(CarbonError, match="no Electricity Maps API token"):
        load_providers({"providers": {"em": {"kind": "electricitymaps"}}})


def test_hourly_series_in_the_config_replace_files() -> None:
    from hyperion.carbon.providers import HOURLY_ORIGIN, CsvProvider

    p = CsvProvider(hourly={"XX": [300, 100]}, loop=True)
    assert p.zones() == ["XX"]
    got = p.history("XX", HOURLY_ORIGIN, HOURLY_ORIGIN + 4 * 3600)
    assert [pt.value for pt in got.points] == [300.0, 100.0, 300.0, 100.0]
    with pytest.raises(CarbonError, match="no values"):
        CsvProvider(hourly={"XX": []})
