"""sbatch-compatible job specifications: parse, resolve, translate per site, render for Slurm.

    spec = resolve(argv, env, script_text)        # command line > SBATCH_* env > #SBATCH
    request = to_request(spec)                    # site-neutral resources for placement
    site_spec = translate(spec, site)             # partition/account/qos/GPU names, time check
    argv = to_sbatch_argv(site_spec, {"parsable": None})
    body = to_rest_submission(site_spec, environment=env)   # slurmrestd v0.0.38

The sbatch option table is data: ``sbatch_options.toml`` (see :func:`option_table`).
"""

from hyperion.jobspec.render import to_directives, to_rest_job, to_rest_submission, to_sbatch_argv
from hyperion.jobspec.request import to_request
from hyperion.jobspec.script import (
    Directive,
    ScriptDirectives,
    format_directive,
    parse_script_directives,
    read_directives,
)
from hyperion.jobspec.spec import CliArgs, JobSpec, OptionValue, Source, parse_cli_args, resolve
from hyperion.jobspec.table import OptionDef, OptionTable, option_table
from hyperion.jobspec.translate import PartitionLike, SiteLike, translate
from hyperion.jobspec.values import (
    GresItem,
    format_time,
    parse_gpus,
    parse_gres,
    parse_memory,
    parse_nodes,
    parse_time,
    parse_time_limit,
)

__all__ = [
    "CliArgs",
    "Directive",
    "GresItem",
    "JobSpec",
    "OptionDef",
    "OptionTable",
    "OptionValue",
    "PartitionLike",
    "ScriptDirectives",
    "SiteLike",
    "Source",
    "format_directive",
    "format_time",
    "option_table",
    "parse_cli_args",
    "parse_gpus",
    "parse_gres",
    "parse_memory",
    "parse_nodes",
    "parse_script_directives",
    "parse_time",
    "parse_time_limit",
    "read_directives",
    "resolve",
    "to_directives",
    "to_request",
    "to_rest_job",
    "to_rest_submission",
    "to_sbatch_argv",
    "translate",
]
