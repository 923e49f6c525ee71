"""How hyperiond resolves a submission and translates it for one site (no daemon needed)."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from hyperion.config import load_config
from hyperion.daemon.identity import Caller
from hyperion.daemon.jobs import (
    JobInput,
    build_submission,
    job_environment,
    parse_job_input,
    with_script_args,
)
from hyperion.errors import JobSpecError
from hyperion.state.ids import key_from_comment, split_comment

CONFIG = Path(__file__).resolve().parents[2] / "site-configs" / "testbed.toml"
ALICE = Caller(uid=1001, user="alice", admin=False)
SCRIPT = "#!/bin/bash\n#SBATCH --job-name=fromscript\n#SBATCH --time=10\n\necho hi\n"


def _input(**body: object) -> JobInput:
    base: dict[str, object] = {"argv": [], "script": SCRIPT, "env": {"PATH": "/bin"}, "cwd": "/w"}
    return parse_job_input({**base, **body}, ALICE)


def test_precedence_is_applied_once_in_the_daemon() -> None:
    job = _input(argv=["-J", "fromcli"], env={"SBATCH_TIMELIMIT": "20", "PATH": "/bin"})
    assert job.spec.get("job-name") == "fromcli"  # command line beats the script
    assert job.request.time_limit_s == 20 * 60  # environment beats the script
    assert job.request.user == "alice"


def test_bad_requests_are_clear_errors() -> None:
    with pytest.raises(JobSpecError, match="unknown field"):
        _input(nonsense=1)
    with pytest.raises(JobSpecError, match="absolute"):
        _input(cwd="relative/dir")
    with pytest.raises(JobSpecError, match="list of strings"):
        _input(argv="--time=5")
    with pytest.raises(JobSpecError):
        _input(argv=["--partiton=x"])


def test_submission_for_a_site_carries_partition_key_and_user_comment() -> None:
    config = load_config(CONFIG, env={"HYPERION_TESTBED_DIR": "/tb"})
    job = _input(argv=["--comment=mine; $(x)"])
    sub = build_submission(job, config.site("beta"), "gpu", key="habc123.2")
    opts = dict(sub.options)
    assert opts["partition"] == "gpu"
    assert key_from_comment(opts["comment"]) == "habc123.2"
    assert split_comment(opts["comment"])[1] == "mine; $(x)"
    assert sub.user == "alice" and sub.cwd == "/w"
    assert opts["job-name"] == "fromscript"
    estimate = build_submission(job, config.site("beta"), "gpu", key=None)
    assert dict(estimate.options)["comment"] == "mine; $(x)"


def test_job_environment_drops_sbatch_input_variables() -> None:
    env = job_environment({"PATH": "/x", "SBATCH_PARTITION": "p", "SLURM_CONF": "/c", "HOME": "/h"})
    assert env == {"PATH": "/x", "HOME": "/h"}
    assert job_environment({"SBATCH_QOS": "q"})["PATH"]


def test_script_arguments_become_set_before_the_first_command() -> None:
    out = with_script_args(SCRIPT, ("a b", "$(touch x)", "it's"))
    lines = out.splitlines()
    set_line = next(i for i, line in enumerate(lines) if line.startswith("set -- "))
    assert set_line == lines.index("echo hi") - 1
    assert shlex.split(lines[set_line].split("#")[0])[2:] == ["a b", "$(touch x)", "it's"]
    assert lines[:3] == SCRIPT.splitlines()[:3]  # directives untouched, still first
    with pytest.raises(JobSpecError, match="sh-family"):
        with_script_args("#!/usr/bin/python3\nprint(1)\n", ("x",))
    assert with_script_args(SCRIPT, ()) == SCRIPT


def _round_trip(job: JobInput) -> JobInput:
    row = job.to_row()

    class Row:
        spec = row["spec"]
        pinned_site = row["pinned_site"]
        policy = row["policy"]
        owner = row["owner"]
        owner_uid = row["owner_uid"]

    return JobInput.from_row(Row)


def test_a_wrap_job_round_trips_through_its_row() -> None:
    # its stored script is the one --wrap made: it must not count as a second script
    job = _input(argv=["-n", "2", "--wrap", "sleep 4"], script=None)
    again = _round_trip(job)
    assert again.script == job.script and "sleep 4" in again.script
    assert again.request == job.request


def test_stored_job_round_trips_through_its_row() -> None:
    job = _input(argv=["-n", "2"], site="alpha", policy="least-loaded", script_args=["x"])
    again = _round_trip(job)
    assert again.request == job.request and again.site == "alpha"
    assert again.script_args == ("x",) and again.policy == "least-loaded"
