"""The sbatch option table: ``sbatch_options.toml`` loaded once, checked, and indexed."""

from __future__ import annotations

import difflib
import functools
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType
from typing import Any, Literal, cast

from hyperion.jobspec.values import VALIDATORS

Arg = Literal["none", "required", "optional"]
Treatment = Literal["pass", "translated", "hyperion", "refuse"]

ARGS: tuple[Arg, ...] = ("none", "required", "optional")
TREATMENTS: tuple[Treatment, ...] = ("pass", "translated", "hyperion", "refuse")
REST_TYPES = (
    "string", "int", "mib", "minutes", "true", "optional", "exclusive", "open_mode",
    "yes_no", "nice", "priority",
)  # fmt: skip
_KEYS = {
    "short", "aliases", "env", "arg", "type", "treatment", "rest", "rest_type", "group",
    "mutex", "doc",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class OptionDef:
    """One sbatch option as described in ``sbatch_options.toml``."""

    name: str
    short: str | None
    aliases: tuple[str, ...]
    env: tuple[str, ...]
    arg: Arg
    type: str
    treatment: Treatment
    rest: str | None
    rest_type: str
    group: str | None
    mutex: str | None
    doc: str

    @property
    def slot(self) -> str:
        """The state sbatch keeps for it: options of one group overwrite each other."""
        return self.group or self.name

    @property
    def flag(self) -> str:
        """How users write it: ``--name``."""
        return f"--{self.name}"


@dataclass(frozen=True, slots=True)
class OptionTable:
    """The options indexed by long name (aliases included), short letter and env variable."""

    options: Mapping[str, OptionDef]
    long_names: Mapping[str, OptionDef]
    shorts: Mapping[str, OptionDef]
    env: Mapping[str, OptionDef]
    env_unsupported: Mapping[str, str]

    def get(self, name: str) -> OptionDef | None:
        """The option called ``name`` exactly (canonical or alias; a leading ``--`` is ignored)."""
        return self.long_names.get(name.removeprefix("--"))

    def long_matches(self, given: str) -> list[str]:
        """Long names ``given`` can mean, as getopt_long decides.

        An exact name wins; otherwise every name it is a prefix of. Several names that are
        aliases of one option are not ambiguous (the first is returned alone).
        """
        if given in self.long_names:
            return [given]
        found = [n for n in self.long_names if n.startswith(given)]
        if len({self.long_names[n].name for n in found}) == 1:
            return found[:1]
        return found

    def suggest(self, given: str) -> list[str]:
        """Close valid long names for a misspelt one."""
        return difflib.get_close_matches(given, list(self.long_names), n=3, cutoff=0.6)

    def suggest_env(self, given: str) -> list[str]:
        """Close known SBATCH_*/SLURM_* input variables for an unknown one."""
        return difflib.get_close_matches(given, list(self.env), n=3, cutoff=0.6)


def _option(name: str, raw: Mapping[str, Any]) -> OptionDef:
    unknown = set(raw) - _KEYS
    arg, type_, treatment = raw.get("arg"), raw.get("type"), raw.get("treatment")
    rest_type = raw.get("rest_type", "string")
    problems = [f"unknown keys {sorted(unknown)}"] if unknown else []
    if arg not in ARGS:
        problems.append(f"arg {arg!r}")
    if type_ not in VALIDATORS:
        problems.append(f"type {type_!r}")
    elif (VALIDATORS[type_] is None) != (arg == "none"):
        problems.append(f"type {type_!r} does not fit arg {arg!r}")
    if treatment not in TREATMENTS:
        problems.append(f"treatment {treatment!r}")
    if rest_type not in REST_TYPES:
        problems.append(f"rest_type {rest_type!r}")
    short = raw.get("short")
    if short is not None and (len(short) != 1 or not short.isalpha()):
        problems.append(f"short {short!r}")
    if problems:
        raise RuntimeError(f"sbatch_options.toml: option {name!r}: bad " + "; ".join(problems))
    return OptionDef(
        name=name,
        short=short,
        aliases=tuple(raw.get("aliases", ())),
        env=tuple(raw.get("env", ())),
        arg=cast(Arg, arg),
        type=cast(str, type_),
        treatment=cast(Treatment, treatment),
        rest=raw.get("rest"),
        rest_type=rest_type,
        group=raw.get("group"),
        mutex=raw.get("mutex"),
        doc=raw.get("doc", ""),
    )


def build_table(data: Mapping[str, Any]) -> OptionTable:
    """Index parsed TOML data; RuntimeError on a malformed table (a bug, not a user error)."""
    options: dict[str, OptionDef] = {}
    long_names: dict[str, OptionDef] = {}
    shorts: dict[str, OptionDef] = {}
    env: dict[str, OptionDef] = {}
    for name, raw in data["options"].items():
        opt = _option(name, raw)
        options[name] = opt
        for key, index in [(n, long_names) for n in (name, *opt.aliases)] + [
            (e, env) for e in opt.env
        ]:
            if key in index:
                raise RuntimeError(f"sbatch_options.toml: {key!r} is defined twice")
            index[key] = opt
        if opt.short is not None:
            if opt.short in shorts:
                raise RuntimeError(f"sbatch_options.toml: short -{opt.short} is defined twice")
            shorts[opt.short] = opt
    return OptionTable(
        options=MappingProxyType(options),
        long_names=MappingProxyType(long_names),
        shorts=MappingProxyType(shorts),
        env=MappingProxyType(env),
        env_unsupported=MappingProxyType(dict(data.get("env_unsupported", {}))),
    )


@functools.cache
def option_table() -> OptionTable:
    """The table shipped in the package (read once per process)."""
    text = resources.files("hyperion.jobspec").joinpath("sbatch_options.toml").read_text("utf-8")
    return build_table(tomllib.loads(text))
