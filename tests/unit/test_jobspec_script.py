"""#SBATCH directive parsing, as sbatch 22.05 reads a script's header."""

from __future__ import annotations

import pytest

from hyperion.errors import JobSpecError
from hyperion.jobspec import Directive, format_directive, parse_script_directives, read_directives
from hyperion.jobspec.script import split_directive


def _parse(body: str) -> list[tuple[int, str, str | None]]:
    return [tuple(d) for d in parse_script_directives("#!/bin/bash\n" + body)]  # type: ignore[misc]


def test_basic_directives_with_line_numbers() -> None:
    got = parse_script_directives("#!/bin/bash\n#SBATCH -J test\n#SBATCH --time=10\n")
    assert got == [Directive(2, "job-name", "test"), Directive(3, "time", "10")]
    assert got[0].lineno == 2 and got[0].option == "job-name"


def test_stops_at_first_command_and_warns_about_later_directives() -> None:
    result = read_directives("#!/bin/sh\n#SBATCH -p a\necho hi\n#SBATCH -p b\n#SBATCH -N 2\n")
    assert result.directives == [Directive(2, "partition", "a")]
    assert result.first_command == 3
    assert len(result.warnings) == 2
    assert "line 4" in result.warnings[0] and "first command (line 3)" in result.warnings[0]


def test_blank_and_comment_lines_do_not_stop_parsing() -> None:
    body = "\n   \n# a comment\n\t# indented comment\n#SBATCH -N 3\n\n#SBATCH -n 6\nsrun x\n"
    assert _parse(body) == [(6, "nodes", "3"), (8, "ntasks", "6")]


def test_indented_sbatch_is_not_a_directive() -> None:
    result = read_directives("#!/bin/sh\n  #SBATCH -p gpu\n#SBATCH -p cpu\n")
    assert result.directives == [Directive(3, "partition", "cpu")]
    assert "indented" in result.warnings[0] and "line 2" in result.warnings[0]


def test_lowercase_magic_is_a_comment_with_warning() -> None:
    result = read_directives("#!/bin/sh\n#sbatch -p gpu\n")
    assert result.directives == []
    assert "capitals" in result.warnings[0]


def test_several_options_on_one_line_and_short_forms() -> None:
    assert _parse("#SBATCH -N2 -n 4 --mem=4G -Hv\n") == [
        (2, "nodes", "2"),
        (2, "ntasks", "4"),
        (2, "mem", "4G"),
        (2, "hold", None),
        (2, "verbose", None),
    ]


@pytest.mark.parametrize(
    ("line", "value"),
    [
        ('#SBATCH --job-name="my job"', "my job"),
        ("#SBATCH --job-name='my job'", "my job"),
        ('#SBATCH "--job-name=my job"', "my job"),
        ('#SBATCH --job-name=a" b "c', "a b c"),
        (r"#SBATCH --job-name=my\ job", "my job"),
        (r'#SBATCH --job-name="say \"hi\""', 'say "hi"'),
        ('#SBATCH --job-name="a#b"', "a#b"),
        (r"#SBATCH --job-name=a\#b", "a#b"),
        ('#SBATCH --job-name="it\'s"', "it's"),
        ('#SBATCH -J ""', ""),
    ],
)
def test_quoting(line: str, value: str) -> None:
    assert _parse(line + "\n") == [(2, "job-name", value)]


def test_trailing_comment_is_ignored() -> None:
    assert _parse("#SBATCH -p gpu  # use the GPU partition -N 99\n") == [(2, "partition", "gpu")]


def test_hash_inside_a_word_starts_a_comment_like_sbatch() -> None:
    assert _parse("#SBATCH --comment=a#b -N 5\n") == [(2, "comment", "a")]


def test_option_value_may_continue_on_next_directive_line() -> None:
    # sbatch joins all directive words into one argument list before scanning it.
    assert _parse("#SBATCH --job-name\n#SBATCH value\n") == [(2, "job-name", "value")]


def test_magic_word_without_space() -> None:
    assert _parse("#SBATCH--time=5\n") == [(2, "time", "5")]


def test_abbreviations_work_in_scripts() -> None:
    assert _parse("#SBATCH --part=gpu --ntasks-per-n=2\n") == [
        (2, "partition", "gpu"),
        (2, "ntasks-per-node", "2"),
    ]


@pytest.mark.parametrize(
    ("script", "message"),
    [
        ("", "empty"),
        ("  \n\n", "only whitespace"),
        ("echo hi\n", "#!"),
        ("\n#!/bin/sh\n", "#!"),
        ("#!/bin/sh\r\n#SBATCH -N1\r\n", "DOS"),
        ("#!/bin/sh\n\0", "NUL"),
    ],
)
def test_scripts_sbatch_refuses(script: str, message: str) -> None:
    with pytest.raises(JobSpecError, match=message):
        parse_script_directives(script)


def test_unknown_option_names_the_line_and_suggests() -> None:
    with pytest.raises(JobSpecError) as err:
        _parse("#SBATCH -N 1\n#SBATCH --partiton=gpu\n")
    assert "script line 3" in str(err.value)
    assert "--partiton" in str(err.value)
    assert "--partition" in str(err.value)


def test_non_option_word_is_refused() -> None:
    with pytest.raises(JobSpecError, match="script line 2: 'gpu' is not an sbatch option"):
        _parse("#SBATCH -p a gpu\n")


def test_unmatched_quote() -> None:
    with pytest.raises(JobSpecError, match="line 2: unmatched"):
        _parse('#SBATCH --job-name="open\n')


@pytest.mark.parametrize("line", ["#SBATCH hetjob", "#SBATCH packjob"])
def test_heterogeneous_jobs_are_refused(line: str) -> None:
    with pytest.raises(JobSpecError, match="heterogeneous"):
        _parse(f"#SBATCH -N1\n{line}\n#SBATCH -N2\n")


def test_missing_value_at_end_of_header() -> None:
    with pytest.raises(JobSpecError, match="--time needs a value"):
        _parse("#SBATCH --time\necho\n")


def test_split_directive_whitespace() -> None:
    assert split_directive("\t -a  b\t", 1) == ["-a", "b"]
    assert split_directive("", 1) == []
    assert split_directive("   # only a comment", 1) == []


@pytest.mark.parametrize(
    "value",
    ["plain", "two words", 'q"uote', "it's", "back\\slash", "a#b", "", "tab\there", "=;$()`"],
)
def test_format_directive_round_trips(value: str) -> None:
    line = format_directive("comment", value)
    assert _parse(line + "\n") == [(2, "comment", value)]


def test_format_directive_flag() -> None:
    assert format_directive("hold", None) == "#SBATCH --hold"
