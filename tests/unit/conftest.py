"""Fixtures shared by the quick tier."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hyperion.config import load_config
from hyperion.daemon.federation import Federation
from hyperion.state.db import open_database
from tests.unit.memory_site import CONFIG, MemorySite


@pytest.fixture
def fed(tmp_path: Path) -> Iterator[Federation]:
    config = load_config(CONFIG, env={"HYPERION_TESTBED_DIR": str(tmp_path)})
    engine = open_database(f"sqlite:///{tmp_path / 'h.db'}")
    sites = {name: MemorySite(name) for name in config.sites}
    f = Federation(config, engine, lambda *a, **k: None, connectors=sites)  # type: ignore[arg-type]
    yield f
    f.close()
    engine.dispose()
