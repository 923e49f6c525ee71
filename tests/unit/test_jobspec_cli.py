"""sbatch command-line parsing: getopt_long semantics, abbreviations, unknown options."""

from __future__ import annotations

import pytest

from hyperion.errors import JobSpecError
from hyperion.jobspec import parse_cli_args


def _opts(argv: list[str]) -> list[tuple[str, str | None]]:
    return [(p.option.name, p.value) for p in parse_cli_args(argv).options]


@pytest.mark.parametrize(
    "argv",
    [
        ["--partition=gpu"],
        ["--partition", "gpu"],
        ["-p", "gpu"],
        ["-pgpu"],
        ["--part=gpu"],
        ["--parti", "gpu"],
    ],
)
def test_value_forms(argv: list[str]) -> None:
    assert _opts(argv) == [("partition", "gpu")]


def test_clustered_short_flags_and_trailing_value() -> None:
    assert _opts(["-HvN2"]) == [("hold", None), ("verbose", None), ("nodes", "2")]
    assert _opts(["-Hp", "gpu"]) == [("hold", None), ("partition", "gpu")]


def test_required_value_is_taken_even_if_it_looks_like_an_option() -> None:
    assert _opts(["--job-name", "--hold"]) == [("job-name", "--hold")]
    assert _opts(["-J", "-x"]) == [("job-name", "-x")]


def test_empty_attached_value() -> None:
    assert _opts(["--comment="]) == [("comment", "")]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--exclusive"], [("exclusive", None)]),
        (["--exclusive=user"], [("exclusive", "user")]),
        (["--get-user-env"], [("get-user-env", None)]),
        (["--get-user-env=10L"], [("get-user-env", "10L")]),
        (["--nice"], [("nice", None)]),
        (["--nice=-5"], [("nice", "-5")]),
        (["-k"], [("no-kill", None)]),
        (["-koff"], [("no-kill", "off")]),
    ],
)
def test_optional_arguments_only_attach(argv: list[str], expected: list[object]) -> None:
    assert _opts(argv) == expected


def test_optional_argument_is_not_taken_from_next_word() -> None:
    # Like sbatch: "--exclusive user" is --exclusive followed by the script "user".
    args = parse_cli_args(["--exclusive", "user"])
    assert [(p.option.name, p.value) for p in args.options] == [("exclusive", None)]
    assert args.script_path == "user"


def test_script_and_its_arguments_are_not_options() -> None:
    args = parse_cli_args(["-N", "2", "job.sh", "-p", "x", "--time=1", "--"])
    assert _opts(["-N", "2"]) == [("nodes", "2")]
    assert args.script_path == "job.sh"
    assert args.script_args == ("-p", "x", "--time=1", "--")


def test_double_dash_ends_options() -> None:
    args = parse_cli_args(["-H", "--", "--weird-name.sh", "a"])
    assert [p.option.name for p in args.options] == ["hold"]
    assert args.script_path == "--weird-name.sh"
    assert args.script_args == ("a",)


def test_single_dash_is_a_script_path() -> None:
    assert parse_cli_args(["-"]).script_path == "-"


def test_no_script() -> None:
    args = parse_cli_args(["-H"])
    assert args.script_path is None and args.script_args == ()


@pytest.mark.parametrize(
    ("given", "name"),
    [
        ("--mem=1", "mem"),  # exact match beats the prefix of --mem-bind/--mem-per-*
        ("--mem-per-c=1", "mem-per-cpu"),
        ("--cluster=a", "clusters"),  # alias
        ("--tasks=2", "ntasks-per-node"),  # unique prefix of the alias tasks-per-node
        ("--test=", None),
    ],
)
def test_abbreviations(given: str, name: str | None) -> None:
    if name is None:
        with pytest.raises(JobSpecError, match="takes no value"):
            parse_cli_args([given])  # --test-only is a flag
        return
    assert _opts([given])[0][0] == name


@pytest.mark.parametrize(
    ("given", "candidates"),
    [
        ("--gpus-per", ["--gpus-per-node", "--gpus-per-socket", "--gpus-per-task"]),
        ("--no", ["--no-kill", "--no-requeue", "--nodefile", "--nodelist", "--nodes"]),
        ("--clus", ["--cluster-constraint", "--clusters"]),
    ],
)
def test_ambiguous_abbreviation_lists_candidates(given: str, candidates: list[str]) -> None:
    with pytest.raises(JobSpecError, match="ambiguous") as err:
        parse_cli_args([given + "=1"])
    for c in candidates:
        assert c in str(err.value)


def test_unknown_long_option_suggests_close_names() -> None:
    with pytest.raises(JobSpecError) as err:
        parse_cli_args(["--partitoin=gpu"])
    text = str(err.value)
    assert "unknown sbatch option '--partitoin'" in text
    assert "the command line" in text
    assert "did you mean --partition" in text


def test_unknown_short_option() -> None:
    with pytest.raises(JobSpecError, match="unknown sbatch option '-z'"):
        parse_cli_args(["-Hz"])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--hold=yes"], "takes no value"),
        (["--time"], "needs a value"),
        (["-t"], "needs a value"),
        (["-N2", "-p"], "needs a value"),
    ],
)
def test_argument_errors(argv: list[str], message: str) -> None:
    with pytest.raises(JobSpecError, match=message):
        parse_cli_args(argv)


def test_heterogeneous_separator_is_refused() -> None:
    with pytest.raises(JobSpecError, match="heterogeneous"):
        parse_cli_args(["-n1", ":", "-n2", "job.sh"])
