"""Property tests: renderings parse back to the same values; hostile values stay inert."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hyperion.errors import JobSpecError
from hyperion.jobspec import (
    OptionDef,
    format_directive,
    format_time,
    option_table,
    parse_cli_args,
    parse_script_directives,
    resolve,
    to_directives,
    to_rest_job,
    to_sbatch_argv,
)
from hyperion.jobspec.script import quote_directive_word
from hyperion.jobspec.values import MAIL_TYPES

SH = "#!/bin/sh\n"
TABLE = option_table()
TEXT = st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=24)
GPU_TYPE = st.sampled_from(["a100", "v100", "h100_80g", "l40s"])
COUNT = st.integers(1, 64)

_VALUES: dict[str, st.SearchStrategy[str]] = {
    "string": TEXT,
    "path": TEXT,
    "uint": st.integers(0, 10**6).map(str),
    "count": st.integers(1, 10**6).map(str),
    "time": st.one_of(
        st.integers(0, 10**8).map(format_time),
        st.integers(0, 10**5).map(str),
        st.sampled_from(["UNLIMITED", "2-12", "1-0:30"]),
    ),
    "memory": st.builds(
        "{}{}".format, st.integers(0, 10**6), st.sampled_from(["", "K", "M", "G", "t", "GB"])
    ),
    "nodes": st.one_of(
        st.integers(1, 10**4).map(str),
        st.tuples(st.integers(1, 100), st.integers(0, 100)).map(lambda t: f"{t[0]}-{sum(t)}"),
    ),
    "gres": st.lists(
        st.one_of(
            st.just("gpu"),
            COUNT.map("gpu:{}".format),
            st.builds("gpu:{}:{}".format, GPU_TYPE, COUNT),
            COUNT.map("nvme:{}".format),
        ),
        min_size=1,
        max_size=2,
    ).map(",".join),
    "gpus": st.one_of(COUNT.map(str), st.builds("{}:{}".format, GPU_TYPE, COUNT)),
    "array": st.sampled_from(["0-15", "1,3,5", "0-15:4%2", "7", "1-100%10"]),
    "mail_type": st.lists(st.sampled_from(sorted(MAIL_TYPES)), min_size=1, max_size=3).map(
        ",".join
    ),
    "signal": st.sampled_from(["USR1", "B:USR2@300", "R:10@60", "SIGTERM", "rb:usr1"]),
    "switches": st.sampled_from(["1", "2@1:00:00", "4@30"]),
    "nice": st.integers(-10**6, 10**6).map(str),
    "priority": st.one_of(st.just("TOP"), st.integers(0, 10**6).map(str)),
    "get_user_env": st.sampled_from(["10", "10L", "S", "5s"]),
    "open_mode": st.sampled_from(["append", "truncate", "a", "T"]),
    "zero_one": st.sampled_from(["0", "1"]),
    "exclusive": st.sampled_from(["user", "mcs", "USER"]),
    "no_kill": st.sampled_from(["off", "set", "no"]),
    "yes_no": st.sampled_from(["yes", "no", "Yes"]),
    "gres_flags": st.sampled_from(["disable-binding", "enforce-binding"]),
}  # fmt: skip


def values_for(opt: OptionDef) -> st.SearchStrategy[str | None]:
    """Valid values of ``opt`` (None where the option takes none or it is optional)."""
    if opt.arg == "none":
        return st.none()
    if opt.arg == "optional":
        return st.one_of(st.none(), _VALUES[opt.type])
    return _VALUES[opt.type]


ALL = sorted(n for n, o in TABLE.options.items() if o.treatment != "refuse" and o.type != "command")
PASSED = sorted(n for n, o in TABLE.options.items() if o.treatment in ("pass", "translated"))


@st.composite
def option_sets(draw: st.DrawFn, names: list[str]) -> dict[str, str | None]:
    """Options sbatch accepts together: one per shared setting, one per mutex group."""
    chosen = draw(
        st.lists(
            st.sampled_from(names),
            unique_by=lambda n: TABLE.options[n].mutex or TABLE.options[n].slot,
            max_size=12,
        )
    )
    return {n: draw(values_for(TABLE.options[n])) for n in chosen}


@st.composite
def occurrences(draw: st.DrawFn) -> list[tuple[str, str | None]]:
    names = draw(st.lists(st.sampled_from(ALL), max_size=12))
    return [(n, draw(values_for(TABLE.options[n]))) for n in names]


@given(occurrences(), st.integers(1, 4), st.booleans())
def test_directives_round_trip(
    items: list[tuple[str, str | None]], per_line: int, noise: bool
) -> None:
    lines = []
    for start in range(0, len(items), per_line):
        words = [
            quote_directive_word(f"--{n}" if v is None else f"--{n}={v}")
            for n, v in items[start : start + per_line]
        ]
        if noise:
            lines += ["", "# a comment with #SBATCH --nodes=99 inside", "\t"]
        lines.append("#SBATCH " + "\t ".join(words) + ("   # trailing" if noise else ""))
    script = SH + "\n".join(lines) + "\nsrun true\n#SBATCH --nodes=1000\n"
    parsed = parse_script_directives(script)
    assert [(d.option, d.value) for d in parsed] == items


@given(option_sets(PASSED))
def test_script_to_argv_to_spec_round_trip(options: dict[str, str | None]) -> None:
    script = SH + "".join(format_directive(n, v) + "\n" for n, v in options.items())
    spec = resolve([], {}, script)
    assert spec.values() == options
    assert to_directives(spec) == [format_directive(n, v) for n, v in options.items()]
    argv = to_sbatch_argv(spec)
    assert len(argv) == len(options)
    again = resolve([*argv, "job.sh", "--not-an-option"], {}, SH)
    assert again.values() == spec.values()
    assert again.script_args == ("--not-an-option",)


def _abbreviation(opt: OptionDef) -> str:
    """The shortest prefix getopt_long resolves to ``opt``."""
    for size in range(1, len(opt.name) + 1):
        matches = TABLE.long_matches(opt.name[:size])
        if len(matches) == 1 and TABLE.long_names[matches[0]] is opt:
            return opt.name[:size]
    return opt.name


@st.composite
def spellings(draw: st.DrawFn, name: str, value: str | None) -> list[str]:
    """Every way sbatch's command line may spell ``--name=value``."""
    opt = TABLE.options[name]
    longs = {opt.name, _abbreviation(opt), *opt.aliases}
    forms: list[list[str]] = []
    for long in sorted(longs):
        forms.append([f"--{long}"] if value is None else [f"--{long}={value}"])
        if opt.arg == "required" and value is not None:
            forms.append([f"--{long}", value])
    if opt.short:
        if value is None:
            forms.append([f"-{opt.short}"])
        else:
            if value:
                forms.append([f"-{opt.short}{value}"])
            if opt.arg == "required":
                forms.append([f"-{opt.short}", value])
    return draw(st.sampled_from(forms))


@given(st.data(), option_sets(ALL))
def test_every_command_line_spelling_parses_the_same(
    data: st.DataObject, options: dict[str, str | None]
) -> None:
    argv: list[str] = []
    for name, value in options.items():
        argv += data.draw(spellings(name, value))
    parsed = parse_cli_args([*argv, "job.sh", "-N", "2"])
    assert [(p.option.name, p.value) for p in parsed.options] == list(options.items())
    assert parsed.script_path == "job.sh"
    assert parsed.script_args == ("-N", "2")


@given(option_sets(PASSED))
def test_rest_never_drops_an_option(options: dict[str, str | None]) -> None:
    spec = resolve([], {}, SH + "".join(format_directive(n, v) + "\n" for n, v in options.items()))
    unsupported = [n for n in options if TABLE.options[n].rest is None]
    if unsupported:
        with pytest.raises(JobSpecError, match=f"--{unsupported[0]} "):
            to_rest_job(spec, environment={"A": "1"})
        return
    job = to_rest_job(spec, environment={"A": "1"})
    assert set(job) == {TABLE.options[n].rest for n in options} | {"environment"}
    json.dumps(job)


HOSTILE = [
    "a; rm -rf ~",
    "$(reboot)",
    "`id`",
    'it\'s "quoted"',
    "two  spaces and\ttab",
    "--parsable",
    "-p other",
    "$HOME/*.out",
    "x=y=z",
    "#not a comment",
    "back\\slash",
    "",
]
FIELDS = ["job-name", "comment", "output", "error", "chdir", "mail-user", "wckey"]


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize("name", FIELDS)
def test_hostile_values_survive_every_source_as_one_argv_element(name: str, value: str) -> None:
    expected = [f"--{name}={value}"]
    from_cli = resolve([f"--{name}", value, "job.sh"], {}, SH)
    from_script = resolve([], {}, SH + format_directive(name, value) + "\n")
    assert to_sbatch_argv(from_cli) == expected
    assert to_sbatch_argv(from_script) == expected
    env_name = next(iter(TABLE.options[name].env), None)
    if env_name:
        assert to_sbatch_argv(resolve([], {env_name: value}, SH)) == expected


def test_hostile_values_reach_a_process_unchanged() -> None:
    argv = [f"--{n}={v}" for n, v in zip(FIELDS * 2, HOSTILE, strict=False)]
    spec = resolve(argv, {}, SH)
    out = subprocess.run(  # an argv list: no shell ever sees the values
        [sys.executable, "-c", "import json, sys; print(json.dumps(sys.argv[1:]))"]
        + to_sbatch_argv(spec),
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(out.stdout) == to_sbatch_argv(spec)
    assert spec.values() == {n: v for n, v in zip(FIELDS * 2, HOSTILE, strict=False)}


def test_hostile_script_arguments_are_not_options() -> None:
    spec = resolve(["-J", "j", "job.sh", *HOSTILE], {}, SH)
    assert spec.script_args == tuple(HOSTILE)
    assert spec.values() == {"job-name": "j"}


@pytest.mark.parametrize("value", ["line1\nline2", "carriage\rreturn", "nul\x00"])
def test_control_characters_are_refused_everywhere(value: str) -> None:
    with pytest.raises(JobSpecError, match="control character"):
        resolve(["--job-name", value], {}, SH)
    with pytest.raises(JobSpecError, match="SBATCH_JOB_NAME.*control character"):
        resolve([], {"SBATCH_JOB_NAME": value}, SH)
    with pytest.raises(JobSpecError, match="control character"):
        to_sbatch_argv(resolve([], {}, SH), {"comment": value})


@settings(max_examples=50)
@given(TEXT.filter(lambda t: "\n" not in t))
def test_wrap_commands_are_kept_verbatim(command: str) -> None:
    spec = resolve(["--wrap", command], {}, None)
    assert spec.script_text.endswith(f"\n{command}\n")
    assert spec.hyperion_options["wrap"].value == command
