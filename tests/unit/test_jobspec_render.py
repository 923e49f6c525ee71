"""to_sbatch_argv(), to_directives() and the slurmrestd v0.0.38 job object."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hyperion.errors import JobSpecError
from hyperion.jobspec import (
    parse_cli_args,
    resolve,
    to_directives,
    to_rest_job,
    to_rest_submission,
    to_sbatch_argv,
)

SH = "#!/bin/sh\n"
ENV = {"PATH": "/usr/bin", "HOME": "/home/u"}


def test_argv_is_long_form_one_element_per_option() -> None:
    spec = resolve(["-J", "a b", "-N2", "-H", "--exclusive", "-pgpu"], {}, SH)
    assert to_sbatch_argv(spec) == [
        "--job-name=a b",
        "--nodes=2",
        "--hold",
        "--exclusive",
        "--partition=gpu",
    ]


def test_argv_excludes_hyperion_options_and_keeps_every_pass_through_option() -> None:
    argv = ["--parsable", "--test-only", "-W", "-v", "--comment=c", "--tmp=1G", "--reboot"]
    spec = resolve(argv, {"SBATCH_WCKEY": "k"}, SH + "#SBATCH --prefer=fast\n")
    assert sorted(to_sbatch_argv(spec)) == sorted(
        ["--prefer=fast", "--wckey=k", "--comment=c", "--tmp=1G", "--reboot"]
    )


def test_argv_parses_back_to_the_same_options() -> None:
    spec = resolve(["-t", "1:00:00", "--gres=gpu:2", "--signal=B:USR1@60", "x.sh"], {}, SH)
    again = parse_cli_args(to_sbatch_argv(spec))
    assert {p.option.name: p.value for p in again.options} == spec.values()
    assert again.script_path is None


def test_overrides_replace_in_place_and_add() -> None:
    spec = resolve(["-p", "a", "-J", "j", "--requeue"], {}, SH)
    argv = to_sbatch_argv(spec, {"partition": "b", "parsable": None, "no-requeue": None})
    assert argv == ["--partition=b", "--job-name=j", "--parsable", "--no-requeue"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"bogus": "1"}, "unknown"),
        ({"uid": "0"}, "not allowed"),
        ({"hold": "1"}, "takes no value"),
        ({"time": None}, "needs a value"),
        ({"time": "later"}, "expected a time"),
    ],
)
def test_bad_overrides(overrides: dict[str, str | None], message: str) -> None:
    with pytest.raises(JobSpecError, match=message):
        to_sbatch_argv(resolve([], {}, SH), overrides)


def test_directives_render_all_options() -> None:
    spec = resolve(["-J", "my job", "--hold"], {}, SH)
    assert to_directives(spec) == ['#SBATCH "--job-name=my job"', "#SBATCH --hold"]


def _rest(*argv: str, script: str = SH) -> dict[str, Any]:
    return to_rest_job(resolve(list(argv), {}, script), environment=ENV)


def test_rest_job_fields() -> None:
    job = _rest(
        "-J", "n", "-p", "gpu", "-A", "acc", "-q", "hi", "-N", "2-4", "-n", "8", "-c", "2",
        "--mem=4G", "-t", "1:00:01", "--time-min=30", "--comment=c", "-D", "/w", "-o", "o.%j",
        "-e", "e.%j", "-a", "0-3", "-d", "afterok:1", "--begin=now+1hour", "--requeue", "-H",
        "-C", "fast", "--exclusive", "--mail-type=END", "--mail-user=u@x", "--wckey=w",
        "--signal=B:USR1@60", "--gres=gpu:a100:1", "--open-mode=t", "--nice",
        "--kill-on-invalid-dep=yes", "--get-user-env", "--tmp=1G", "run.sh",
    )  # fmt: skip
    assert job == {
        "name": "n",
        "partition": "gpu",
        "account": "acc",
        "qos": "hi",
        "nodes": "2-4",
        "tasks": 8,
        "cpus_per_task": 2,
        "memory_per_node": 4096,
        "time_limit": 61,  # rounded up to minutes like sbatch
        "time_minimum": 30,
        "comment": "c",
        "current_working_directory": "/w",
        "standard_output": "o.%j",
        "standard_error": "e.%j",
        "array": "0-3",
        "dependency": "afterok:1",
        "begin_time": "now+1hour",
        "requeue": True,
        "hold": True,
        "constraints": "fast",
        "exclusive": "exclusive",
        "mail_type": "END",
        "mail_user": "u@x",
        "wckey": "w",
        "signal": "B:USR1@60",
        "gres": "gpu:a100:1",
        "open_mode": "truncate",
        "nice": None,
        "kill_on_invalid_dependency": True,
        "get_user_environment": None,
        "temporary_disk_per_node": 1024,
        "environment": ENV,
    }
    json.dumps(job)  # serialisable as is


@pytest.mark.parametrize(
    ("argv", "key", "value"),
    [
        (["--no-requeue"], "no_requeue", True),
        (["--exclusive=user"], "exclusive", "user"),
        (["--time=UNLIMITED"], "time_limit", 0),
        (["--mem-per-cpu=2G"], "memory_per_cpu", 2048),
        (["--mem-per-gpu=1T"], "memory_per_gpu", 1024 * 1024),
        (["--priority=TOP"], "priority", "TOP"),
        (["--priority=5"], "priority", 5),
        (["--nice=-3"], "nice", -3),
        (["--gpus-per-node=2"], "gpus_per_node", "2"),
        (["--ntasks-per-node=2"], "ntasks_per_node", 2),
        (["--wait-all-nodes=1"], "wait_all_nodes", 1),
        (["--use-min-nodes"], "minimum_nodes", True),
    ],
)
def test_rest_conversions(argv: list[str], key: str, value: object) -> None:
    assert _rest(*argv)[key] == value


@pytest.mark.parametrize(
    "option",
    ["--export=NONE", "--oversubscribe", "--propagate", "--switches=1", "--overcommit",
     "--export-file=f", "--contiguous", "--reboot", "--network=x", "--prefer=a"],
)  # fmt: skip
def test_options_rest_cannot_express_are_refused(option: str) -> None:
    with pytest.raises(JobSpecError, match="cannot be sent to slurmrestd") as err:
        _rest(option)
    assert option.split("=")[0] in str(err.value)


def test_rest_needs_an_environment() -> None:
    with pytest.raises(JobSpecError, match="environment"):
        to_rest_job(resolve([], {}, SH), environment={})
    with pytest.raises(JobSpecError, match="'A=B'"):
        to_rest_job(resolve([], {}, SH), environment={"A=B": "x"})


def test_rest_submission_carries_the_script() -> None:
    body = to_rest_submission(resolve(["-J", "x"], {}, SH), environment=ENV)
    assert body["script"] == SH
    assert "argv" not in body["job"]  # any argv crashes slurmrestd 22.05
    assert body["job"]["name"] == "x"
