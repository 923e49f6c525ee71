"""What the slurmrestd v0.0.38 job fields mean to the real Slurm 22.05 (cluster ``beta``).

Each test submits through ``RestConnector`` (``rest_job`` -> ``POST /job/submit`` as alice)
and reads back what slurmctld recorded with ``scontrol show job -o``, run here with beta's
``SLURM_CONF``. Expected values differ from Slurm's defaults on beta (JobRequeue=1,
OverSubscribe=OK, one node, one task, TimeLimit = the partition's MaxTime 1-00:00:00), so a
field that slurmrestd dropped or misread fails the test. Most jobs are held and never run;
every job is cancelled at the end of the module.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hyperion.config import HyperionConfig
from hyperion.errors import JobRejected
from hyperion.sites import SiteConnector, Submission, connect

SCRIPT = "#!/bin/sh\ntrue\n"
#: scontrol -o separates fields by spaces; a value may contain spaces (JobName, Comment)
_FIELD_START = re.compile(r"\s+(?=[A-Za-z][\w:/().-]*=)")


class Beta:
    """The beta connector, the jobs this module submitted, and scontrol to read them back."""

    def __init__(self, conn: SiteConnector, testbed: Path) -> None:
        self.conn = conn
        self.cwd = str(testbed / "share" / "beta")
        self.slurm_conf = str(testbed / "beta" / "slurm.conf")
        self.submitted: list[str] = []

    def submit(
        self, *options: tuple[str, str | None], script: str = SCRIPT, hold: bool = True
    ) -> str:
        opts = (("hold", None), *options) if hold else options
        job_id = self.conn.submit(
            Submission(script=script, user="alice", cwd=self.cwd, options=opts)
        )
        self.submitted.append(job_id)
        return job_id

    def show(self, job_id: str) -> dict[str, str]:
        """``scontrol show job -o`` as Key -> Value (the first record of an array)."""
        proc = subprocess.run(
            ["scontrol", "show", "job", "-o", job_id],
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ, "SLURM_CONF": self.slurm_conf},
            check=False,
        )
        assert proc.returncode == 0, f"scontrol show job {job_id}: {proc.stderr.strip()}"
        line = proc.stdout.splitlines()[0].strip()
        return dict(part.split("=", 1) for part in _FIELD_START.split(line))

    def submit_and_show(
        self, *options: tuple[str, str | None], script: str = SCRIPT
    ) -> dict[str, str]:
        job = self.show(self.submit(*options, script=script))
        assert job["UserId"].startswith("alice("), job["UserId"]
        return job


@pytest.fixture(scope="module")
def beta(config: HyperionConfig, testbed: Path) -> Iterator[Beta]:
    conn = connect(config.site("beta"))
    b = Beta(conn, testbed)
    try:
        yield b
    finally:
        try:
            conn.cancel(b.submitted)
        finally:
            conn.close()


def _epoch(slurm_time: str) -> float:
    """A Slurm timestamp (local time, as scontrol prints it) in epoch seconds."""
    return time.mktime(time.strptime(slurm_time, "%Y-%m-%dT%H:%M:%S"))


# ---- defaults: what the other tests must differ from ---------------------------------------


def test_beta_defaults(beta: Beta) -> None:
    job = beta.submit_and_show()
    assert job["JobState"] == "PENDING" and job["Reason"] == "JobHeldUser"
    assert (job["Requeue"], job["OverSubscribe"], job["NumNodes"], job["NumTasks"]) == (
        "1", "OK", "1", "1",
    )  # fmt: skip
    assert job["TimeLimit"] == "1-00:00:00"
    assert job["Command"] == "(null)"  # no argv is sent: it crashes slurmrestd 22.05.8
    assert "TresPerNode" not in job and "MinMemoryNode" not in job


# ---- nodes, tasks, CPUs, memory, time -------------------------------------------------------


def test_nodes_range(beta: Beta) -> None:
    job = beta.submit_and_show(("nodes", "2-3"))
    assert job["NumNodes"] == "2-3"


@pytest.mark.parametrize(("cpus_per_task", "cpus"), [("1", "2"), ("2", "4")])
def test_ntasks_and_cpus_per_task(beta: Beta, cpus_per_task: str, cpus: str) -> None:
    # (1 CPU per task is also the default: the second case shows that the field is read)
    job = beta.submit_and_show(("ntasks", "2"), ("cpus-per-task", cpus_per_task))
    assert (job["NumTasks"], job["CPUs/Task"], job["NumCPUs"]) == ("2", cpus_per_task, cpus)


def test_ntasks_per_node(beta: Beta) -> None:
    job = beta.submit_and_show(("ntasks-per-node", "2"))
    assert job["NtasksPerN:B:S:C"].startswith("2:")


def test_memory_per_node(beta: Beta) -> None:
    assert beta.submit_and_show(("mem", "1G"))["MinMemoryNode"] == "1G"


def test_time_limit(beta: Beta) -> None:
    assert beta.submit_and_show(("time", "1:30:00"))["TimeLimit"] == "01:30:00"


def test_time_limit_rounded_up_to_minutes(beta: Beta) -> None:
    assert beta.submit_and_show(("time", "10:01"))["TimeLimit"] == "00:11:00"


def test_unlimited_time(beta: Beta) -> None:
    # time_limit 0 is "no limit", as with sbatch --time=UNLIMITED (slurmrestd adds the notice
    # "Requested partition configuration not available now": the partition has a MaxTime)
    assert beta.submit_and_show(("time", "UNLIMITED"))["TimeLimit"] == "UNLIMITED"


# ---- requeue, exclusive ---------------------------------------------------------------------


def test_no_requeue(beta: Beta) -> None:
    assert beta.submit_and_show(("no-requeue", None))["Requeue"] == "0"


def test_requeue(beta: Beta) -> None:
    # Requeue=1 is also beta's default (JobRequeue=1): --requeue shows only against a
    # --no-requeue directive, which it must override (and which alone gives Requeue=0)
    script = "#!/bin/sh\n#SBATCH --no-requeue\ntrue\n"
    assert beta.submit_and_show(script=script)["Requeue"] == "0"
    assert beta.submit_and_show(("requeue", None), script=script)["Requeue"] == "1"


def test_exclusive(beta: Beta) -> None:
    assert beta.submit_and_show(("exclusive", None))["OverSubscribe"] == "NO"


def test_exclusive_user(beta: Beta) -> None:
    assert beta.submit_and_show(("exclusive", "user"))["OverSubscribe"] == "USER"


# ---- begin ----------------------------------------------------------------------------------


def test_begin_absolute_iso_time(beta: Beta) -> None:
    # slurmrestd reads it in its own local time zone, as sbatch would on the cluster; the
    # testbed's daemons and this test share the machine's zone
    when = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(time.time() + 3600))
    job = beta.submit_and_show(("begin", when))
    assert job["EligibleTime"] == when
    assert job["StartTime"] == when


def test_begin_relative(beta: Beta) -> None:
    job = beta.submit_and_show(("begin", "now+1hour"))
    delay = _epoch(job["EligibleTime"]) - _epoch(job["SubmitTime"])
    assert 3600 - 5 <= delay <= 3600 + 5, job["EligibleTime"]


def test_begin_epoch_with_uts_prefix(beta: Beta) -> None:
    at = int(time.time()) + 7200
    job = beta.submit_and_show(("begin", f"uts{at}"))
    assert _epoch(job["EligibleTime"]) == at


@pytest.mark.parametrize("value", ["now+2h", "1790000000", "2030-01-31T12:00:00Z"])
def test_begin_forms_sbatch_refuses_are_refused(beta: Beta, value: str) -> None:
    with pytest.raises(JobRejected, match="Unable to parse time"):
        beta.submit(("begin", value))


# ---- GPUs -----------------------------------------------------------------------------------


def test_gpus_per_node(beta: Beta) -> None:
    job = beta.submit_and_show(("gpus-per-node", "1"))
    assert job["TresPerNode"] == "gres:gpu:1"
    assert "TresPerJob" not in job


def test_gres(beta: Beta) -> None:
    assert beta.submit_and_show(("gres", "gpu:2"))["TresPerNode"] == "gres:gpu:2"


def test_gpus_per_job(beta: Beta) -> None:
    job = beta.submit_and_show(("gpus", "2"))
    assert job["TresPerJob"] == "gres:gpu:2"
    assert "TresPerNode" not in job


# ---- text, dependency, array ----------------------------------------------------------------


def test_name_and_comment_with_spaces_and_quotes(beta: Beta) -> None:
    name = "two words \"double\" 'single'"
    comment = 'a comment; with $(no) `expansion` and "quotes"'
    job = beta.submit_and_show(("job-name", name), ("comment", comment))
    assert (job["JobName"], job["Comment"]) == (name, comment)


def test_dependency(beta: Beta) -> None:
    first = beta.submit()
    job = beta.submit_and_show(("dependency", f"afterok:{first}"))
    assert job["Dependency"].startswith(f"afterok:{first}"), job["Dependency"]


def test_array(beta: Beta) -> None:
    job_id = beta.submit(("array", "0-2"))
    job = beta.show(job_id)
    assert (job["ArrayJobId"], job["ArrayTaskId"]) == (job_id, "0-2")


# ---- #SBATCH lines: slurmrestd does not read them; rest_job applies them -------------------


def test_directives_in_the_script(beta: Beta) -> None:
    script = (
        "#!/bin/sh\n#SBATCH --job-name=fromscript\n#SBATCH --time=7\ntrue\n"
        "#SBATCH --comment=after-the-first-command\n"
    )
    job = beta.submit_and_show(script=script)
    assert (job["JobName"], job["TimeLimit"]) == ("fromscript", "00:07:00")
    assert job.get("Comment") is None  # sbatch stops reading directives at the first command


def test_option_overrides_a_directive(beta: Beta) -> None:
    script = "#!/bin/sh\n#SBATCH --job-name=fromscript\n#SBATCH --time=7\ntrue\n"
    job = beta.submit_and_show(("job-name", "fromoption"), script=script)
    assert (job["JobName"], job["TimeLimit"]) == ("fromoption", "00:07:00")
