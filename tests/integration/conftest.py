"""Fixtures for the integration tier: the real testbed (scripts/testbed up), never a fake."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hyperion.config import HyperionConfig, load_config
from hyperion.sites import SiteConnector, connect
from hyperion.types import JobState
from tests.postgres import PostgresServer, PostgresUnavailable, running_postgres

REPO = Path(__file__).resolve().parents[2]
TESTBED = REPO / "scripts" / "testbed"
CONFIG = REPO / "site-configs" / "testbed.toml"
#: connector variants the contract suite runs on: site -> (transport label, access overrides)
VARIANTS: dict[str, tuple[str, str, dict[str, object]]] = {
    "alpha-ssh": ("alpha", "ssh", {}),
    "alpha-ssh-per-channel": ("alpha", "ssh", {"remote_runner": False}),
    "beta-rest": ("beta", "rest", {}),
    "gamma-local": ("gamma", "local", {}),
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.testbed)


@pytest.fixture(scope="session")
def testbed() -> Path:
    """Bring the testbed up (idempotent; seconds when it is already running)."""
    if os.geteuid() != 0:
        pytest.fail("the integration tier must run as root: it starts Slurm daemons")
    proc = subprocess.run([str(TESTBED), "up"], capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        pytest.fail(f"scripts/testbed up failed:\n{proc.stdout}\n{proc.stderr}")
    return Path(os.environ.get("HYPERION_TESTBED_DIR") or REPO / ".testbed")


@pytest.fixture(scope="session")
def pg() -> Iterator[PostgresServer]:
    """One real PostgreSQL server for the whole session (tests/postgres.py)."""
    try:
        with running_postgres() as server:
            yield server
    except PostgresUnavailable as e:
        pytest.fail(f"cannot start PostgreSQL: {e}", pytrace=False)


@pytest.fixture(scope="session")
def config(testbed: Path) -> HyperionConfig:
    return load_config(CONFIG)


@pytest.fixture(params=sorted(VARIANTS))
def variant(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def site(variant: str) -> str:
    return VARIANTS[variant][0]


@pytest.fixture
def conn(config: HyperionConfig, variant: str, testbed: Path) -> Iterator[SiteConnector]:
    site, _, overrides = VARIANTS[variant]
    cfg = config.site(site)
    if overrides:
        cfg = cfg.model_copy(update={"access": cfg.access.model_copy(update=overrides)})
    c = connect(cfg)
    c.workdir = testbed / "share" / site  # type: ignore[attr-defined]
    submitted: list[str] = []
    c.submitted = submitted  # type: ignore[attr-defined]
    yield c
    try:
        c.cancel(submitted)
    finally:
        c.close()


def wait_state(
    conn: SiteConnector, job_id: str, pred: Callable[[JobState], bool], timeout: float = 90
) -> JobState:
    """Poll until ``pred(state)`` holds; fail with the last state seen."""
    deadline = time.monotonic() + timeout
    state = JobState.UNKNOWN
    while time.monotonic() < deadline:
        status = conn.jobs([job_id]).get(job_id)
        state = status.state if status else JobState.UNKNOWN
        if pred(state):
            return state
        time.sleep(1)
    pytest.fail(f"job {job_id} on {conn.site}: still {state} after {timeout:.0f}s")
