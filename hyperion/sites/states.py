"""Slurm job states -> Hyperion states: the one translation table.

Source: Slurm 22.05 documentation, squeue(1) "JOB STATE CODES" and sacct(1) "JOB STATE CODES".
Slurm may append flags to a base state (e.g. "CANCELLED by 1000", "PENDING+REQUEUED" in some
outputs); only the first word before a space or '+' is the base state.

What PREEMPTED means depends on the site's PreemptMode (see
:class:`hyperion.sites.base.PreemptionSettings`): with REQUEUE the job returns to PENDING by
itself; with CANCEL it is final. This table maps the state code only; the daemon reads the
site's PreemptMode before deciding to migrate a PREEMPTED job.
"""

from __future__ import annotations

from types import MappingProxyType

from hyperion.types import JobState

#: squeue(1)/sacct(1) state name -> Hyperion state, with the docs' one-line meaning.
SLURM_STATES: MappingProxyType[str, JobState] = MappingProxyType(
    {
        "BOOT_FAIL": JobState.BOOT_FAIL,  # BF: terminated due to launch failure
        "CANCELLED": JobState.CANCELLED,  # CA: explicitly cancelled by the user or administrator
        "COMPLETED": JobState.COMPLETED,  # CD: all processes terminated with exit code zero
        "COMPLETING": JobState.COMPLETING,  # CG: some processes on some nodes still active
        "CONFIGURING": JobState.PENDING,  # CF: allocated, nodes booting (cloud power-up)
        "DEADLINE": JobState.DEADLINE,  # DL: terminated on deadline
        "FAILED": JobState.FAILED,  # F: non-zero exit code or other failure
        "NODE_FAIL": JobState.NODE_FAIL,  # NF: terminated due to failure of an allocated node
        "OUT_OF_MEMORY": JobState.OUT_OF_MEMORY,  # OOM: experienced out of memory error
        "PENDING": JobState.PENDING,  # PD: awaiting resource allocation
        "PREEMPTED": JobState.PREEMPTED,  # PR: terminated due to preemption
        "RUNNING": JobState.RUNNING,  # R: currently has an allocation
        "RESV_DEL_HOLD": JobState.PENDING,  # RD: held, its reservation was deleted
        "REQUEUE_FED": JobState.REQUEUED,  # RF: requeued by a federation
        "REQUEUE_HOLD": JobState.REQUEUED,  # RH: held job being requeued
        "REQUEUED": JobState.REQUEUED,  # RQ: completing job being requeued
        "RESIZING": JobState.RUNNING,  # RS: about to change size
        "REVOKED": JobState.CANCELLED,  # RV: sibling removed from the cluster (federation)
        "SIGNALING": JobState.RUNNING,  # SI: being signaled
        "SPECIAL_EXIT": JobState.FAILED,  # SE: requeued in a special state (held)
        "STAGE_OUT": JobState.COMPLETING,  # SO: staging out files
        "STOPPED": JobState.SUSPENDED,  # ST: has an allocation, execution stopped (SIGSTOP)
        "SUSPENDED": JobState.SUSPENDED,  # S: has an allocation, execution suspended
        "TIMEOUT": JobState.TIMEOUT,  # TO: terminated upon reaching its time limit
    }
)


def from_slurm(state: str | list[str] | None) -> JobState:
    """Map a Slurm state string (or the list form some JSON outputs use) to a :class:`JobState`."""
    if isinstance(state, list):
        state = state[0] if state else None
    if not state:
        return JobState.UNKNOWN
    base = state.strip().split(" ", 1)[0].split("+", 1)[0].upper()
    return SLURM_STATES.get(base, JobState.UNKNOWN)
