"""``#SBATCH`` directives, read exactly as sbatch 22.05 reads them.

Rules (src/sbatch/sbatch.c and ``_opt_batch_script``/``_get_argument`` in src/sbatch/opt.c):

* The script must start with ``#!``; empty scripts, NUL bytes and DOS line breaks are refused.
* A directive is a line starting with ``#SBATCH`` in column 1. An indented ``#SBATCH`` is an
  ordinary comment for sbatch, so it is ignored here too (and reported as a warning).
* Blank lines and comment lines (first non-blank character ``#``) are skipped; the first other
  line is the first command and ends directive processing. ``#SBATCH`` lines after it are
  ignored, with a warning.
* Words are split on whitespace; single or double quotes group and are removed; a backslash
  makes the next character literal; an unquoted, unescaped ``#`` starts a comment (anywhere
  in the line, also inside a word: ``--comment=a#b`` gives ``a``).
* The words of all directive lines form one argument list, scanned like the command line.
  Words that are not options are refused (sbatch: "Invalid directive").

One deliberate difference: a quoted empty word (``""``) is an empty value here; sbatch stops
reading the line at it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from hyperion.errors import JobSpecError
from hyperion.jobspec.argv import ParsedOption, scan

MAGIC = "#SBATCH"
_SPACE = " \t\n\v\f\r"
_NEEDS_QUOTES = set(_SPACE) | {'"', "'", "\\", "#"}


class Directive(NamedTuple):
    """One option from the script: line number, canonical long name, value (None: flag)."""

    lineno: int
    option: str
    value: str | None


@dataclass(frozen=True, slots=True)
class ScriptDirectives:
    """Everything read from a script's header."""

    options: tuple[tuple[int, ParsedOption], ...]
    warnings: tuple[str, ...]
    first_command: int | None

    @property
    def directives(self) -> list[Directive]:
        return [Directive(n, p.option.name, p.value) for n, p in self.options]


def check_script(text: str) -> None:
    """Refuse what sbatch refuses before reading any directive."""
    if not text:
        raise JobSpecError("the batch script is empty")
    if not text.strip(_SPACE):
        raise JobSpecError("the batch script contains only whitespace")
    if "\0" in text:
        raise JobSpecError("the batch script contains a NUL character, which Slurm refuses")
    if "\r\n" in text:
        raise JobSpecError(
            "the batch script has DOS line breaks (\\r\\n) instead of UNIX ones (\\n)",
            hint="convert it, e.g. with dos2unix",
        )
    if not text.startswith("#!"):
        raise JobSpecError(
            "this does not look like a batch script: the first line must start with #! "
            "followed by the path to an interpreter",
            hint="add a first line such as #!/bin/bash",
        )


def split_directive(rest: str, lineno: int) -> list[str]:
    """The words of one ``#SBATCH`` line (the text after the magic word)."""
    words: list[str] = []
    i, n = 0, len(rest)
    while True:
        while i < n and rest[i] in _SPACE:
            i += 1
        if i >= n or rest[i] == "#":
            return words
        word: list[str] = []
        quote = ""
        while i < n and (quote or rest[i] not in _SPACE):
            ch = rest[i]
            i += 1
            if ch == "\\":  # escapes the next character, inside quotes too
                if i < n:
                    word.append(rest[i])
                    i += 1
            elif quote:
                if ch == quote:
                    quote = ""
                else:
                    word.append(ch)
            elif ch in "\"'":
                quote = ch
            elif ch == "#":
                words.append("".join(word))
                return words
            else:
                word.append(ch)
        if quote:
            raise JobSpecError(f"script line {lineno}: unmatched {quote} in the #SBATCH line")
        words.append("".join(word))


def read_directives(text: str) -> ScriptDirectives:
    """Check the script and read its directives, with warnings for lines sbatch ignores."""
    check_script(text)
    words: list[str] = []
    word_lines: list[int] = []
    warnings: list[str] = []
    first_command: int | None = None
    for lineno, line in enumerate(text.split("\n"), start=1):
        if first_command is not None:
            if line.startswith(MAGIC):
                warnings.append(
                    f"script line {lineno}: #SBATCH after the first command (line "
                    f"{first_command}) is ignored, as sbatch ignores it; move it above "
                    f"line {first_command}"
                )
            continue
        if line.startswith(MAGIC):
            found = split_directive(line[len(MAGIC) :], lineno)
            words.extend(found)
            word_lines.extend([lineno] * len(found))
            continue
        stripped = line.lstrip(_SPACE)
        if not stripped:
            continue
        if not stripped.startswith("#"):
            first_command = lineno
        elif stripped.startswith(MAGIC):
            warnings.append(
                f"script line {lineno}: an indented #SBATCH is not a directive for sbatch "
                "and is ignored; start the line with #SBATCH"
            )
        elif stripped.upper().startswith(MAGIC):
            warnings.append(
                f"script line {lineno}: '{stripped.split()[0]}' is not a directive (sbatch "
                "only reads '#SBATCH', in capitals) and is ignored"
            )

    def where(i: int) -> str:
        return f"script line {word_lines[i]}" if i < len(word_lines) else "the script"

    result = scan(words, where)
    if result.rest:
        bad_index = len(words) - len(result.rest)
        bad = result.rest[0]
        if bad.lower() in {"hetjob", "packjob"} or bad.startswith(":"):
            raise JobSpecError(
                f"{where(bad_index)}: heterogeneous jobs ('{bad}') are not supported by Hyperion"
            )
        raise JobSpecError(
            f"{where(bad_index)}: '{bad}' is not an sbatch option; #SBATCH lines may only "
            "contain options",
            hint='quote values that contain spaces, e.g. #SBATCH --job-name="my job"',
        )
    options = tuple((word_lines[p.index], p) for p in result.options)
    return ScriptDirectives(options, tuple(warnings), first_command)


def parse_script_directives(text: str) -> list[Directive]:
    """``#SBATCH`` options of ``text`` as (lineno, option, value); see :func:`read_directives`."""
    return read_directives(text).directives


def quote_directive_word(word: str) -> str:
    """``word`` written so that :func:`split_directive` gives it back unchanged."""
    if word and not (_NEEDS_QUOTES & set(word)):
        return word
    return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'


def format_directive(option: str, value: str | None) -> str:
    """One ``#SBATCH --option=value`` line."""
    word = f"--{option}" if value is None else f"--{option}={value}"
    return f"{MAGIC} {quote_directive_word(word)}"
