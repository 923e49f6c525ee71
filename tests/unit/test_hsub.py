"""hsub's argument handling, script input and output (no daemon: the client is replaced)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from hyperion.cli import hsub
from hyperion.cli.hsub import main, parse_args

JOB = {"id": "h0ABCDE", "name": "job", "user": "alice", "state": "PENDING", "site": "alpha",
       "partition": "cpu", "slurm_job_id": 4242, "attempts": []}  # fmt: skip
DECISION = {
    "site": "alpha", "partition": "cpu", "reason": "earliest estimated start",
    "policy": "earliest-start", "scores": {"alpha": 12.0, "beta": 340.5},
    "candidates": [
        {"site": "beta", "partition": "gpu", "est_start": 1.9e9, "cost": 2.5,
         "feasible": True, "why_not": None},
        {"site": "alpha", "partition": "cpu", "est_start": 1.9e9, "cost": 0.0,
         "feasible": True, "why_not": None},
        {"site": "gamma", "partition": None, "est_start": None, "cost": None,
         "feasible": False, "why_not": "no partition has 8 GPUs per node"},
    ],
}  # fmt: skip


class FakeClient:
    """Records what hsub would send to hyperiond; answers like the API."""

    def __init__(self, warnings: Sequence[str] = ()) -> None:
        self.calls: list[dict[str, Any]] = []
        self.last_warnings = list(warnings)

    def submit(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        payload = {"decision": DECISION} if kwargs["test_only"] else {"job": JOB}
        return {"meta": {"api": "v1"}, "errors": [], "warnings": self.last_warnings, **payload}


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeClient:
    client = FakeClient()
    monkeypatch.setattr(hsub, "make_client", lambda: client)
    return client


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse() -> None:
        raise AssertionError("hsub contacted the daemon")

    monkeypatch.setattr(hsub, "make_client", refuse)


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "job.sh"
    path.write_text("#!/bin/sh\n#SBATCH -t 5\nsrun hostname\n")
    return path


def test_hyperion_options_are_taken_out_and_the_rest_kept_verbatim() -> None:
    words = ["-p", "gpu", "--site", "alpha", "-N2", "--policy=cheapest", "--json", "--parsable",
             "--test-only", "--mem", "4G", "job.sh", "--site", "x", "-p"]  # fmt: skip
    args = parse_args(words)
    assert args.argv == ("-p", "gpu", "-N2", "--mem", "4G")  # what the daemon gets as argv
    assert (args.site, args.policy) == ("alpha", "cheapest")
    assert args.json and args.parsable and args.test_only
    assert args.script_path == "job.sh"
    assert args.script_args == ("--site", "x", "-p")  # the script's, never parsed


def test_double_dash_ends_the_options() -> None:
    args = parse_args(["-J", "n", "--", "--site.sh", "a"])
    assert args.argv == ("-J", "n", "--") and args.site is None
    assert (args.script_path, args.script_args) == ("--site.sh", ("a",))


def test_getopt_prefixes_apply_to_hyperion_options_too() -> None:
    args = parse_args(["--sit=beta", "--pol", "cheapest", "job.sh"])
    assert (args.site, args.policy) == ("beta", "cheapest")
    assert args.argv == ()


@pytest.mark.usefixtures("no_network")
def test_unknown_option_fails_fast_with_a_suggestion(
    capsys: pytest.CaptureFixture[str], script: Path
) -> None:
    assert main(["--partiton=gpu", str(script)]) == 1
    err = capsys.readouterr().err
    assert "hsub: error: unknown sbatch option '--partiton'" in err
    assert "did you mean --partition" in err


@pytest.mark.usefixtures("no_network")
@pytest.mark.parametrize(
    ("words", "message"),
    [
        (["--wrap", "hostname", "job.sh"], "--wrap cannot be combined with a job script"),
        (["--site="], "--site needs a non-empty value"),
        (["-W", "job.sh"], "--wait (-W) is not supported"),
        (["--time"], "option --time needs a value"),
        (["/does/not/exist.sh"], "job script '/does/not/exist.sh' does not exist"),
    ],
)
def test_local_errors_exit_1(
    capsys: pytest.CaptureFixture[str], words: list[str], message: str
) -> None:
    assert main(words) == 1
    assert message in capsys.readouterr().err


def test_submit_sends_script_env_and_cwd(
    fake: FakeClient, script: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["-p", "cpu", "--site", "alpha", str(script), "in.dat"]) == 0
    (call,) = fake.calls
    assert call["argv"] == ("-p", "cpu")
    assert (call["site"], call["policy"]) == ("alpha", None)
    assert call["script"] == script.read_text()
    assert call["script_path"] == str(script.resolve())
    assert call["script_args"] == ("in.dat",)
    assert call["env"] == dict(os.environ)
    assert call["cwd"] == os.getcwd()
    assert call["test_only"] is False
    assert capsys.readouterr().out == "Submitted batch job h0ABCDE on site alpha (Slurm job 4242)\n"


def test_wrap_sends_no_script(fake: FakeClient) -> None:
    assert main(["--wrap", "srun hostname", "-n", "2"]) == 0
    (call,) = fake.calls
    assert call["argv"] == ("--wrap", "srun hostname", "-n", "2")
    assert call["script"] is None and call["script_path"] is None


def test_script_from_stdin(fake: FakeClient, monkeypatch: pytest.MonkeyPatch) -> None:
    text = "#!/bin/bash\n#SBATCH -N 1\necho hi\n"
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))
    assert main(["-J", "piped"]) == 0
    assert fake.calls[0]["script"] == text and fake.calls[0]["script_path"] is None


@pytest.mark.usefixtures("no_network")
def test_no_script_on_a_terminal_is_an_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stdin", Tty(""))
    assert main(["-N", "1"]) == 1
    assert "no job script given" in capsys.readouterr().err


def test_parsable_json_and_warnings(
    fake: FakeClient, script: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.last_warnings = ["SBATCH_FOO is set but sbatch 22.05 does not read it (ignored)"]
    assert main(["--parsable", str(script)]) == 0
    out = capsys.readouterr()
    assert out.out == "h0ABCDE;alpha\n"
    assert "hsub: warning: SBATCH_FOO is set" in out.err
    assert main(["--json", str(script)]) == 0
    assert json.loads(capsys.readouterr().out)["job"] == JOB
    assert main(["-Q", str(script)]) == 0
    assert capsys.readouterr().err == ""


def test_test_only_renders_the_candidates(
    fake: FakeClient,
    script: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "160")
    assert main(["--test-only", "--policy", "cheapest", str(script)]) == 0
    assert fake.calls[0]["test_only"] is True
    assert fake.calls[0]["argv"] == ()
    assert fake.calls[0]["policy"] == "cheapest"
    out = capsys.readouterr().out
    assert "would run on site alpha" in out and "earliest-start" in out
    for word in ("beta", "gamma", "no partition has 8 GPUs", "340", "2.50"):
        assert word in out


def test_help_is_printed_without_heavy_imports() -> None:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "hyperion.cli.hsub", "--help"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0
    for option in ("--site", "--policy", "--test-only", "--parsable", "--json", "--partition"):
        assert option in done.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()}
    heavy = {"rich", "httpx", "pydantic", "hyperion.config", "hyperion.api.client"}
    assert not heavy & imported
