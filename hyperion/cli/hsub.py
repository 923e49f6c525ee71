"""``hsub``: submit a batch job to the federation, as sbatch would.

    hsub [sbatch options] [script [args...]]

The script comes from the file named, else from standard input when it is not a terminal, else
from ``--wrap``. Hyperion's own options: ``--site NAME``, ``--policy NAME``, ``--carbon-flex D``,
``--test-only``, ``--parsable``, ``--json``: consumed here (``--site``, ``--policy`` and
``--carbon-flex`` are sent to hyperiond as the fields ``site``, ``policy`` and ``carbon_flex``,
``--test-only`` as ``test_only``). Every other option is
checked here (an unknown one fails at once, with suggestions, before the daemon is contacted) and
sent verbatim as ``argv``; hyperiond resolves it with the environment and the ``#SBATCH`` lines.
The environment sent is the whole of ``os.environ`` (the job's, as sbatch's ``--export=ALL``).

Nothing heavy is imported at start-up: ``--help`` stays fast; rich only renders ``--test-only``.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hyperion.cli.common import run_main
from hyperion.errors import JobSpecError

if TYPE_CHECKING:
    from hyperion.api.client import Client
    from hyperion.jobspec import OptionTable

PROG = "hsub"
USAGE = "usage: hsub [sbatch options] [script [args...]]"
#: Hyperion's options that sbatch does not have: (name, metavar or None, help)
EXTRA_OPTIONS: tuple[tuple[str, str | None, str], ...] = (
    ("site", "NAME", "run on this site only (pin the job)"),
    ("policy", "NAME", "placement policy for this job (default: the daemon's)"),
    ("carbon-flex", "DURATION", "the start may wait this long for greener power (6h, 90m)"),
    ("json", None, "print hyperiond's answer as JSON"),
)
HELP = f"""{USAGE}

Submit a batch job to Hyperion, which picks the Slurm cluster (site) it runs on and
submits it there with sbatch. Takes sbatch's options and script; the script is read
from the file named, from standard input, or made with --wrap.

Hyperion options:
  --site=NAME      run on this site only (pin the job)
  --policy=NAME    placement policy for this job (default: the daemon's)
  --carbon-flex=DURATION
                   the job may start up to DURATION late for greener power
                   (6h, 90m, 30s, 1d12h, or a Slurm time such as 1:30:00); with a
                   carbon-aware policy it may wait in Hyperion's queue (QUEUED,
                   "held for low carbon until ..."). sbatch's --deadline=TIME
                   keeps its meaning in Slurm and also bounds the wait
  --test-only      show where the job would run and every candidate site
                   (estimated start, cost, gCO2/kWh now and at the start,
                   feasibility, score); submit nothing
  --parsable       print only "<hyperion-id>;<site>"
  --json           print hyperiond's answer as JSON
  -h, --help       show this help, with every sbatch option
  -V, --version    print the version

Precedence as in sbatch: command line > SBATCH_* variables > #SBATCH lines.
hyperiond is reached at $HYPERION_SOCKET (default /run/hyperion/hyperiond.sock),
or over TCP at $HYPERION_URL (http://host:port) with a MUNGE credential.
Exit status: 0 when submitted, 1 on any error."""


@dataclass(frozen=True, slots=True)
class HsubArgs:
    """hsub's command line, split.

    ``argv``: the options without Hyperion's own, verbatim (sent to hyperiond);
    ``script_path``/``script_args``: the first word that is not an option and the words after
    it (never parsed as options).
    """

    argv: tuple[str, ...]
    script_path: str | None
    script_args: tuple[str, ...]
    site: str | None = None
    policy: str | None = None
    carbon_flex: str | None = None
    test_only: bool = False
    json: bool = False
    parsable: bool = False
    quiet: bool = False
    wrap: str | None = None
    action: str | None = None  # "help", "usage" or "version"


def _extended_table() -> OptionTable:
    """sbatch's option table plus Hyperion's own long options (so getopt rules apply to all)."""
    from dataclasses import replace

    from hyperion.jobspec import OptionTable, option_table

    base = option_table()
    template = base.options["parsable"]
    extra = {
        name: replace(
            template,
            name=name,
            arg="required" if metavar else "none",
            type="string" if metavar else "flag",
            doc=doc,
        )
        for name, metavar, doc in EXTRA_OPTIONS
    }
    return OptionTable(
        options={**base.options, **extra},
        long_names={**base.long_names, **extra},
        shorts=base.shorts,
        env=base.env,
        env_unsupported=base.env_unsupported,
    )


def parse_args(words: Sequence[str]) -> HsubArgs:
    """Split hsub's arguments; :class:`JobSpecError` (with suggestions) on a bad option."""
    from hyperion.jobspec import parse_cli_args
    from hyperion.jobspec.argv import scan

    words = list(words)
    result = scan(words, lambda i: "the command line", _extended_table())
    n_options = len(words) - len(result.rest)
    own = {name for name, _, _ in EXTRA_OPTIONS} | {"test-only", "parsable"}
    drop: set[int] = set()
    values: dict[str, str | None] = {}
    for p in result.options:
        values[p.option.name] = p.value
        if p.option.name in own:
            attached = "=" in words[p.index] or p.option.arg == "none"
            drop.update({p.index} if attached else {p.index, p.index + 1})
    argv = tuple(w for i, w in enumerate(words[:n_options]) if i not in drop)
    cli = parse_cli_args([*argv, *result.rest])  # sbatch's own check, as the daemon does
    names = [p.option.name for p in result.options]
    action = next((a for a in ("help", "usage", "version") if a in names), None)
    for name in ("site", "policy"):
        if name in values and not values[name]:
            raise JobSpecError(f"--{name} needs a non-empty value", hint=f"write --{name}=NAME")
    flex = values.get("carbon-flex")
    if "carbon-flex" in values:
        from hyperion.jobspec.when import parse_flex

        parse_flex(flex or "")  # a bad value fails here, before the daemon is contacted
    if "wait" in names and action is None:
        raise JobSpecError(
            "--wait (-W) is not supported by hsub yet", hint="follow the job with `hq <id>`"
        )
    return HsubArgs(
        argv=argv,
        script_path=cli.script_path,
        script_args=cli.script_args,
        site=values.get("site"),
        policy=values.get("policy"),
        carbon_flex=flex,
        test_only="test-only" in names,
        json="json" in names,
        parsable="parsable" in names,
        quiet="quiet" in names,
        wrap=values.get("wrap"),
        action=action,
    )


def read_script(args: HsubArgs) -> tuple[str | None, str | None]:
    """(script text, absolute script path): from the file, stdin, or None with ``--wrap``."""
    if args.wrap is not None:
        if args.script_path is not None:
            raise JobSpecError(
                f"--wrap cannot be combined with a job script ({args.script_path!r})",
                hint="give either a script or --wrap '<command>'",
            )
        return None, None
    if args.script_path is None:
        if sys.stdin is None or sys.stdin.isatty():
            raise JobSpecError(
                "no job script given",
                hint="name a script file, pipe one on standard input, or use --wrap '<command>'",
            )
        text = sys.stdin.read()
        if not text.strip():
            raise JobSpecError("the job script read from standard input is empty")
        return text, None
    path = os.path.abspath(args.script_path)
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        raise JobSpecError(f"job script {args.script_path!r} does not exist") from None
    except UnicodeDecodeError:
        raise JobSpecError(f"job script {args.script_path!r} is not UTF-8 text") from None
    except OSError as exc:
        raise JobSpecError(f"cannot read job script {args.script_path!r}: {exc.strerror}") from None
    if not text.strip():
        raise JobSpecError(f"job script {args.script_path!r} is empty")
    return text, path


def make_client() -> Client:
    """The API client (a seam for tests)."""
    from hyperion.api.client import Client

    return Client()


def sbatch_help() -> str:
    """Every sbatch option hsub accepts, one line each, from the option table."""
    from hyperion.jobspec import option_table

    lines = ["", "", "sbatch options (sbatch 22.05; see `man sbatch`):"]
    for opt in sorted(option_table().options.values(), key=lambda o: o.name):
        short = f"-{opt.short}, " if opt.short else "    "
        meta = "VALUE" if opt.type in ("string", "flag", "counter") else opt.type.upper()
        arg = {"none": "", "required": f"={meta}", "optional": f"[={meta}]"}[opt.arg]
        note = "" if opt.treatment != "refuse" else " (refused by Hyperion)"
        lines.append(f"  {short + '--' + opt.name + arg:<30} {opt.doc}{note}")
    return "\n".join(lines)


def _submitted_line(job: dict[str, Any]) -> str:
    jid, site, slurm = job.get("id"), job.get("site"), job.get("slurm_job_id")
    if site and slurm is not None:
        return f"Submitted batch job {jid} on site {site} (Slurm job {slurm})"
    if site:
        return f"Submitted batch job {jid} on site {site}"
    reason = f": {job['reason']}" if job.get("reason") else ""
    return f"Submitted batch job {jid} ({job.get('state') or 'QUEUED'}{reason})"


def _run(words: Sequence[str]) -> int:
    args = parse_args(words)
    if args.action is not None:
        return _action(args.action)
    script, script_path = read_script(args)
    client = make_client()
    doc = client.submit(
        argv=args.argv,
        script=script,
        script_path=script_path,
        script_args=args.script_args,
        env=dict(os.environ),
        cwd=os.getcwd(),
        test_only=args.test_only,
        site=args.site,
        policy=args.policy,
        carbon_flex=args.carbon_flex,
    )
    if not args.quiet:
        for warning in client.last_warnings:
            print(f"{PROG}: warning: {warning}", file=sys.stderr)
    if args.json:
        json.dump(doc, sys.stdout, indent=2)
        print()
    elif args.test_only:
        from rich.console import Console

        from hyperion.cli.render import decision_view

        Console().print(decision_view(doc["decision"]))
    else:
        job = doc["job"]
        if args.parsable:
            print(f"{job.get('id')};{job['site']}" if job.get("site") else str(job.get("id")))
        else:
            print(_submitted_line(job))
    return 0


def _action(action: str) -> int:
    if action == "version":
        from hyperion import __version__

        print(f"hsub (hyperion) {__version__}")
    elif action == "usage":
        print(USAGE)
    else:
        print(HELP + sbatch_help())
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    if words[:1] in (["-h"], ["--help"]):  # fast path: no client, no rich
        return _action("help")
    return run_main(lambda: _run(words), prog=PROG)


if __name__ == "__main__":
    sys.exit(main())
