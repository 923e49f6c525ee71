"""The site-configuration loader: the testbed file, and bad files whose errors name file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from hyperion.config import (
    LocalAccess,
    PartitionConfig,
    RestAccess,
    SshAccess,
    load_config,
)
from hyperion.config.loader import expand_env
from hyperion.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
TESTBED = REPO / "site-configs" / "testbed.toml"


# --------------------------------------------------------------------------------------------
# site-configs/testbed.toml
# --------------------------------------------------------------------------------------------


def test_testbed_sites_and_access_kinds() -> None:
    cfg = load_config(TESTBED, env={})
    assert list(cfg.sites) == ["alpha", "beta", "gamma"]
    alpha, beta, gamma = (cfg.sites[n] for n in ("alpha", "beta", "gamma"))
    assert isinstance(alpha.access, SshAccess)
    assert isinstance(beta.access, RestAccess)
    assert isinstance(gamma.access, LocalAccess)
    assert (alpha.access.host, alpha.access.port, alpha.access.user,
            alpha.access.submit_as) == ("127.0.0.1", 16822, "root", "runuser")
    assert beta.access.url == "http://127.0.0.1:16820"
    assert beta.access.token_file is None
    assert cfg.source == TESTBED
    assert cfg.site("beta") is beta


def test_testbed_partitions() -> None:
    cfg = load_config(TESTBED, env={})
    batch = cfg.sites["alpha"].default_partition
    assert (batch.name, batch.nodes, batch.cores_per_node, batch.mem_per_node) == (
        "batch", 4, 2, 4000)
    assert batch.max_time_s == 172800  # "2-00:00:00"
    gpu, inference = cfg.sites["beta"].partitions
    assert (gpu.default, gpu.preemptible, gpu.gpus_per_node, gpu.gpu_type) == (
        True, True, 2, "a100")
    assert gpu.max_time == 86400
    assert (inference.max_time, inference.priority_tier, inference.default) == (14400, 10, False)
    assert cfg.sites["beta"].default_partition is gpu
    cloud = cfg.sites["gamma"].partitions[0]
    assert (cloud.cloud, cloud.boot_time, cloud.idle_poweroff) == (True, 2, 60)
    assert cfg.sites["beta"].prices.gpu_hour == pytest.approx(1.20)
    assert cfg.sites["gamma"].carbon_zone == "GB"


def test_testbed_paths_default_relative_to_the_file() -> None:
    cfg = load_config(TESTBED, env={})
    testbed_dir = (TESTBED.parent / "../.testbed").resolve()
    alpha = cfg.sites["alpha"].access
    assert isinstance(alpha, SshAccess)
    assert alpha.key_file == testbed_dir / "ssh" / "id_ed25519"
    assert alpha.known_hosts == testbed_dir / "ssh" / "known_hosts"
    assert alpha.slurm_conf == testbed_dir / "alpha" / "slurm.conf"
    beta = cfg.sites["beta"].access
    assert isinstance(beta, RestAccess)
    assert beta.jwt_key_file == testbed_dir / "beta" / "jwt.key"
    gamma = cfg.sites["gamma"].access
    assert isinstance(gamma, LocalAccess)
    assert gamma.slurm_conf == testbed_dir / "gamma" / "slurm.conf"
    for path in (alpha.key_file, alpha.known_hosts, beta.jwt_key_file, gamma.slurm_conf):
        assert path is not None and path.is_absolute()
        assert ".." not in path.parts


def test_testbed_dir_from_the_environment(tmp_path: Path) -> None:
    cfg = load_config(TESTBED, env={"HYPERION_TESTBED_DIR": str(tmp_path)})
    alpha = cfg.sites["alpha"].access
    assert isinstance(alpha, SshAccess)
    assert alpha.key_file == tmp_path / "ssh" / "id_ed25519"
    gamma = cfg.sites["gamma"].access
    assert isinstance(gamma, LocalAccess)
    assert gamma.slurm_conf == tmp_path / "gamma" / "slurm.conf"


def test_testbed_dir_relative_value_is_resolved_against_the_file() -> None:
    cfg = load_config(TESTBED, env={"HYPERION_TESTBED_DIR": "tb"})
    beta = cfg.sites["beta"].access
    assert isinstance(beta, RestAccess)
    assert beta.jwt_key_file == TESTBED.parent.resolve() / "tb" / "beta" / "jwt.key"


def test_the_env_argument_replaces_the_process_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HYPERION_TESTBED_DIR", str(tmp_path / "from-os"))
    from_os = load_config(TESTBED).sites["beta"].access
    explicit = load_config(TESTBED, env={}).sites["beta"].access
    assert isinstance(from_os, RestAccess) and isinstance(explicit, RestAccess)
    assert from_os.jwt_key_file == tmp_path / "from-os" / "beta" / "jwt.key"
    assert explicit.jwt_key_file == (REPO / ".testbed" / "beta" / "jwt.key").resolve()


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        ("${A}/x", {"A": "/a"}, "/a/x"),
        ("${A:-/d}/x", {}, "/d/x"),
        ("${A:-/d}/x", {"A": ""}, "/d/x"),  # set but empty counts as unset, as with :- in sh
        ("${A:-}", {}, ""),
        ("${A}-${B:-b}", {"A": "a"}, "a-b"),
        ("$A and $$ stay", {"A": "no"}, "$A and $$ stay"),
    ],
)
def test_expand_env(text: str, env: dict[str, str], expected: str) -> None:
    assert expand_env(text, env) == expected


# --------------------------------------------------------------------------------------------
# bad files
# --------------------------------------------------------------------------------------------

SITE = """\
[sites.{site}]
description = "test"
{site_extra}
[sites.{site}.access]
kind = "local"
slurm_conf = "/etc/slurm/slurm.conf"
{access_extra}
[[sites.{site}.partitions]]
name = "batch"
nodes = 2
cores_per_node = 4
mem_per_node = {mem}
max_time = {max_time}
{part_extra}
"""


def write(tmp_path: Path, text: str, name: str = "site.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def site_toml(*, site: str = "s1", site_extra: str = "", access_extra: str = "",
              mem: str = "4000", max_time: str = '"1:00:00"', part_extra: str = "") -> str:
    return SITE.format(site=site, site_extra=site_extra, access_extra=access_extra, mem=mem,
                       max_time=max_time, part_extra=part_extra)


def load_error(path: Path, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path, env=env if env is not None else {})
    assert info.value.exit_code == 2
    message = str(info.value)
    assert str(path) in message
    return message


def test_minimal_valid_file(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, site_toml()), env={})
    part = cfg.sites["s1"].partitions[0]
    assert (part.mem_per_node, part.max_time) == (4000, 3600)
    assert cfg.sites["s1"].name == "s1"


def test_missing_file(tmp_path: Path) -> None:
    message = load_error(tmp_path / "nope.toml")
    assert "no such configuration file" in message


def test_invalid_toml(tmp_path: Path) -> None:
    message = load_error(write(tmp_path, "[sites.a\nkind = \n"))
    assert "not valid TOML" in message


@pytest.mark.parametrize("text", ["", "[other]\nx = 1\n", "sites = 3\n", "[sites]\n"])
def test_no_sites(tmp_path: Path, text: str) -> None:
    message = load_error(write(tmp_path, text))
    assert "no [sites.NAME] tables" in message


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"site_extra": "colour = 'blue'"}, "sites.s1.colour"),
        ({"access_extra": "hostname = 'x'"}, "sites.s1.access.hostname"),
        ({"part_extra": "gpus = 2"}, "sites.s1.partitions.0.gpus"),
        ({"site_extra": "prices = { currency = 'EUR', cpu_hour = 1.0 }"},
         "sites.s1.prices.cpu_hour"),
    ],
)
def test_unknown_key_names_file_and_dotted_key(
    tmp_path: Path, kwargs: dict[str, str], key: str
) -> None:
    message = load_error(write(tmp_path, site_toml(**kwargs)))
    assert f"  {key}: unknown key" in message


def test_unknown_top_level_key(tmp_path: Path) -> None:
    text = "defaults = { partition = 'batch' }\n" + site_toml()
    message = load_error(write(tmp_path, text))
    assert "  defaults: unknown key" in message


@pytest.mark.parametrize(
    ("kwargs", "key", "words"),
    [
        ({"part_extra": "nodes_extra = 1"}, "sites.s1.partitions.0.nodes_extra", "unknown key"),
        ({"part_extra": "cloud = 'maybe'"}, "sites.s1.partitions.0.cloud", "valid boolean"),
        ({"site_extra": "enabled = 'yes please'"}, "sites.s1.enabled", "valid boolean"),
        ({"access_extra": "command_timeout_s = 'soon'"}, "sites.s1.access.command_timeout_s",
         "valid number"),
        ({"access_extra": "submit_as = 'su'"}, "sites.s1.access.submit_as", "'runuser'"),
    ],
)
def test_wrong_type(tmp_path: Path, kwargs: dict[str, str], key: str, words: str) -> None:
    message = load_error(write(tmp_path, site_toml(**kwargs)))
    line = next(ln for ln in message.splitlines() if ln.startswith(f"  {key}:"))
    assert words in line


def test_wrong_type_nodes(tmp_path: Path) -> None:
    text = site_toml().replace("nodes = 2", "nodes = 'two'")
    message = load_error(write(tmp_path, text))
    assert "  sites.s1.partitions.0.nodes: Input should be a valid integer" in message
    assert "(got 'two')" in message


def test_bad_duration(tmp_path: Path) -> None:
    message = load_error(write(tmp_path, site_toml(max_time='"1:99x"')))
    assert "  sites.s1.partitions.0.max_time: '1:99x' is not a duration" in message


def test_bad_memory(tmp_path: Path) -> None:
    message = load_error(write(tmp_path, site_toml(mem='"4X"')))
    assert "  sites.s1.partitions.0.mem_per_node: '4X' is not a memory size" in message


def test_rest_access_with_two_credentials(tmp_path: Path) -> None:
    text = """\
[sites.r]
[sites.r.access]
kind = "rest"
url = "http://127.0.0.1:6820"
jwt_key_file = "jwt.key"
token_file = "token"
token_user = "alice"
[[sites.r.partitions]]
name = "gpu"
nodes = 1
cores_per_node = 2
mem_per_node = 4000
"""
    message = load_error(write(tmp_path, text))
    assert "  sites.r.access: set exactly one of jwt_key_file or token_file" in message


def test_rest_access_with_no_credential_and_token_without_user(tmp_path: Path) -> None:
    base = """\
[sites.r]
[sites.r.access]
kind = "rest"
url = "http://127.0.0.1:6820"
{cred}
[[sites.r.partitions]]
name = "gpu"
nodes = 1
cores_per_node = 2
mem_per_node = 4000
"""
    message = load_error(write(tmp_path, base.format(cred="")))
    assert "sites.r.access: set exactly one of jwt_key_file or token_file" in message
    message = load_error(write(tmp_path, base.format(cred='token_file = "t"'), "b.toml"))
    assert "sites.r.access: token_file needs token_user" in message


def test_duplicate_partition_names(tmp_path: Path) -> None:
    extra = "\n[[sites.s1.partitions]]\nname = \"batch\"\nnodes = 1\ncores_per_node = 1\n" \
            "mem_per_node = 1000\n"
    message = load_error(write(tmp_path, site_toml() + extra))
    assert "  sites.s1: partition names must be unique, repeated: batch" in message


def test_two_default_partitions(tmp_path: Path) -> None:
    extra = "\n[[sites.s1.partitions]]\nname = \"other\"\nnodes = 1\ncores_per_node = 1\n" \
            "mem_per_node = 1000\ndefault = true\n"
    message = load_error(write(tmp_path, site_toml(part_extra="default = true") + extra))
    assert "  sites.s1: at most one partition may be default = true" in message


def test_unset_variable_without_default(tmp_path: Path) -> None:
    path = write(tmp_path, site_toml(access_extra='bin_dir = "${SLURM_BIN_DIR}/bin"'))
    message = load_error(path, env={})
    assert "sites.s1.access.bin_dir" in message
    assert "SLURM_BIN_DIR is not set" in message
    cfg = load_config(path, env={"SLURM_BIN_DIR": "/opt/slurm"})
    access = cfg.sites["s1"].access
    assert isinstance(access, LocalAccess)
    assert access.bin_dir == Path("/opt/slurm/bin")


def test_site_name_mismatch_and_bad_site_name(tmp_path: Path) -> None:
    message = load_error(write(tmp_path, site_toml(site_extra="name = 'other'")))
    assert "sites.s1.name is 'other'" in message
    message = load_error(write(tmp_path, site_toml(site='"bad name!"'), "b.toml"))
    assert "sites.bad name!.name" in message


# --------------------------------------------------------------------------------------------
# durations and memory (the schema's converters)
# --------------------------------------------------------------------------------------------


def _partition(**kw: object) -> PartitionConfig:
    fields: dict[str, object] = {"name": "p", "nodes": 1, "cores_per_node": 1,
                                 "mem_per_node": 1000}
    fields.update(kw)
    return PartitionConfig.model_validate(fields)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("2-00:00:00", 172800),
        ("1-12:30:05", 86400 + 12 * 3600 + 30 * 60 + 5),
        ("1-2", 86400 + 7200),  # D-HH
        ("4:00:00", 14400),
        ("04:00:00", 14400),
        ("30", 1800),  # a bare Slurm number is minutes
        ("30:15", 1815),  # MM:SS
        ("UNLIMITED", None),
        ("infinite", None),
        (3600, 3600),
        (0, 0),
        (None, None),
    ],
)
def test_durations(value: object, seconds: int | None) -> None:
    assert _partition(max_time=value).max_time == seconds


@pytest.mark.parametrize("value", ["1:99x", "an hour", "1h", "-5", "1-"])
def test_bad_durations(value: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        _partition(max_time=value)


@pytest.mark.parametrize(
    ("value", "mib"),
    [("4G", 4096), ("4g", 4096), ("4GiB", 4096), ("512M", 512), ("512", 512), ("2048K", 2),
     ("1T", 1024 * 1024), (4000, 4000)],
)
def test_memory(value: object, mib: int) -> None:
    assert _partition(mem_per_node=value).mem_per_node == mib


@pytest.mark.parametrize("value", ["4X", "four", "4.5G", ""])
def test_bad_memory_values(value: str) -> None:
    with pytest.raises(ValueError, match="is not a memory size"):
        _partition(mem_per_node=value)
