"""Slurm state table and the parsers of Slurm's JSON / scontrol / sbatch --test-only output.

Every document here is hand-written in the shapes Slurm 22.05 prints (squeue/sacct/sinfo --json,
slurmrestd v0.0.38); nothing is captured from a cluster.
"""

from __future__ import annotations

import calendar
from typing import Any

import pytest

from hyperion.sites.base import PartitionInfo
from hyperion.sites.slurm_json import (
    envelope_errors,
    gpu_count,
    key_values,
    partition_states,
    queued_jobs,
    rest_partitions,
    sacct_statuses,
    scontrol_partitions,
    slurm_duration,
    slurm_version,
    squeue_statuses,
    tres,
)
from hyperion.sites.slurm_json import test_only_estimate as parse_test_only
from hyperion.sites.states import SLURM_STATES, from_slurm
from hyperion.types import JobState, QueuedJob

# --------------------------------------------------------------------------------------------
# states.py: squeue(1) / sacct(1) "JOB STATE CODES", written out here independently of the table
# --------------------------------------------------------------------------------------------

#: (long name, short code) -> expected Hyperion state
DOC_STATES: dict[str, JobState] = {
    "BOOT_FAIL": JobState.BOOT_FAIL,  # BF
    "CANCELLED": JobState.CANCELLED,  # CA
    "COMPLETED": JobState.COMPLETED,  # CD
    "CONFIGURING": JobState.PENDING,  # CF: nodes booting, not yet running
    "COMPLETING": JobState.COMPLETING,  # CG
    "DEADLINE": JobState.DEADLINE,  # DL
    "FAILED": JobState.FAILED,  # F
    "NODE_FAIL": JobState.NODE_FAIL,  # NF
    "OUT_OF_MEMORY": JobState.OUT_OF_MEMORY,  # OOM
    "PENDING": JobState.PENDING,  # PD
    "PREEMPTED": JobState.PREEMPTED,  # PR
    "RUNNING": JobState.RUNNING,  # R
    "RESV_DEL_HOLD": JobState.PENDING,  # RD
    "REQUEUE_FED": JobState.REQUEUED,  # RF
    "REQUEUE_HOLD": JobState.REQUEUED,  # RH
    "REQUEUED": JobState.REQUEUED,  # RQ
    "RESIZING": JobState.RUNNING,  # RS
    "REVOKED": JobState.CANCELLED,  # RV
    "SIGNALING": JobState.RUNNING,  # SI
    "SPECIAL_EXIT": JobState.FAILED,  # SE
    "STAGE_OUT": JobState.COMPLETING,  # SO
    "STOPPED": JobState.SUSPENDED,  # ST
    "SUSPENDED": JobState.SUSPENDED,  # S
    "TIMEOUT": JobState.TIMEOUT,  # TO
}


@pytest.mark.parametrize(("code", "expected"), sorted(DOC_STATES.items()))
def test_every_documented_state_code_maps(code: str, expected: JobState) -> None:
    assert from_slurm(code) is expected


def test_the_table_covers_exactly_the_documented_codes() -> None:
    assert set(SLURM_STATES) == set(DOC_STATES)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("CANCELLED by 1000", JobState.CANCELLED),  # sacct appends the uid that cancelled
        ("CANCELLED by 0", JobState.CANCELLED),
        ("PENDING+REQUEUED", JobState.PENDING),
        ("RUNNING+COMPLETING", JobState.RUNNING),
        ("  running ", JobState.RUNNING),  # case and surrounding blanks
        (["PENDING", "REQUEUED"], JobState.PENDING),  # list form of newer JSON outputs
        (["COMPLETED"], JobState.COMPLETED),
        ([], JobState.UNKNOWN),
        (None, JobState.UNKNOWN),
        ("", JobState.UNKNOWN),
        ("NOT_A_STATE", JobState.UNKNOWN),
        ("PD", JobState.UNKNOWN),  # short codes are not what --json prints
    ],
)
def test_from_slurm_variants(raw: Any, expected: JobState) -> None:
    assert from_slurm(raw) is expected


FINAL = {
    JobState.COMPLETED,
    JobState.FAILED,
    JobState.CANCELLED,
    JobState.TIMEOUT,
    JobState.NODE_FAIL,
    JobState.OUT_OF_MEMORY,
    JobState.BOOT_FAIL,
    JobState.DEADLINE,
}
ACTIVE = {
    JobState.PENDING,
    JobState.RUNNING,
    JobState.SUSPENDED,
    JobState.COMPLETING,
    JobState.REQUEUED,
}


@pytest.mark.parametrize("state", list(JobState))
def test_is_final_and_is_active(state: JobState) -> None:
    assert state.is_final == (state in FINAL)
    assert state.is_active == (state in ACTIVE)
    assert not (state.is_final and state.is_active)


def test_preempted_and_unknown_are_neither_final_nor_active() -> None:
    # what PREEMPTED means depends on the site's PreemptMode: the daemon decides, not the enum
    for state in (JobState.PREEMPTED, JobState.UNKNOWN):
        assert not state.is_final
        assert not state.is_active


# --------------------------------------------------------------------------------------------
# small string parsers
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gres", "count"),
    [
        ("gpu:2", 2),
        ("gpu:0", 0),
        ("gpu:a100:2(IDX:0-1)", 2),
        ("gpu:a100:2(IDX:0,2)", 2),  # a comma inside the index list is not a new entry
        ("gres:gpu:2", 2),
        ("gres/gpu:3", 3),
        ("gpu", 1),
        ("gpu:a100", 1),
        ("GPU:4", 4),
        ("gpu:a100:1(IDX:0),gpu:v100:2(IDX:1-2)", 3),
        ("shard:8,gpu:2,license:1", 2),
        ("mps:100", 0),
        ("gpu:a100:0(IDX:N/A)", 0),
        ("N/A", 0),
        ("(null)", 0),
        ("", 0),
        (None, 0),
    ],
)
def test_gpu_count(gres: str | None, count: int) -> None:
    assert gpu_count(gres) == count


def test_tres() -> None:
    assert tres("cpu=2,mem=1000M,node=1,billing=2,gres/gpu=2") == {
        "cpu": "2",
        "mem": "1000M",
        "node": "1",
        "billing": "2",
        "gres/gpu": "2",
    }
    assert tres(" cpu = 4 , junk,mem=1G") == {"cpu": "4", "mem": "1G"}
    assert tres(None) == {}
    assert tres("") == {}


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1-00:00:00", 86400),
        ("2-12:30:15", 2 * 86400 + 12 * 3600 + 30 * 60 + 15),
        ("04:00:00", 14400),
        ("4:00:00", 14400),
        ("30", 1800),  # a bare number is minutes
        ("30:15", 1815),  # MM:SS
        ("1-12", 86400 + 12 * 3600),  # D-HH
        ("1-12:30", 86400 + 12 * 3600 + 30 * 60),  # D-HH:MM
        (" 0:05:00 ", 300),
        ("UNLIMITED", None),
        ("infinite", None),
        ("NONE", None),
        ("N/A", None),
        ("", None),
    ],
)
def test_slurm_duration(text: str, seconds: int | None) -> None:
    assert slurm_duration(text) == seconds


def test_key_values_scontrol_line() -> None:
    line = (
        "PartitionName=gpu AllowGroups=ALL AllowAccounts=ALL AllowQos=ALL "
        "Default=YES MaxTime=1-00:00:00 Nodes=b[1-3] PriorityTier=1 "
        "TRES=cpu=6,mem=12000M,node=3,billing=6,gres/gpu=6 "
        "PreemptMode=REQUEUE State=UP TotalCPUs=6 TotalNodes=3 JobDefaults=(null)"
    )
    kv = key_values(line)
    assert kv["PartitionName"] == "gpu"
    assert kv["Nodes"] == "b[1-3]"
    assert kv["MaxTime"] == "1-00:00:00"
    assert kv["TRES"] == "cpu=6,mem=12000M,node=3,billing=6,gres/gpu=6"
    assert kv["JobDefaults"] == "(null)"
    assert kv["TotalNodes"] == "3"
    assert len(kv) == 14


def test_key_values_value_with_spaces_and_empty_value() -> None:
    assert key_values("Reason=Not responding [slurm@2026] Nodes= State=DOWN") == {
        "Reason": "Not responding [slurm@2026]",
        "Nodes": "",
        "State": "DOWN",
    }


SCONTROL_PARTITIONS = "\n".join(
    [
        "PartitionName=gpu AllowGroups=ALL AllowAccounts=ALL AllowQos=ALL AllocNodes=ALL "
        "Default=YES QoS=N/A DefaultTime=NONE DisableRootJobs=NO ExclusiveUser=NO GraceTime=0 "
        "Hidden=NO MaxNodes=UNLIMITED MaxTime=1-00:00:00 MinNodes=0 LLN=NO "
        "MaxCPUsPerNode=UNLIMITED Nodes=b[1-3] PriorityJobFactor=1 PriorityTier=1 RootOnly=NO "
        "ReqResv=NO OverSubscribe=NO OverTimeLimit=NONE PreemptMode=REQUEUE State=UP TotalCPUs=6 "
        "TotalNodes=3 SelectTypeParameters=NONE JobDefaults=(null) DefMemPerNode=UNLIMITED "
        "MaxMemPerNode=UNLIMITED",
        "PartitionName=inference AllowGroups=ALL AllowAccounts=ALL AllowQos=ALL AllocNodes=ALL "
        "Default=NO QoS=N/A DefaultTime=NONE MaxNodes=UNLIMITED MaxTime=04:00:00 MinNodes=0 "
        "Nodes=b[1-3] PriorityJobFactor=1 PriorityTier=10 PreemptMode=OFF State=DRAIN "
        "TotalCPUs=6 TotalNodes=3",
        "PartitionName=debug Default=NO MaxTime=UNLIMITED Nodes=b1 PriorityTier=1 "
        "PreemptMode=gang,suspend State=UP TotalCPUs=2 TotalNodes=1",
        "",
        "this line is not a partition",
        "",
    ]
)


def test_scontrol_partitions() -> None:
    parts = scontrol_partitions(SCONTROL_PARTITIONS)
    assert parts == [
        PartitionInfo(
            name="gpu",
            nodes="b[1-3]",
            total_nodes=3,
            total_cpus=6,
            max_time_s=86400,
            priority_tier=1,
            preempt_mode="REQUEUE",
            default=True,
            state="UP",
        ),
        PartitionInfo(
            name="inference",
            nodes="b[1-3]",
            total_nodes=3,
            total_cpus=6,
            max_time_s=14400,
            priority_tier=10,
            preempt_mode="OFF",
            default=False,
            state="DRAIN",
        ),
        PartitionInfo(
            name="debug",
            nodes="b1",
            total_nodes=1,
            total_cpus=2,
            max_time_s=None,
            priority_tier=1,
            preempt_mode="GANG,SUSPEND",
            default=False,
            state="UP",
        ),
    ]


def test_scontrol_partitions_empty() -> None:
    assert scontrol_partitions("") == []


def test_rest_partitions() -> None:
    doc = {
        "partitions": [
            {
                "flags": ["default"],
                "preemption_mode": ["requeue"],
                "max_time_limit": 1440,
                "name": "gpu",
                "nodes": "b[1-3]",
                "priority_tier": 1,
                "state": "UP",
                "total_cpus": 6,
                "total_nodes": 3,
            },
            {
                "flags": [],
                "preemption_mode": ["disabled"],
                "max_time_limit": 240,
                "name": "inference",
                "nodes": "b[1-3]",
                "priority_tier": 10,
                "state": "UP",
                "total_cpus": 6,
                "total_nodes": 3,
            },
            {
                "flags": ["hidden"],
                "preemption_mode": ["gang", "suspend"],
                "max_time_limit": 0xFFFFFFFF,
                "name": "any",
                "nodes": "b1",
                "priority_tier": 2,
                "state": "DOWN",
                "total_cpus": 2,
                "total_nodes": 1,
            },
        ]
    }
    gpu, inference, anyp = rest_partitions(doc)
    assert gpu == PartitionInfo(
        name="gpu",
        nodes="b[1-3]",
        total_nodes=3,
        total_cpus=6,
        max_time_s=86400,
        priority_tier=1,
        preempt_mode="REQUEUE",
        default=True,
        state="UP",
    )
    assert (
        inference.max_time_s,
        inference.preempt_mode,
        inference.default,
        inference.priority_tier,
    ) == (14400, "OFF", False, 10)
    assert (anyp.max_time_s, anyp.preempt_mode, anyp.state) == (None, "GANG,SUSPEND", "DOWN")
    assert rest_partitions({"partitions": []}) == []


# --------------------------------------------------------------------------------------------
# squeue / sacct
# --------------------------------------------------------------------------------------------


def _job(job_id: int, state: Any, **kw: Any) -> dict[str, Any]:
    job: dict[str, Any] = {
        "job_id": job_id,
        "job_state": state,
        "user_name": "alice",
        "name": f"job{job_id}",
        "partition": "gpu",
        "comment": "",
        "submit_time": 1_790_000_000,
        "start_time": 0,
        "end_time": 0,
        "exit_code": 0,
        "state_reason": "None",
        "node_count": 1,
        "cpus": 2,
        "tres_req_str": "cpu=2,mem=1000M,node=1,billing=2",
        "tres_per_node": "",
        "time_limit": 60,
        "priority": 4294901000,
    }
    job.update(kw)
    return job


SQUEUE = {
    "meta": {"Slurm": {"version": {"major": 22, "minor": 5, "micro": 9}, "release": "22.05.9"}},
    "errors": [],
    "jobs": [
        _job(
            11,
            "RUNNING",
            start_time=1_790_000_100,
            end_time=1_790_003_700,
            comment="hyperion:key=abc",
            tres_req_str="cpu=2,mem=1000M,node=1,billing=2,gres/gpu=2",
            tres_per_node="gres:gpu:2",
        ),
        _job(
            12,
            "PENDING",
            state_reason="Priority",
            user_name="bob",
            partition="gpu,inference",
            node_count=2,
            cpus=4,
            tres_req_str="cpu=4,mem=2000M,node=2,billing=4",
            tres_per_node="gres:gpu:1",
            time_limit=30,
            priority=100,
        ),
        _job(13, "COMPLETED", exit_code=1, end_time=1_790_000_500, start_time=1_790_000_200),
        _job(
            14,
            ["PENDING", "REQUEUED"],
            time_limit=0xFFFFFFFF,
            priority="high",
            user_name="",
            name="",
        ),
        _job(
            15,
            "SUSPENDED",
            tres_per_node="gpu:a100:1",
            node_count=3,
            tres_req_str="cpu=2",
            time_limit={"set": True, "infinite": False, "number": 10},
        ),
    ],
}


def test_squeue_statuses() -> None:
    by_id = {s.job_id: s for s in squeue_statuses(SQUEUE)}
    assert set(by_id) == {"11", "12", "13", "14", "15"}
    run = by_id["11"]
    assert (run.state, run.slurm_state, run.user, run.partition, run.comment) == (
        JobState.RUNNING,
        "RUNNING",
        "alice",
        "gpu",
        "hyperion:key=abc",
    )
    assert (run.submit_time, run.start_time, run.end_time) == (
        1_790_000_000.0,
        1_790_000_100.0,
        1_790_003_700.0,
    )
    pend = by_id["12"]
    assert (pend.state, pend.reason, pend.user, pend.start_time, pend.end_time) == (
        JobState.PENDING,
        "Priority",
        "bob",
        None,
        None,
    )
    done = by_id["13"]
    assert (done.state, done.exit_code) == (JobState.COMPLETED, 1)
    requeued = by_id["14"]
    assert requeued.state is JobState.PENDING
    assert requeued.slurm_state == "PENDING+REQUEUED"
    assert requeued.user is None  # empty user name -> unknown
    assert by_id["15"].state is JobState.SUSPENDED


def test_squeue_statuses_empty_and_odd_exit_code() -> None:
    assert squeue_statuses({"jobs": []}) == []
    assert squeue_statuses({}) == []
    (status,) = squeue_statuses({"jobs": [_job(1, "FAILED", exit_code={"return_code": 2})]})
    assert status.exit_code is None  # not the 22.05 integer form: unknown rather than wrong


def test_queued_jobs_keeps_active_jobs_with_their_resources() -> None:
    jobs = {j.job_id: j for j in queued_jobs(SQUEUE)}
    assert set(jobs) == {"11", "12", "14", "15"}  # 13 is COMPLETED
    assert jobs["11"] == QueuedJob(
        job_id="11",
        state=JobState.RUNNING,
        partition="gpu",
        user="alice",
        name="job11",
        nodes=1,
        cpus=2,
        gpus=2,
        time_limit_s=3600,
        submit_time=1_790_000_000.0,
        start_time=1_790_000_100.0,
        priority=4294901000,
        comment="hyperion:key=abc",
    )
    # no gres/gpu in tres_req_str: per-node GRES times the node count
    assert (jobs["12"].gpus, jobs["12"].nodes, jobs["12"].cpus) == (2, 2, 4)
    assert (jobs["12"].time_limit_s, jobs["12"].priority) == (1800, 100)
    assert jobs["12"].partition == "gpu,inference"
    # INFINITE time limit -> None; a non-integer priority -> None
    assert (jobs["14"].time_limit_s, jobs["14"].priority) == (None, None)
    assert jobs["14"].state is JobState.PENDING
    assert (jobs["15"].gpus, jobs["15"].time_limit_s) == (3, 600)


def _acct(job_id: int, state: str, submission: int, **kw: Any) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "job_id": job_id,
        "name": "train",
        "user": "alice",
        "partition": "gpu",
        "state": {"current": state, "reason": "None"},
        "time": {
            "submission": submission,
            "start": submission + 10,
            "end": submission + 70,
            "elapsed": 60,
        },
        "comment": {"job": "hyperion:key=k1", "administrator": None},
        "exit_code": {"status": "SUCCESS", "return_code": 0},
    }
    rec.update(kw)
    return rec


def test_sacct_statuses() -> None:
    doc = {
        "jobs": [
            _acct(21, "COMPLETED", 1_790_000_000),
            _acct(
                22,
                "CANCELLED by 1000",
                1_790_000_000,
                exit_code={"status": "SIGNALED", "return_code": 0},
            ),
            _acct(
                23,
                "FAILED",
                1_790_000_000,
                exit_code={"status": "FAILED", "return_code": 3},
                comment={},
            ),
        ]
    }
    by_id = {s.job_id: s for s in sacct_statuses(doc)}
    c = by_id["21"]
    assert (c.state, c.user, c.comment, c.exit_code) == (
        JobState.COMPLETED,
        "alice",
        "hyperion:key=k1",
        0,
    )
    assert (c.submit_time, c.start_time, c.end_time) == (
        1_790_000_000.0,
        1_790_000_010.0,
        1_790_000_070.0,
    )
    assert by_id["22"].state is JobState.CANCELLED
    assert by_id["22"].slurm_state == "CANCELLED by 1000"
    assert (by_id["23"].state, by_id["23"].exit_code, by_id["23"].comment) == (
        JobState.FAILED,
        3,
        "",
    )


@pytest.mark.parametrize("order", [(0, 1), (1, 0)])
def test_sacct_requeued_job_latest_submission_wins(order: tuple[int, int]) -> None:
    records = [
        _acct(31, "REQUEUED", 1_790_000_000),
        _acct(31, "COMPLETED", 1_790_000_500),
    ]
    doc = {"jobs": [records[i] for i in order]}
    (status,) = sacct_statuses(doc)
    assert status.state is JobState.COMPLETED
    assert status.submit_time == 1_790_000_500.0


# --------------------------------------------------------------------------------------------
# partition_states
# --------------------------------------------------------------------------------------------


def _node(
    name: str,
    state: str,
    flags: list[str],
    parts: list[str],
    *,
    cpus: int = 2,
    alloc: int = 0,
    gres: str = "",
    used: str = "",
) -> dict[str, Any]:
    return {
        "name": name,
        "state": state,
        "state_flags": flags,
        "partitions": parts,
        "cpus": cpus,
        "alloc_cpus": alloc,
        "gres": gres,
        "gres_used": used,
    }


def _pinfo(name: str, **kw: Any) -> PartitionInfo:
    base: dict[str, Any] = dict(
        name=name,
        nodes="",
        total_nodes=0,
        total_cpus=0,
        max_time_s=None,
        priority_tier=1,
        preempt_mode="OFF",
        default=False,
        state="UP",
    )
    base.update(kw)
    return PartitionInfo(**base)


def _q(job_id: str, state: JobState, partition: str, cpus: int, gpus: int) -> QueuedJob:
    return QueuedJob(
        job_id=job_id,
        state=state,
        partition=partition,
        user="u",
        name="n",
        nodes=1,
        cpus=cpus,
        gpus=gpus,
        time_limit_s=600,
        submit_time=None,
        start_time=None,
    )


def test_partition_states_gpu_nodes_shared_by_two_partitions() -> None:
    nodes = {
        "nodes": [
            _node(
                "b1",
                "idle",
                [],
                ["gpu", "inference"],
                gres="gpu:a100:2",
                used="gpu:a100:0(IDX:N/A)",
            ),
            _node(
                "b2",
                "mixed",
                [],
                ["gpu", "inference"],
                alloc=1,
                gres="gpu:a100:2",
                used="gpu:a100:1(IDX:0)",
            ),
            _node(
                "b3",
                "allocated",
                [],
                ["gpu", "inference"],
                alloc=2,
                gres="gpu:a100:2",
                used="gpu:a100:2(IDX:0-1)",
            ),
            _node("b4", "idle", ["DRAIN"], ["gpu"], gres="gpu:a100:2", used="gpu:a100:0(IDX:N/A)"),
            _node("b5", "down", ["NOT_RESPONDING"], ["gpu"], gres="gpu:a100:2"),
        ]
    }
    jobs = [
        _q("1", JobState.RUNNING, "gpu", 1, 1),
        _q("2", JobState.RUNNING, "inference", 2, 2),
        _q("3", JobState.PENDING, "gpu", 4, 2),
        _q("4", JobState.PENDING, "gpu,inference", 2, 1),
        _q("5", JobState.COMPLETING, "gpu", 1, 0),
        _q("6", JobState.SUSPENDED, "inference", 1, 0),
    ]
    gpu, inference = partition_states(
        nodes,
        [
            _pinfo("gpu", max_time_s=86400, preempt_mode="REQUEUE"),
            _pinfo("inference", priority_tier=10),
        ],
        jobs,
    )
    assert gpu.name == "gpu"
    assert (gpu.total_nodes, gpu.idle_nodes, gpu.alloc_nodes, gpu.down_nodes) == (5, 1, 2, 2)
    assert (gpu.total_cpus, gpu.idle_cpus, gpu.alloc_cpus) == (10, 3, 3)
    assert (gpu.total_gpus, gpu.alloc_gpus, gpu.idle_gpus) == (10, 3, 3)
    assert (gpu.pending_jobs, gpu.pending_cpus, gpu.pending_gpus) == (2, 6, 3)
    assert gpu.running_jobs == 2  # RUNNING and COMPLETING
    assert (gpu.max_time_s, gpu.preempt_mode, gpu.priority_tier) == (86400, "REQUEUE", 1)

    assert (
        inference.total_nodes,
        inference.idle_nodes,
        inference.alloc_nodes,
        inference.down_nodes,
    ) == (3, 1, 2, 0)
    assert (inference.total_cpus, inference.idle_cpus, inference.alloc_cpus) == (6, 3, 3)
    assert (inference.total_gpus, inference.alloc_gpus, inference.idle_gpus) == (6, 3, 3)
    assert (inference.pending_jobs, inference.pending_cpus) == (1, 2)
    assert inference.running_jobs == 2  # RUNNING and SUSPENDED
    assert inference.priority_tier == 10


def test_partition_states_cloud_nodes() -> None:
    nodes = {
        "nodes": [
            _node("c1", "idle", ["CLOUD", "POWERED_DOWN"], ["cloud"]),
            _node("c2", "idle", ["CLOUD", "POWERED_DOWN"], ["cloud"]),
            _node("c3", "allocated", ["CLOUD"], ["cloud"], alloc=2),
            _node("c4", "idle", ["CLOUD", "POWERING_DOWN"], ["cloud"]),
            _node("c5", "down", ["CLOUD", "POWERED_DOWN"], ["cloud"]),
        ]
    }
    (cloud,) = partition_states(nodes, [_pinfo("cloud")], [])
    assert (cloud.cloud_nodes_powered_down, cloud.cloud_nodes_powered_up) == (4, 1)
    assert (cloud.total_nodes, cloud.idle_nodes, cloud.alloc_nodes, cloud.down_nodes) == (
        5,
        3,
        1,
        1,
    )
    assert (cloud.total_cpus, cloud.idle_cpus, cloud.alloc_cpus) == (10, 6, 2)
    assert (cloud.total_gpus, cloud.idle_gpus, cloud.pending_jobs, cloud.running_jobs) == (
        0,
        0,
        0,
        0,
    )


def test_partition_states_list_state_form_and_partition_without_nodes() -> None:
    # newer JSON: "state": ["IDLE", "DRAIN"] instead of state + state_flags
    nodes = {
        "nodes": [
            {
                "name": "a1",
                "state": ["IDLE", "DRAIN"],
                "partitions": ["batch"],
                "cpus": 4,
                "alloc_cpus": 0,
                "gres": "",
                "gres_used": "",
            },
            {
                "name": "a2",
                "state": ["IDLE"],
                "partitions": ["batch"],
                "cpus": 4,
                "alloc_cpus": 0,
                "gres": "",
                "gres_used": "",
            },
        ]
    }
    batch, empty = partition_states(nodes, [_pinfo("batch"), _pinfo("empty")], [])
    assert (batch.total_nodes, batch.idle_nodes, batch.down_nodes, batch.idle_cpus) == (2, 1, 1, 4)
    assert (empty.total_nodes, empty.total_cpus, empty.idle_gpus) == (0, 0, 0)


# --------------------------------------------------------------------------------------------
# sbatch --test-only, envelopes
# --------------------------------------------------------------------------------------------


def test_test_only_estimate_is_read_as_utc() -> None:
    est = parse_test_only(
        "sbatch: Job 8 to start at 2026-11-27T09:56:16 using 1 processors on nodes b1 "
        "in partition gpu\n"
    )
    assert est is not None
    assert est.start_time == calendar.timegm((2026, 11, 27, 9, 56, 16, 0, 0, 0))
    assert est.start_time == 1795773376
    assert (est.partition, est.nodes, est.source) == ("gpu", "b1", "slurm")


def test_test_only_estimate_multi_node() -> None:
    est = parse_test_only(
        "sbatch: Job 3 to start at 2026-01-01T00:00:00 using 4 processors on nodes "
        "a[1-2] in partition batch"
    )
    assert est is not None
    assert (est.start_time, est.nodes, est.partition) == (1767225600, "a[1-2]", "batch")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "sbatch: error: Batch job submission failed: Invalid partition name specified",
        # SLURM_TIME_FORMAT in the job's environment changes how sbatch prints the time
        "sbatch: Job 8 to start at Tomorr 09:56 using 1 processors on nodes b1 in partition gpu",
        "sbatch: Job 8 to start at 27/11-09:56 using 1 processors on nodes b1 in partition gpu",
        "garbage",
    ],
)
def test_test_only_estimate_garbage_is_none(text: str) -> None:
    assert parse_test_only(text) is None


def test_envelope_errors() -> None:
    doc = {
        "errors": [
            {"error": "Invalid job id specified", "error_number": 2017},
            {"error": "Unable to query", "description": "slurmctld down"},
            {"description": "only a description"},
            {"error": "same", "description": "same"},
            "plain text",
        ]
    }
    assert envelope_errors(doc) == [
        "Invalid job id specified",
        "Unable to query (slurmctld down)",
        "only a description",
        "same",
        "plain text",
    ]
    assert envelope_errors({"errors": []}) == []
    assert envelope_errors({}) == []
    assert envelope_errors({"errors": None}) == []


def test_slurm_version() -> None:
    assert slurm_version(SQUEUE) == "22.05.9"
    # without "release": rebuilt from the numbers, with the month zero-padded
    assert (
        slurm_version({"meta": {"Slurm": {"version": {"major": 22, "minor": 5, "micro": 9}}}})
        == "22.05.9"
    )
    assert (
        slurm_version({"meta": {"Slurm": {"version": {"major": 23, "minor": 11, "micro": 1}}}})
        == "23.11.1"
    )
    assert slurm_version({}) == "?.?.?"


def test_slurm_placeholder_reason_none_is_no_reason() -> None:
    from hyperion.sites.slurm_json import sacct_statuses, squeue_statuses

    (st,) = squeue_statuses(
        {"jobs": [{"job_id": 1, "job_state": "COMPLETED", "state_reason": "None"}]}
    )
    assert st.reason == ""
    (st,) = squeue_statuses(
        {"jobs": [{"job_id": 2, "job_state": "PENDING", "state_reason": "Resources"}]}
    )
    assert st.reason == "Resources"
    (acct,) = sacct_statuses(
        {"jobs": [{"job_id": 3, "state": {"current": "FAILED", "reason": "None"}}]}
    )
    assert acct.reason == ""
