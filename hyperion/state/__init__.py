"""The daemon's database: tables, engine and sessions, migrations, and typed queries.

Typical use::

    engine = open_database(url)          # ConfigError when it cannot be used
    with session(engine) as s:           # commits at the end, rolls back on error
        job = repo.create_job(s, owner="alice", owner_uid=1000, spec={...})
"""

from __future__ import annotations

from hyperion.state import ledger, repo
from hyperion.state.db import DEFAULT_URL, display_url, make_engine, open_database, session
from hyperion.state.ids import (
    KEY_COMMENT_PREFIX,
    attempt_key,
    comment_with_key,
    key_from_comment,
    new_job_id,
    parse_attempt_key,
    parse_job_id,
    split_comment,
)
from hyperion.state.migrations import current_version, migrate
from hyperion.state.models import (
    FINAL_ATTEMPT_STATES,
    LIVE_ATTEMPT_STATES,
    Attempt,
    AttemptState,
    HyperionJobState,
    Job,
    SiteStatus,
)

__all__ = [
    "DEFAULT_URL",
    "FINAL_ATTEMPT_STATES",
    "KEY_COMMENT_PREFIX",
    "LIVE_ATTEMPT_STATES",
    "Attempt",
    "AttemptState",
    "HyperionJobState",
    "Job",
    "SiteStatus",
    "attempt_key",
    "comment_with_key",
    "current_version",
    "display_url",
    "key_from_comment",
    "ledger",
    "make_engine",
    "migrate",
    "new_job_id",
    "open_database",
    "parse_attempt_key",
    "parse_job_id",
    "repo",
    "session",
    "split_comment",
]
