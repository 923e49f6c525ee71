"""The resolved job specification and :func:`resolve`, sbatch's option precedence.

sbatch applies ``#SBATCH`` directives first, then ``SBATCH_*`` environment variables, then the
command line; a later setting replaces an earlier one. Options that share one setting in sbatch
(``--requeue``/``--no-requeue``, ``--exclusive``/``--oversubscribe``, ``--nodelist``/
``--nodefile``) replace each other. ``--mem``, ``--mem-per-cpu`` and ``--mem-per-gpu`` (and
``--core-spec``/``--thread-spec``) may not be combined in the script and on the command line
(sbatch refuses it); one of them from the environment gives way to another set elsewhere.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from hyperion.errors import JobSpecError
from hyperion.jobspec.argv import ParsedOption, scan
from hyperion.jobspec.script import read_directives
from hyperion.jobspec.table import OptionDef, OptionTable, option_table
from hyperion.jobspec.values import check_value

Source = Literal["cli", "env", "script", "hyperion"]

#: The script sbatch 22.05 generates for ``--wrap``.
WRAP_TEMPLATE = "#!/bin/sh\n# This script was created by sbatch --wrap.\n\n{command}\n"
_FLAG_TRUE = {"", "yes"}


@dataclass(frozen=True, slots=True)
class OptionValue:
    """A resolved option: its value (None for flags) and where it came from.

    ``source`` is "script", "env", "cli", or "hyperion" for a value :func:`translate` added;
    ``origin`` names the place for people ("the command line", "environment variable
    SBATCH_QOS", "script line 4"); ``original`` is the value before :func:`translate`
    rewrote it (None if it did not).
    """

    name: str
    value: str | None
    source: Source
    origin: str
    original: str | None = None


def _frozen(mapping: Mapping[str, OptionValue]) -> Mapping[str, OptionValue]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True, slots=True)
class JobSpec:
    """A job as sbatch would see it, resolved from argv, environment and script.

    ``options`` (canonical long name -> value, in the order they were last set) holds what is
    passed on to Slurm; ``hyperion_options`` what Hyperion itself consumes (``--parsable``,
    ``--test-only``, ``--wait``, ``--clusters``, ``--wrap``, ...).
    """

    options: Mapping[str, OptionValue]
    script_text: str
    script_path: str | None = None
    script_args: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    hyperion_options: Mapping[str, OptionValue] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "options", _frozen(self.options))
        object.__setattr__(self, "hyperion_options", _frozen(self.hyperion_options))
        object.__setattr__(self, "script_args", tuple(self.script_args))
        object.__setattr__(self, "warnings", tuple(self.warnings))

    def get(self, name: str, default: str | None = None) -> str | None:
        """The value of option ``name`` (canonical long name), or ``default``."""
        ov = self.options.get(name)
        return default if ov is None or ov.value is None else ov.value

    def has(self, name: str) -> bool:
        """True when option ``name`` is set (flags included)."""
        return name in self.options

    def values(self) -> dict[str, str | None]:
        """Option name -> value, without the provenance."""
        return {name: ov.value for name, ov in self.options.items()}


@dataclass(frozen=True, slots=True)
class CliArgs:
    """The sbatch command line, split: options, script path, script arguments."""

    options: tuple[ParsedOption, ...]
    script_path: str | None
    script_args: tuple[str, ...]


def parse_cli_args(argv: Sequence[str]) -> CliArgs:
    """Parse sbatch's arguments (without the program name), as sbatch does.

    The first word that is not an option is the script path; every word after it is an
    argument of the script, never an option.
    """
    result = scan(list(argv), lambda i: "the command line")
    rest = result.rest
    if rest and rest[0] == ":":
        raise JobSpecError(
            "heterogeneous jobs (components separated by ':') are not supported by Hyperion"
        )
    return CliArgs(result.options, rest[0] if rest else None, tuple(rest[1:]))


@dataclass(slots=True)
class _Event:
    option: OptionDef
    value: str | None
    source: Source
    origin: str
    reset: bool = False


def _env_events(env: Mapping[str, str], table: OptionTable) -> tuple[list[_Event], list[str]]:
    """SBATCH_*/SLURM_* input variables as events, plus warnings for ignored ones."""
    events: list[_Event] = []
    warnings: list[str] = []
    for name in sorted(env):  # sbatch's table order: SBATCH_X before SLURM_X, later wins
        value = env[name]
        opt = table.env.get(name)
        if opt is None:
            if name in table.env_unsupported:
                warnings.append(f"{name} is ignored by Hyperion: {table.env_unsupported[name]}")
            elif name.startswith("SBATCH_"):
                close = table.suggest_env(name)
                tip = f"; did you mean {' or '.join(close)}?" if close else ""
                warnings.append(f"{name} is set but sbatch 22.05 does not read it (ignored){tip}")
            continue
        origin = f"environment variable {name}"
        numeric = value.isascii() and value.isdigit()
        if opt.type == "counter" and not numeric:
            raise JobSpecError(f"invalid value {value!r} in {origin}: expected a number")
        if opt.type == "flag":
            set_it = value.lower() in _FLAG_TRUE or (numeric and int(value) != 0)
            events.append(_Event(opt, None, "env", origin, reset=not set_it))
        elif opt.arg == "optional":
            events.append(_Event(opt, value or None, "env", origin))
        else:
            events.append(_Event(opt, value, "env", origin))
    return events, warnings


def _apply(events: list[_Event]) -> tuple[dict[str, OptionValue], dict[str, OptionValue]]:
    """Replay events in precedence order; a later one replaces an earlier one of its slot."""
    passed: dict[str, OptionValue] = {}
    consumed: dict[str, OptionValue] = {}
    table = option_table()
    for ev in events:
        opt = ev.option
        if opt.treatment == "refuse":
            raise JobSpecError(
                f"{opt.flag} is not allowed through Hyperion ({ev.origin})",
                hint="jobs always run as the user who submits them",
            )
        try:
            check_value(opt.type, ev.value)
        except ValueError as exc:
            raise JobSpecError(
                f"invalid value {ev.value!r} for {opt.flag} ({ev.origin}): {exc}",
                hint=opt.doc or None,
            ) from None
        target = consumed if opt.treatment == "hyperion" else passed
        value = ev.value
        if opt.type == "counter" and value is None:
            previous = target.get(opt.name)
            value = str(int(previous.value or 0) + 1) if previous else "1"
        for name in [n for n in target if table.options[n].slot == opt.slot]:
            del target[name]
        if not ev.reset:
            target[opt.name] = OptionValue(opt.name, value, ev.source, ev.origin)
    return passed, consumed


def _check_mutex(passed: dict[str, OptionValue], table: OptionTable) -> None:
    groups: dict[str, list[OptionValue]] = {}
    for ov in passed.values():
        mutex = table.options[ov.name].mutex
        if mutex:
            groups.setdefault(mutex, []).append(ov)
    for members in groups.values():
        if len(members) < 2:
            continue
        explicit = [m for m in members if m.source != "env"]
        if len(explicit) > 1 or not explicit:
            listed = " and ".join(f"--{m.name} ({m.origin})" for m in members)
            raise JobSpecError(
                f"{listed} cannot be combined; sbatch accepts only one of them",
                hint="keep the one you mean and remove the others",
            )
        for m in members:
            if m.source == "env":
                del passed[m.name]


def resolve(argv: Sequence[str], env: Mapping[str, str], script_text: str | None) -> JobSpec:
    """Resolve a submission the way sbatch does: command line > environment > directives.

    ``argv`` is sbatch's argument list without the program name; ``env`` the submitting
    environment (only SBATCH_* and the few SLURM_* input variables are read; nothing is read
    from ``os.environ``); ``script_text`` the job script (None with ``--wrap``).
    """
    table = option_table()
    cli = parse_cli_args(argv)
    wrap = next((p.value for p in reversed(cli.options) if p.option.name == "wrap"), None)
    if wrap is not None:
        if cli.script_path is not None or script_text is not None:
            raise JobSpecError(
                "--wrap cannot be combined with a job script",
                hint="give either a script or --wrap '<command>'",
            )
        script_text = WRAP_TEMPLATE.format(command=wrap)
    if script_text is None:
        raise JobSpecError("no job script given", hint="give a script file or --wrap '<command>'")
    script = read_directives(script_text)
    events: list[_Event] = []
    for lineno, p in script.options:
        if p.option.name == "wrap":
            raise JobSpecError(f"script line {lineno}: --wrap is only valid on the command line")
        events.append(_Event(p.option, p.value, "script", f"script line {lineno}"))
    env_events, env_warnings = _env_events(env, table)
    events += env_events
    events += [_Event(p.option, p.value, "cli", "the command line") for p in cli.options]
    passed, consumed = _apply(events)
    _check_mutex(passed, table)
    return JobSpec(
        options=passed,
        script_text=script_text,
        script_path=cli.script_path,
        script_args=cli.script_args,
        warnings=script.warnings + tuple(env_warnings),
        hyperion_options=consumed,
    )
