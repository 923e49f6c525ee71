"""The sbatch option table (sbatch_options.toml): content checked against Slurm 22.05."""

from __future__ import annotations

import pytest

from hyperion.jobspec import option_table
from hyperion.jobspec.table import build_table

# Input variables of sbatch 22.05 (src/sbatch/opt.c env_vars[]) that map to one option.
SBATCH_22_05_ENV = {
    "SBATCH_ACCOUNT": "account",
    "SBATCH_ARRAY_INX": "array",
    "SBATCH_CONSTRAINT": "constraint",
    "SBATCH_EXCLUSIVE": "exclusive",
    "SBATCH_EXPORT": "export",
    "SBATCH_GPUS": "gpus",
    "SBATCH_GPUS_PER_NODE": "gpus-per-node",
    "SBATCH_GRES": "gres",
    "SBATCH_JOB_NAME": "job-name",
    "SBATCH_MEM_PER_CPU": "mem-per-cpu",
    "SBATCH_MEM_PER_NODE": "mem",
    "SBATCH_PARTITION": "partition",
    "SBATCH_QOS": "qos",
    "SBATCH_REQUEUE": "requeue",
    "SBATCH_NO_REQUEUE": "no-requeue",
    "SBATCH_SIGNAL": "signal",
    "SBATCH_TIMELIMIT": "time",
    "SBATCH_WCKEY": "wckey",
    "SBATCH_CLUSTERS": "clusters",
    "SLURM_CLUSTERS": "clusters",
    "SLURM_HINT": "hint",
}

# Variables people expect but sbatch 22.05 does not read.
NOT_READ_BY_SBATCH = [
    "SBATCH_CPUS_PER_TASK",
    "SBATCH_NODES",
    "SBATCH_NTASKS",
    "SBATCH_HOLD",
    "SBATCH_CHDIR",
    "SBATCH_MEM",
    "SBATCH_TIME",
    "SBATCH_DEPENDENCY",
]

# Enabled keys of the v0.0.38 job_params table (src/plugins/openapi/v0.0.38/jobs.c, 22.05).
V0038_ENABLED_KEYS = set(
    """account account_gather_frequency array argv batch_features begin_time burst_buffer
    cluster_constraint comment constraint constraints core_specification cores_per_socket
    cpu_binding_hint cpu_frequency cpus_per_gpu cpus_per_task current_working_directory cwd
    deadline delay_boot dependency distribution environment exclude_nodes exclusive
    get_user_environment gpu_binding gpu_frequency gpus gpus_per_node gpus_per_socket
    gpus_per_task gres_flags gres hold job_name kill_on_invalid_dependency license licenses
    mail_type mail_user mcs_label memory_binding memory_per_cpu memory_per_gpu memory_per_node
    minimum_cpus_per_node minimum_nodes name nice nodelist node_list nodes no_kill no_requeue
    open_mode partition priority profile qos requeue reservation signal sockets_per_node
    spread_job standard_error standard_input standard_output tasks ntasks tasks_per_core
    ntasks_per_core ntasks_per_gpu tasks_per_node ntasks_per_node tasks_per_socket
    ntasks_per_socket ntasks_per_tres temporary_disk_per_node test_only thread_specification
    threads_per_core time_limit time_minimum umask wait_all_nodes wckey""".split()
)

BRIEF_OPTIONS = {
    "job-name": "J", "partition": "p", "account": "A", "qos": "q", "nodes": "N", "ntasks": "n",
    "cpus-per-task": "c", "gpus": "G", "time": "t", "output": "o", "error": "e", "input": "i",
    "array": "a", "dependency": "d", "begin": "b", "constraint": "C", "chdir": "D", "hold": "H",
    "licenses": "L", "distribution": "m", "nodelist": "w", "exclude": "x", "oversubscribe": "s",
    "ntasks-per-node": None, "mem": None, "mem-per-cpu": None, "mem-per-gpu": None, "gres": None,
    "gpus-per-node": None, "gpus-per-task": None, "time-min": None, "deadline": None,
    "signal": None, "requeue": None, "no-requeue": None, "exclusive": None, "mail-type": None,
    "mail-user": None, "export": None, "export-file": None, "comment": None, "wckey": None,
    "parsable": None, "test-only": None, "nice": None, "priority": None, "reservation": None,
    "open-mode": None, "kill-on-invalid-dep": None, "uid": None, "get-user-env": None,
    "propagate": None, "mincpus": None, "tmp": None, "threads-per-core": None,
    "ntasks-per-gpu": None, "cpus-per-gpu": None, "spread-job": None, "switches": None,
}  # fmt: skip


def test_table_is_loaded_once() -> None:
    assert option_table() is option_table()


@pytest.mark.parametrize(("name", "short"), sorted(BRIEF_OPTIONS.items()))
def test_required_options_exist_with_their_short_alias(name: str, short: str | None) -> None:
    opt = option_table().options[name]
    assert opt.short == short
    if short:
        assert option_table().shorts[short] is opt


@pytest.mark.parametrize(("var", "name"), sorted(SBATCH_22_05_ENV.items()))
def test_env_variables_map_to_their_option(var: str, name: str) -> None:
    assert option_table().env[var].name == name


@pytest.mark.parametrize("var", NOT_READ_BY_SBATCH)
def test_variables_sbatch_does_not_read_are_absent(var: str) -> None:
    assert var not in option_table().env


def test_optional_arguments_match_sbatch() -> None:
    optional = {n for n, o in option_table().options.items() if o.arg == "optional"}
    assert optional == {"exclusive", "get-user-env", "nice", "no-kill", "propagate"}
    flags = {n for n, o in option_table().options.items() if o.arg == "none"}
    assert {"requeue", "no-requeue", "hold", "parsable", "test-only", "wait"} <= flags


def test_treatments() -> None:
    opts = option_table().options
    assert {n for n, o in opts.items() if o.treatment == "translated"} == {
        "partition", "account", "qos", "time", "gres", "gpus", "gpus-per-node",
        "gpus-per-socket", "gpus-per-task",
    }  # fmt: skip
    assert {n for n, o in opts.items() if o.treatment == "refuse"} == {"uid", "gid"}
    for name in ("parsable", "test-only", "wait", "wrap", "clusters"):
        assert opts[name].treatment == "hyperion"


def test_rest_keys_are_enabled_v0038_keys() -> None:
    keys = {o.rest for o in option_table().options.values() if o.rest}
    assert keys <= V0038_ENABLED_KEYS
    assert option_table().options["no-requeue"].rest == "no_requeue"
    for name in ("export", "oversubscribe", "propagate", "switches", "overcommit"):
        assert option_table().options[name].rest is None


def test_aliases() -> None:
    table = option_table()
    assert table.long_names["cluster"].name == "clusters"
    assert table.long_names["tasks-per-node"].name == "ntasks-per-node"


def _raw(**option: object) -> dict[str, object]:
    return {"options": {"x": {"arg": "required", "type": "string", "treatment": "pass", **option}}}


@pytest.mark.parametrize(
    "bad",
    [
        {"type": "nonsense"},
        {"arg": "maybe"},
        {"treatment": "drop"},
        {"type": "flag"},  # a flag cannot take a required value
        {"short": "xy"},
        {"rest_type": "float"},
        {"colour": "red"},
    ],
)
def test_malformed_table_is_refused(bad: dict[str, object]) -> None:
    with pytest.raises(RuntimeError, match="'x'"):
        build_table(_raw(**bad))


def test_duplicate_names_are_refused() -> None:
    data = _raw(aliases=["y"])
    data["options"]["y"] = {"arg": "none", "type": "flag", "treatment": "pass"}  # type: ignore[index]
    with pytest.raises(RuntimeError, match="defined twice"):
        build_table(data)


def test_prefix_of_several_aliases_of_one_option_is_not_ambiguous() -> None:
    # glibc getopt_long: candidates with the same meaning do not make a prefix ambiguous.
    table = build_table(
        {
            "options": {
                "colour": {"arg": "none", "type": "flag", "treatment": "pass",
                           "aliases": ["colours"]},
                "column": {"arg": "none", "type": "flag", "treatment": "pass"},
            }
        }
    )  # fmt: skip
    assert table.long_matches("colou") == ["colour"]
    assert table.long_matches("colours") == ["colours"]
    assert table.long_matches("col") == ["colour", "colours", "column"]
    assert table.long_matches("x") == []
