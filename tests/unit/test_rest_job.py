"""rest_job(Submission) end to end: sbatch options -> the slurmrestd v0.0.38 job object.

rest_job resolves the submission like sbatch (``#SBATCH`` lines < options) through
``hyperion.jobspec`` and renders the one option table (``sbatch_options.toml``). The expected
forms are what slurmrestd 22.05 parses and what slurmctld then records; each field claimed
here is checked against the real slurmrestd in ``tests/integration/test_rest_fields.py``.
The HS256 tokens slurmrestd accepts (mint_jwt) are tested at the end.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest

from hyperion.errors import JobSpecError
from hyperion.jobspec import resolve, to_rest_job
from hyperion.sites.base import DEFAULT_JOB_ENV, Submission
from hyperion.sites.rest import mint_jwt
from hyperion.sites.rest_job import rest_job

SH = "#!/bin/sh\ntrue\n"
BASE = {"current_working_directory": "/tmp", "environment": dict(DEFAULT_JOB_ENV)}


def job(*options: tuple[str, str | None], script: str = SH, **kw: Any) -> dict[str, Any]:
    return rest_job(Submission(script=script, user="alice", options=options, **kw))


def fields(*options: tuple[str, str | None], script: str = SH) -> dict[str, Any]:
    """The job object without the cwd and environment every job carries."""
    out = job(*options, script=script)
    return {k: v for k, v in out.items() if k not in BASE}


def test_environment_and_cwd_are_carried() -> None:
    env = {"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "4", "WEIRD": "a b;$(x)\n`y`"}
    out = job(cwd="/home/alice/run", environment=env)
    assert out == {"current_working_directory": "/home/alice/run", "environment": env}
    assert out["environment"] is not env  # a copy: the submission stays immutable
    json.dumps(out)


def test_default_environment_and_cwd() -> None:
    assert job() == BASE


def test_chdir_option_overrides_cwd() -> None:
    assert job(("chdir", "/scratch"), cwd="/home")["current_working_directory"] == "/scratch"


def test_no_argv_is_ever_sent() -> None:
    # slurmrestd 22.05.8 dies with SIGSEGV on any non-empty "argv" (sometimes after queueing
    # the job, so the submitter sees no answer): the key must never be sent
    out = job(("job-name", "x"), ("hold", None), ("array", "0-2"))
    assert "argv" not in out


def test_script_arguments_are_refused_over_rest() -> None:
    # Submission has no script arguments; a JobSpec from `hsub job.sh a b` has
    spec = resolve(["job.sh", "a", "b"], {}, SH)
    with pytest.raises(JobSpecError, match="script arguments") as info:
        to_rest_job(spec, environment={"PATH": "/bin"})
    assert info.value.hint is not None
    assert "argv" not in to_rest_job(resolve(["job.sh"], {}, SH), environment={"PATH": "/bin"})


# ---- #SBATCH lines: slurmrestd ignores them, so rest_job must apply them ------------------


def test_directives_in_the_script_become_fields() -> None:
    script = (
        "#!/bin/sh\n#SBATCH --job-name=fromscript\n#SBATCH -t 10\n#SBATCH --no-requeue\n"
        "echo hi\n#SBATCH --comment=after-the-first-command\n"
    )
    assert fields(script=script) == {"name": "fromscript", "time_limit": 10, "no_requeue": True}


def test_options_override_directives() -> None:
    script = "#!/bin/sh\n#SBATCH --job-name=fromscript\n#SBATCH --no-requeue\ntrue\n"
    out = fields(("job-name", "fromoption"), ("requeue", None), script=script)
    assert out == {"name": "fromoption", "requeue": True}


# ---- time -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "minutes"),
    [("1:30:00", 90), ("90", 90), ("1-00:00:00", 1440), ("0:30", 1), ("10:01", 11),
     ("2-12", 3600)],
)  # fmt: skip
def test_time_in_minutes_rounded_up(value: str, minutes: int) -> None:
    assert job(("time", value))["time_limit"] == minutes


def test_time_min() -> None:
    assert job(("time-min", "0:45:00"))["time_minimum"] == 45


@pytest.mark.parametrize("value", ["UNLIMITED", "infinite", "0"])
def test_unlimited_time_is_zero_minutes(value: str) -> None:
    # time_limit 0 -> slurmctld records TimeLimit=UNLIMITED, as for sbatch --time=UNLIMITED or
    # --time=0 (on a partition with a MaxTime the job then waits, as it does with sbatch)
    assert job(("time", value))["time_limit"] == 0


# ---- memory, nodes, tasks -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "value", "mib"),
    [("mem", "2G", 2048), ("mem", "2GB", 2048), ("mem", "2g", 2048), ("mem", "500M", 500),
     ("mem", "4000", 4000), ("mem", "1T", 1048576), ("mem", "2048K", 2),
     ("mem", "100K", 1),  # rounded up like sbatch (MinMemoryNode=1M): 0 would mean all memory
     ("mem-per-cpu", "1G", 1024), ("mem-per-gpu", "3G", 3072)],
)  # fmt: skip
def test_memory_in_mib(option: str, value: str, mib: int) -> None:
    key = {"mem": "memory_per_node", "mem-per-cpu": "memory_per_cpu",
           "mem-per-gpu": "memory_per_gpu"}[option]  # fmt: skip
    assert fields((option, value)) == {key: mib}


def test_memory_options_cannot_be_combined() -> None:
    with pytest.raises(JobSpecError, match="cannot be combined"):
        job(("mem", "1G"), ("mem-per-cpu", "1G"))


@pytest.mark.parametrize(("value", "sent"), [("2-4", "2-4"), ("3", "3"), ("2-3", "2-3")])
def test_nodes_as_min_max_string(value: str, sent: str) -> None:
    # the string form; the [min, max] list is accepted by slurmrestd and ignored (NumNodes=1)
    assert fields(("nodes", value)) == {"nodes": sent}


@pytest.mark.parametrize("value", ["two", "2-", "-4", "2-4-6", "", " 1 ", "4-2"])
def test_bad_nodes(value: str) -> None:
    with pytest.raises(JobSpecError, match="--nodes"):
        job(("nodes", value))


def test_tasks_and_cpus() -> None:
    out = fields(("ntasks", "2"), ("cpus-per-task", "1"), ("ntasks-per-node", "2"))
    assert out == {"tasks": 2, "cpus_per_task": 1, "ntasks_per_node": 2}


# ---- flags whose JSON value slurmrestd ignores ----------------------------------------------


def test_requeue_and_no_requeue() -> None:
    # slurmrestd sets requeue for "requeue" and clears it for "no_requeue" whatever the JSON
    # value ("requeue": false still gives Requeue=1): only the last of the two is sent
    assert fields(("requeue", None)) == {"requeue": True}
    assert fields(("no-requeue", None)) == {"no_requeue": True}
    assert fields(("requeue", None), ("no-requeue", None)) == {"no_requeue": True}
    assert fields(("no-requeue", None), ("requeue", None)) == {"requeue": True}


@pytest.mark.parametrize(("value", "sent"), [(None, "exclusive"), ("user", "user"), ("mcs", "mcs")])
def test_exclusive_is_a_string(value: str | None, sent: str) -> None:
    # "exclusive": true is refused by slurmrestd ("Invalid exclusive specification")
    assert fields(("exclusive", value)) == {"exclusive": sent}


def test_exclusive_and_oversubscribe_share_a_slot() -> None:
    assert fields(("oversubscribe", None), ("exclusive", None)) == {"exclusive": "exclusive"}
    with pytest.raises(JobSpecError, match="--oversubscribe"):
        job(("exclusive", None), ("oversubscribe", None))  # v0.0.38 has no field for it


# ---- begin / deadline -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["now+1hour", "now+90", "now+2days", "2026-01-31T12:00:00", "2026-01-31", "16:00",
     "tomorrow", "uts1790000000"],
)  # fmt: skip
def test_begin_and_deadline_pass_unchanged(value: str) -> None:
    # slurmrestd reads them with Slurm's parse_time() on the cluster, exactly as sbatch does
    # there: relative values count from the submission, absolute ones are in the cluster's
    # local time zone. Converting in Hyperion would change their meaning on non-UTC clusters.
    assert fields(("begin", value)) == {"begin_time": value}
    assert fields(("deadline", value)) == {"deadline": value}


# ---- options Hyperion consumes itself -------------------------------------------------------


@pytest.mark.parametrize(
    "option",
    [("test-only", None), ("wait", None), ("parsable", None), ("quiet", None),
     ("verbose", None), ("clusters", "beta")],
)  # fmt: skip
def test_hyperion_options_never_reach_slurmrestd(option: tuple[str, str | None]) -> None:
    # as in to_sbatch_argv(): --test-only / --wait are for the caller to act on (estimate_start,
    # waiting for the end); the job object is the one without them
    assert job(option, ("job-name", "x")) == job(("job-name", "x"))


@pytest.mark.parametrize("name", ["test-only", "wait"])
def test_hyperion_flags_still_take_no_value(name: str) -> None:
    with pytest.raises(JobSpecError, match=f"--{name} takes no value"):
        job((name, "1"))


# ---- the whole table ------------------------------------------------------------------------


def test_table_fields() -> None:
    out = fields(
        ("job-name", "train"),
        ("partition", "gpu"),
        ("account", "proj"),
        ("qos", "normal"),
        ("ntasks", "4"),
        ("ntasks-per-node", "2"),
        ("cpus-per-task", "3"),
        ("gres", "gpu:a100:2"),
        ("output", "out-%j.log"),
        ("error", "err-%j.log"),
        ("array", "1-10%2"),
        ("dependency", "afterok:12"),
        ("constraint", "a100"),
        ("comment", "hyperion:key=abc"),
        ("hold", None),
        ("nice", "10"),
        ("exclude", "b2"),
        ("nodelist", "b[1-2]"),
        ("signal", "B:USR2@60"),
        ("begin", "now+1hour"),
        ("time", "1:30:00"),
        ("mem", "1G"),
        ("nodes", "2-3"),
    )
    assert out == {
        "name": "train", "partition": "gpu", "account": "proj", "qos": "normal",
        "tasks": 4, "ntasks_per_node": 2, "cpus_per_task": 3, "gres": "gpu:a100:2",
        "standard_output": "out-%j.log", "standard_error": "err-%j.log", "array": "1-10%2",
        "dependency": "afterok:12", "constraints": "a100", "comment": "hyperion:key=abc",
        "hold": True, "nice": 10,
        # excluded_nodes / required_nodes are disabled keys in slurmrestd's v0.0.38 parser
        "exclude_nodes": "b2", "nodelist": "b[1-2]", "signal": "B:USR2@60",
        "begin_time": "now+1hour", "time_limit": 90, "memory_per_node": 1024, "nodes": "2-3",
    }  # fmt: skip
    json.dumps(out)


def test_gpus_keep_their_slurm_meaning() -> None:
    # --gpus is per job (TresPerJob), --gpus-per-node and --gres per node (TresPerNode)
    out = fields(("nodes", "2"), ("gres", "license:1"), ("gpus", "a100:3"),
                 ("gpus-per-node", "1"))  # fmt: skip
    assert out == {"nodes": "2", "gres": "license:1", "gpus": "a100:3", "gpus_per_node": "1"}


def test_text_fields_are_sent_verbatim() -> None:
    name, comment = "two words \"double\" 'single'", "a;b $(c) `d` \\e"
    assert fields(("job-name", name), ("comment", comment)) == {"name": name, "comment": comment}


# ---- refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [("export", "ALL", "cannot be sent to slurmrestd"),
     ("export-file", "/etc/env", "cannot be sent to slurmrestd"),
     ("propagate", None, "cannot be sent to slurmrestd"),
     ("no-such-option", "x", "unknown sbatch option"),
     ("uid", "0", "not allowed through Hyperion")],
)  # fmt: skip
def test_unsupported_option_is_refused_by_name(name: str, value: str | None, message: str) -> None:
    with pytest.raises(JobSpecError, match=message) as info:
        job(("partition", "gpu"), (name, value))
    assert f"--{name}" in str(info.value)
    assert info.value.hint is not None


@pytest.mark.parametrize(
    ("option", "value"),
    [("ntasks", "four"), ("cpus-per-task", "1.5"), ("nice", "x"), ("mem", "lots"),
     ("mem", "1.5G"), ("time", "soon"), ("array", "1-x"), ("exclusive", "yes")],
)  # fmt: skip
def test_bad_values_are_job_spec_errors(option: str, value: str) -> None:
    with pytest.raises(JobSpecError, match=f"invalid value '{value}' for --{option} "):
        job((option, value))


@pytest.mark.parametrize("option", ["job-name", "comment", "output", "error", "dependency"])
@pytest.mark.parametrize("bad", ["a\nb", "a\rb", "a\0b", "a\x1bb"])
def test_control_characters_in_values_are_refused(option: str, bad: str) -> None:
    # Submission refuses newline/CR/NUL itself; jobspec refuses every control character
    with pytest.raises(JobSpecError, match=f"--{option}\\b"):
        job((option, bad))


# --------------------------------------------------------------------------------------------
# mint_jwt
# --------------------------------------------------------------------------------------------


def _unb64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def test_mint_jwt_structure_and_claims() -> None:
    token = mint_jwt(b"secret-key", "alice", 600, now=1_790_000_000.7)
    parts = token.split(".")
    assert len(parts) == 3
    for part in parts:
        assert part and "=" not in part and "+" not in part and "/" not in part
    header = json.loads(_unb64(parts[0]))
    claims = json.loads(_unb64(parts[1]))
    assert header == {"alg": "HS256", "typ": "JWT"}
    assert claims == {"sun": "alice", "iat": 1_790_000_000, "exp": 1_790_000_600}


def test_mint_jwt_signature_verifies_with_the_key_only() -> None:
    key = bytes(range(32))
    token = mint_jwt(key, "bob", 3600, now=1_800_000_000)
    header, payload, signature = token.split(".")
    signed = f"{header}.{payload}".encode()
    expected = hmac.new(key, signed, hashlib.sha256).digest()
    assert hmac.compare_digest(_unb64(signature), expected)
    other = hmac.new(b"another key", signed, hashlib.sha256).digest()
    assert not hmac.compare_digest(_unb64(signature), other)


def test_mint_jwt_differs_per_user_and_time() -> None:
    a = mint_jwt(b"k", "alice", 60, now=100)
    assert a == mint_jwt(b"k", "alice", 60, now=100)
    assert a != mint_jwt(b"k", "bob", 60, now=100)
    assert a != mint_jwt(b"k", "alice", 60, now=101)
    assert a.split(".")[2] != mint_jwt(b"k2", "alice", 60, now=100).split(".")[2]
