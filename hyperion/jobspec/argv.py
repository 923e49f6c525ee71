"""Option scanning as sbatch does it: glibc ``getopt_long`` with a ``+`` option string.

So: ``--opt=value``, ``--opt value``, ``-p value``, ``-pvalue``, clustered short flags
(``-Hv``), unique prefixes of long names (``--part``), optional arguments only in attached
form (``--exclusive=user``, ``-koff``), ``--`` ends the options, and scanning stops at the
first word that is not an option (the script path); the words after it are not options.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from hyperion.errors import JobSpecError
from hyperion.jobspec.table import OptionDef, OptionTable, option_table


@dataclass(frozen=True, slots=True)
class ParsedOption:
    """One option occurrence: which option, its value (None for flags), where it was."""

    option: OptionDef
    value: str | None
    given: str
    index: int


@dataclass(frozen=True, slots=True)
class Scan:
    """Options found, and the words left after them (the first is the script path)."""

    options: tuple[ParsedOption, ...]
    rest: tuple[str, ...]


def _unknown(given: str, where: str, table: OptionTable) -> JobSpecError:
    close = table.suggest(given.lstrip("-"))
    hint = (
        "did you mean " + " or ".join(f"--{c}" for c in close) + "?"
        if close
        else "run 'hsub --help' to list the sbatch options"
    )
    return JobSpecError(f"unknown sbatch option '{given}' ({where})", hint=hint)


def scan(
    words: Sequence[str], where: Callable[[int], str], table: OptionTable | None = None
) -> Scan:
    """Scan ``words`` like sbatch's getopt_long; ``where(i)`` names the place of word ``i``."""
    table = table or option_table()
    found: list[ParsedOption] = []
    i, n = 0, len(words)
    while i < n:
        word = words[i]
        if word == "--":
            i += 1
            break
        if not word.startswith("-") or word == "-":
            break
        start = i
        if word.startswith("--"):
            name, eq, attached = word[2:].partition("=")
            matches = table.long_matches(name)
            if not matches:
                raise _unknown(f"--{name}", where(i), table)
            if len(matches) > 1:
                raise JobSpecError(
                    f"option '--{name}' is ambiguous ({where(i)}); it could be "
                    + ", ".join(f"--{m}" for m in matches),
                    hint="write more of the option name",
                )
            opt = table.long_names[matches[0]]
            if opt.arg == "none":
                if eq:
                    raise JobSpecError(
                        f"option {opt.flag} takes no value, but got '{word}' ({where(i)})"
                    )
                value = None
            elif opt.arg == "optional" or eq:
                value = attached if eq else None
            elif i + 1 < n:
                i += 1
                value = words[i]
            else:
                raise _missing(opt, where(i))
            found.append(ParsedOption(opt, value, f"--{name}", start))
        else:
            j = 1
            while j < len(word):
                letter = word[j]
                short = table.shorts.get(letter)
                if short is None:
                    raise _unknown(f"-{letter}", where(i), table)
                tail = word[j + 1 :]
                if short.arg == "none":
                    found.append(ParsedOption(short, None, f"-{letter}", start))
                    j += 1
                    continue
                if short.arg == "optional" or tail:
                    value = tail or None
                elif i + 1 < n:
                    i += 1
                    value = words[i]
                else:
                    raise _missing(short, where(i))
                found.append(ParsedOption(short, value, f"-{letter}", start))
                break
        i += 1
    return Scan(tuple(found), tuple(words[i:]))


def _missing(opt: OptionDef, where: str) -> JobSpecError:
    return JobSpecError(
        f"option {opt.flag} needs a value ({where})",
        hint=f"write it as {opt.flag}=<value>" + (f" ({opt.doc})" if opt.doc else ""),
    )
