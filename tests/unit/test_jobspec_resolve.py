"""resolve(): sbatch's precedence (command line > SBATCH_* environment > #SBATCH) and checks."""

from __future__ import annotations

import dataclasses

import pytest

from hyperion.errors import JobSpecError
from hyperion.jobspec import JobSpec, OptionValue, resolve

SH = "#!/bin/sh\n"


def _script(*lines: str) -> str:
    return SH + "".join(f"{line}\n" for line in lines) + "srun hostname\n"


def test_command_line_beats_env_beats_script() -> None:
    script = _script("#SBATCH -p from-script")
    env = {"SBATCH_PARTITION": "from-env"}
    assert resolve([], {}, script).options["partition"] == OptionValue(
        "partition", "from-script", "script", "script line 2"
    )
    spec = resolve([], env, script)
    assert spec.options["partition"] == OptionValue(
        "partition", "from-env", "env", "environment variable SBATCH_PARTITION"
    )
    spec = resolve(["--partition", "from-cli"], env, script)
    assert spec.options["partition"] == OptionValue(
        "partition", "from-cli", "cli", "the command line"
    )


@pytest.mark.parametrize(
    ("script", "env", "argv", "expected"),
    [
        (["#SBATCH -t 10"], {}, [], "10"),
        (["#SBATCH -t 10"], {"SBATCH_TIMELIMIT": "20"}, [], "20"),
        ([], {"SBATCH_TIMELIMIT": "20"}, ["-t", "30"], "30"),
        (["#SBATCH -t 10", "#SBATCH -t 11"], {}, [], "11"),
        ([], {}, ["-t", "1", "--time=2"], "2"),
    ],
)
def test_later_setting_wins(
    script: list[str], env: dict[str, str], argv: list[str], expected: str
) -> None:
    assert resolve(argv, env, _script(*script)).get("time") == expected


def test_options_from_different_sources_are_merged_in_precedence_order() -> None:
    spec = resolve(["-N", "2"], {"SBATCH_QOS": "high"}, _script("#SBATCH -J name"))
    assert list(spec.options) == ["job-name", "qos", "nodes"]
    assert [ov.source for ov in spec.options.values()] == ["script", "env", "cli"]


def test_requeue_and_no_requeue_replace_each_other() -> None:
    spec = resolve(["--no-requeue"], {}, _script("#SBATCH --requeue"))
    assert spec.has("no-requeue") and not spec.has("requeue")
    spec = resolve([], {"SBATCH_REQUEUE": "1"}, _script("#SBATCH --no-requeue"))
    assert spec.has("requeue") and not spec.has("no-requeue")


def test_exclusive_and_oversubscribe_share_one_setting() -> None:
    spec = resolve(["-s"], {}, _script("#SBATCH --exclusive=user"))
    assert spec.values() == {"oversubscribe": None}


@pytest.mark.parametrize(
    ("value", "is_set"),
    [("", True), ("yes", True), ("1", True), ("7", True), ("0", False), ("no", False)],
)
def test_flag_variables_follow_sbatch_rules(value: str, is_set: bool) -> None:
    spec = resolve([], {"SBATCH_REQUEUE": value}, _script("#SBATCH --requeue"))
    assert spec.has("requeue") is is_set


def test_optional_argument_from_env() -> None:
    assert resolve([], {"SBATCH_EXCLUSIVE": ""}, SH).values() == {"exclusive": None}
    assert resolve([], {"SBATCH_EXCLUSIVE": "mcs"}, SH).values() == {"exclusive": "mcs"}


def test_slurm_variable_read_after_sbatch_variable() -> None:
    env = {"SLURM_HINT": "memory_bound", "SBATCH_HINT": "compute_bound"}
    assert resolve([], env, SH).get("hint") == "memory_bound"


def test_only_input_variables_are_read() -> None:
    spec = resolve([], {"PATH": "/bin", "SLURM_JOB_ID": "5", "HOME": "/h"}, SH)
    assert spec.values() == {} and spec.warnings == ()


def test_unread_sbatch_variable_is_a_warning_with_suggestions() -> None:
    spec = resolve([], {"SBATCH_CPUS_PER_TASK": "4"}, SH)
    assert spec.values() == {}
    assert len(spec.warnings) == 1
    assert "SBATCH_CPUS_PER_TASK" in spec.warnings[0] and "does not read it" in spec.warnings[0]
    assert "SBATCH_CPUS_PER_GPU" in spec.warnings[0]


def test_known_but_unsupported_variable_is_a_warning() -> None:
    spec = resolve([], {"SBATCH_WAIT4SWITCH": "10"}, SH)
    assert "--switches" in spec.warnings[0]


def test_bad_env_value_names_the_variable() -> None:
    with pytest.raises(JobSpecError, match="environment variable SBATCH_TIMELIMIT") as err:
        resolve([], {"SBATCH_TIMELIMIT": "soon"}, SH)
    assert "--time" in str(err.value)


def test_bad_script_value_names_the_line() -> None:
    with pytest.raises(JobSpecError, match=r"'12XB' for --mem \(script line 3\)"):
        resolve([], {}, _script("#SBATCH -N 1", "#SBATCH --mem=12XB"))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--nodes=abc"], "for --nodes (the command line): expected a node count"),
        (["--time=1:99:99:99x"], "for --time (the command line): expected a time as minutes"),
        (["--mem=12XB"], "for --mem (the command line): expected a whole number of MiB"),
        (["--gres=gpu:a:b:c"], "for --gres"),
        (["--mail-type=LUNCH"], "BEGIN"),
        (["--exclusive=others"], "user, mcs"),
    ],
)
def test_bad_values_are_clear_errors(argv: list[str], message: str) -> None:
    with pytest.raises(JobSpecError) as err:
        resolve(argv, {}, SH)
    assert message in str(err.value)


def test_uid_is_refused_wherever_it_comes_from() -> None:
    with pytest.raises(JobSpecError, match=r"--uid is not allowed.*the command line"):
        resolve(["--uid=0"], {}, SH)
    with pytest.raises(JobSpecError, match=r"--uid is not allowed.*script line 2"):
        resolve([], {}, _script("#SBATCH --uid=root"))


def test_memory_options_conflict_like_sbatch() -> None:
    with pytest.raises(JobSpecError, match="--mem .*--mem-per-cpu.*cannot be combined"):
        resolve(["--mem-per-cpu=2G"], {}, _script("#SBATCH --mem=8G"))
    # One from the environment gives way to one set explicitly.
    spec = resolve(["--mem-per-cpu=2G"], {"SBATCH_MEM_PER_NODE": "8G"}, SH)
    assert spec.values() == {"mem-per-cpu": "2G"}
    with pytest.raises(JobSpecError, match="cannot be combined"):
        resolve([], {"SBATCH_MEM_PER_NODE": "8G", "SBATCH_MEM_PER_GPU": "1G"}, SH)


def test_hyperion_options_are_kept_apart() -> None:
    spec = resolve(["--parsable", "--test-only", "-W", "-vv", "-M", "a,b"], {}, SH)
    assert spec.values() == {}
    assert {n: o.value for n, o in spec.hyperion_options.items()} == {
        "parsable": None,
        "test-only": None,
        "wait": None,
        "verbose": "2",
        "clusters": "a,b",
    }


def test_script_path_args_and_text_are_kept() -> None:
    text = _script("#SBATCH -J x")
    spec = resolve(["-N1", "run.sh", "--in", "a b"], {}, text)
    assert spec.script_path == "run.sh"
    assert spec.script_args == ("--in", "a b")
    assert spec.script_text == text


def test_wrap_generates_the_sbatch_script() -> None:
    spec = resolve(["--wrap", "python train.py --lr 0.1", "-J", "w"], {}, None)
    assert spec.script_text == (
        "#!/bin/sh\n# This script was created by sbatch --wrap.\n\npython train.py --lr 0.1\n"
    )
    assert spec.values() == {"job-name": "w"}
    assert spec.hyperion_options["wrap"].value == "python train.py --lr 0.1"


@pytest.mark.parametrize(
    ("argv", "script"),
    [(["--wrap=true", "job.sh"], None), (["--wrap=true"], SH), ([], None)],
)
def test_script_source_errors(argv: list[str], script: str | None) -> None:
    with pytest.raises(JobSpecError, match="script"):
        resolve(argv, {}, script)


def test_wrap_in_a_script_is_refused() -> None:
    with pytest.raises(JobSpecError, match="only valid on the command line"):
        resolve([], {}, _script("#SBATCH --wrap=x"))


def test_warnings_collected_from_script_and_env() -> None:
    spec = resolve([], {"SBATCH_NODES": "2"}, _script("  #SBATCH -N 2") + "#SBATCH -N 3\n")
    assert len(spec.warnings) == 3


def test_jobspec_is_immutable() -> None:
    spec = resolve(["-J", "x"], {}, SH)
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.script_text = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        spec.options["job-name"] = spec.options["job-name"]  # type: ignore[index]
    assert isinstance(spec, JobSpec) and spec.get("job-name") == "x"
    assert spec.get("qos") is None and spec.get("qos", "d") == "d"


def test_non_ascii_number_in_a_flag_variable_unsets_it() -> None:
    assert resolve([], {"SBATCH_REQUEUE": "²"}, _script("#SBATCH --requeue")).values() == {}
    with pytest.raises(JobSpecError, match="SBATCH_DEBUG"):
        resolve([], {"SBATCH_DEBUG": "²"}, SH)
