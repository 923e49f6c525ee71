"""Slurm commands as argv lists: hostile values stay single, untouched words (nothing is run)."""

from __future__ import annotations

import shlex

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hyperion.config.schema import LocalAccess
from hyperion.errors import SlurmCommandError
from hyperion.sites.base import Submission
from hyperion.sites.local import LocalConnector

HOSTILE = [
    "; rm -rf /",
    "$(touch x)",
    "`touch y`",
    "it's \"quoted\"",
    "two  spaces\tand tab",
    "line1\nline2",
    "${HOME}",
    "a|b&c>d<e",
    "*",
    "",
    "-n",
    "K=V",
]


def local_access(**fields: str) -> LocalAccess:
    return LocalAccess.model_validate({"kind": "local", **fields})


@pytest.fixture
def conn(monkeypatch: pytest.MonkeyPatch) -> LocalConnector:
    monkeypatch.setattr("hyperion.sites.local.getpass.getuser", lambda: "hyperiond")
    access = local_access(slurm_conf="/x/slurm.conf", submit_as="runuser")
    return LocalConnector("gamma", access)


def test_argv_for_another_user(conn: LocalConnector) -> None:
    env = {f"V{i}": value for i, value in enumerate(HOSTILE)}
    args = [f"--comment={v}" for v in HOSTILE] + HOSTILE
    argv = conn._argv("sbatch", args, user="alice", env=env)
    assert argv == [
        "runuser", "-u", "alice", "--",
        "/usr/bin/env", "-i", "--",
        *(f"V{i}={value}" for i, value in enumerate(HOSTILE)),
        "PATH=/usr/local/bin:/usr/bin:/bin",
        "SLURM_CONF=/x/slurm.conf",
        "TZ=UTC",
        "/usr/bin/sbatch",
        *args,
    ]
    # every hostile value is one element, byte for byte
    for value in HOSTILE:
        assert f"--comment={value}" in argv
        assert value in argv


def test_argv_keeps_the_jobs_path_and_forces_slurm_conf(conn: LocalConnector) -> None:
    argv = conn._argv("squeue", ["--json"], env={"PATH": "/opt/bin", "SLURM_CONF": "/evil"},
                      utc=False)
    assert argv == ["/usr/bin/env", "-i", "--", "PATH=/opt/bin", "SLURM_CONF=/x/slurm.conf",
                    "/usr/bin/squeue", "--json"]


def test_argv_as_the_login_user_has_no_user_switch(conn: LocalConnector) -> None:
    argv = conn._argv("scancel", ["12"], user="hyperiond")
    assert argv[:3] == ["/usr/bin/env", "-i", "--"]
    assert argv[-2:] == ["/usr/bin/scancel", "12"]
    assert conn._argv("scancel", ["12"], user=None) == argv


def test_bin_dir_and_sudo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("hyperion.sites.local.getpass.getuser", lambda: "hyperiond")
    access = local_access(bin_dir="/opt/slurm/bin/", submit_as="sudo")
    argv = LocalConnector("s", access)._argv("sbatch", ["--parsable"], user="bob", env={})
    assert argv == ["sudo", "-n", "-u", "bob", "--", "/usr/bin/env", "-i", "--",
                    "PATH=/usr/local/bin:/usr/bin:/bin", "TZ=UTC",
                    "/opt/slurm/bin/sbatch", "--parsable"]


def test_submit_as_none_refuses_another_user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("hyperion.sites.local.getpass.getuser", lambda: "hyperiond")
    access = local_access(submit_as="none")
    conn = LocalConnector("gamma", access)
    with pytest.raises(SlurmCommandError) as info:
        conn._argv("sbatch", [], user="alice")
    assert "'alice'" in str(info.value)
    assert info.value.site == "gamma"
    assert info.value.hint is not None and "submit_as" in info.value.hint
    # acting as oneself needs no switch
    assert conn._argv("sbatch", [], user="hyperiond")[0] == "/usr/bin/env"


def test_a_users_environment_cannot_choose_the_program_or_inject_options(
    conn: LocalConnector,
) -> None:
    env = {
        "PATH": "/home/alice/bin",  # kept for the job, but sbatch is run by absolute path
        "--split-string": "/bin/sh -c evil",  # would be an option of env
        "-u": "x",
        "A=B": "c",
        "LD_PRELOAD": "/home/alice/fake.so",
        "LD_LIBRARY_PATH": "/home/alice/lib",
        "OK_NAME": "fine",
    }
    argv = conn._argv("sbatch", ["--parsable"], user="alice", env=env)
    tail = argv[argv.index("--", 4) + 1 :]
    assert tail == ["PATH=/home/alice/bin", "OK_NAME=fine", "SLURM_CONF=/x/slurm.conf",
                    "TZ=UTC", "/usr/bin/sbatch", "--parsable"]


def test_submit_args(conn: LocalConnector) -> None:
    sub = Submission(
        script="#!/bin/sh\n", user="alice", cwd="/home/alice/my dir",
        options=(("job-name", "x; $(touch y)"), ("requeue", None), ("comment", "a\tb"),
                 ("partition", "gpu"), ("exclusive", None), ("export", "")),
    )
    assert conn._submit_args(sub) == [
        "--chdir=/home/alice/my dir",
        "--job-name=x; $(touch y)",
        "--requeue",
        "--comment=a\tb",
        "--partition=gpu",
        "--exclusive",
        "--export=",
    ]


def test_ssh_command_line_round_trips_hostile_values(conn: LocalConnector) -> None:
    argv = conn._argv("sbatch", [f"--comment={v}" for v in HOSTILE], user="alice",
                      env={"X": "$(touch x)"})
    line = shlex.join(argv)
    assert shlex.split(line) == argv
    # no shell metacharacter is left outside quotes
    assert "'--comment=$(touch x)'" in line
    assert "'--comment=; rm -rf /'" in line
    assert "'X=$(touch x)'" in line


@settings(max_examples=300, deadline=None)
@given(
    values=st.lists(st.text(), min_size=1, max_size=6),
    env=st.dictionaries(st.from_regex(r"[A-Z_][A-Z0-9_]{0,8}", fullmatch=True), st.text(),
                        max_size=4),
)
def test_shlex_round_trip_property(values: list[str], env: dict[str, str]) -> None:
    access = local_access(slurm_conf="/x/slurm.conf", submit_as="runuser")
    conn = LocalConnector("gamma", access)
    argv = conn._argv("sbatch", values, user="someone-else", env=env)
    assert argv[-len(values):] == values
    # what the SSH transport sends: one quoted command line that the remote shell splits back
    assert shlex.split(shlex.join(argv)) == argv
