"""Run AccaSim (PyPI ``accasim``, an independent HPC workload simulator) on the same jobs.

``hyperion bench sim`` uses this for a side-by-side comparison of speed and metrics. AccaSim is
an optional dependency (``pip install hyperion[bench]``); :func:`unavailable` says why it cannot
run, and nothing here imports it at module load.

The jobs are handed to AccaSim in memory (no SWF parsing on either side is timed), each SWF
processor as one single-core node, as AccaSim's own SWF reader does, and with our requested time
as its ``expected_duration``. Waits and bounded slowdowns are computed from AccaSim's start
times with the same formulas as ours (:mod:`hyperion.sim.metrics`).

What AccaSim's dispatchers do (read in its ``scheduler_class``):

* ``FIFO`` (``FirstInFirstOut``): starts jobs in submission order until one does not fit —
  plain FCFS, the same policy as ``backfill=False`` here, so the metrics should agree exactly;
* ``EBF`` (``EASYBackfilling``): computes a reservation (time and nodes) for the blocked head,
  but then fills with ``reserved_nodes=[]``, so a later job that fits now starts whatever its
  length: the head keeps no reservation (greedy "first fit" backfilling) and can starve, unlike
  EASY, where a backfilled job must end by the shadow time or use only the extra nodes.
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hyperion.sim.job import SimJob
from hyperion.sim.metrics import job_metrics

#: AccaSim dispatchers we run, by their short names
DISPATCHERS = ("EASY", "FIFO")
#: AccaSim's time starts from the first job's submit time minus one, which it treats as unset
#: when it is 0; our workloads start at 0, so they are shifted by this many seconds.
TIME_SHIFT = 10


COMPAT_NOTE = (
    "AccaSim 1.1.3 imports Mapping from collections (removed in Python 3.10): "
    "collections.Mapping was aliased to collections.abc.Mapping before importing it"
)
_aliased: list[bool] = []  # one entry once compat() has aliased it


def compat() -> None:
    """Make AccaSim 1.1.3 importable on Python >= 3.10 (see :func:`compat_note`).

    Its ``accasim/utils/misc.py`` does ``from collections import Mapping``, which Python 3.10
    removed; the alias is the only change needed (nothing else in it uses removed APIs).
    """
    import collections
    import collections.abc

    if not hasattr(collections, "Mapping"):
        setattr(collections, "Mapping", collections.abc.Mapping)  # noqa: B010
        _aliased.append(True)


def compat_note() -> str | None:
    """What :func:`compat` did in this process, for the bench to print (None: nothing)."""
    return COMPAT_NOTE if _aliased else None


def unavailable() -> str | None:
    """None if AccaSim can be imported (see :func:`compat`); else why not, for the bench."""
    try:
        import accasim  # noqa: F401
    except ImportError as exc:
        return f"AccaSim is not installed ({exc}); pip install 'hyperion[bench]' (accasim==1.1.3)"
    compat()
    try:
        from accasim.base.simulator_class import Simulator  # noqa: F401
    except Exception as exc:  # a broken install: say so rather than crash the benchmark
        return f"AccaSim is installed but cannot be imported: {type(exc).__name__}: {exc}"
    return None


def version() -> str:
    import accasim

    return str(getattr(accasim, "__version__", "?"))


@dataclass
class AccaSimRun:
    """One AccaSim run: wall seconds of its simulation loop and our metrics of its schedule."""

    dispatcher: str
    jobs: int
    seconds: float
    mean_wait: float
    max_wait: float
    mean_bsld: float
    starts: dict[int, float]

    @property
    def jobs_per_s(self) -> float:
        return self.jobs / self.seconds if self.seconds > 0 else math.inf


def run(
    jobs: Sequence[SimJob], machine_size: int, dispatcher: str, *, workdir: Path | None = None
) -> AccaSimRun:
    """Simulate ``jobs`` (one site of ``machine_size`` single-core nodes) with AccaSim.

    Returns the start time AccaSim gave each job (keyed by position in ``jobs``, in our clock).
    """
    if dispatcher not in DISPATCHERS:
        raise ValueError(f"AccaSim dispatcher {dispatcher!r}: use one of {', '.join(DISPATCHERS)}")
    compat()
    from accasim.base.additional_data import AdditionalData
    from accasim.base.allocator_class import FirstFit
    from accasim.base.event_class import AttributeType, JobFactory
    from accasim.base.resource_manager_class import ResourceManager, Resources
    from accasim.base.scheduler_class import EASYBackfilling, FirstInFirstOut
    from accasim.base.simulator_class import Simulator
    from accasim.utils.reader_class import Reader

    shift = TIME_SHIFT - min((int(j.submit) for j in jobs), default=0)
    rows: list[dict[str, Any]] = [
        {
            "job_id": str(i),
            "queued_time": int(j.submit) + shift,
            "duration": int(j.run),
            "requested_nodes": j.cores,
            "requested_resources": {"core": 1},
            "expected_duration": int(j.req),
            "core": j.cores,
            "queue": 0,
            "user_id": j.user,
        }
        for i, j in enumerate(sorted(jobs, key=lambda j: j.submit))
    ]
    order = sorted(range(len(jobs)), key=lambda i: jobs[i].submit)

    class ListReader(Reader):  # type: ignore[misc]
        """Hands AccaSim the prepared jobs one at a time, in submission order."""

        def __init__(self, factory: Any) -> None:
            super().__init__(factory)
            self._rows = iter(rows)

        def _read(self, current_time: Any = None) -> dict[str, Any] | None:
            row = next(self._rows, None)
            if row is None:
                self.stop_submission()
                return None
            return dict(row, requested_resources=dict(row["requested_resources"]))

    finished: dict[int, float] = {}

    class Collector(AdditionalData):  # type: ignore[misc]
        """Records each job's start time as AccaSim completes it."""

        def exec_after_completion(self, removed_jobs: list[Any]) -> None:
            for e in removed_jobs:
                finished[int(e.id)] = float(e.start_time)

        def exec_before_dispatching(self, job_dict: Any, queued_jobs: Any) -> None:
            pass

        def exec_after_dispatching(self, job_dict: Any, to_dispatch: Any, rejected: Any) -> None:
            pass

        def exec_before_submission(self, *args: Any, **kwargs: Any) -> None:
            pass

        def exec_after_submission(self, *args: Any, **kwargs: Any) -> None:
            pass

        def exec_before_completion(self, *args: Any, **kwargs: Any) -> None:
            pass

        def stop(self) -> None:
            pass

    rm = ResourceManager(Resources(groups={"node": {"core": 1}}, resources={"node": machine_size}))
    attrs = [
        AttributeType("expected_duration", int),
        AttributeType("core", int),
        AttributeType("queue", int),
        AttributeType("user_id", int),
    ]
    factory = JobFactory(rm, job_attrs=attrs)
    disp = EASYBackfilling(FirstFit()) if dispatcher == "EASY" else FirstInFirstOut(FirstFit())
    with tempfile.TemporaryDirectory(prefix="accasim-") as tmp:
        out = Path(workdir) if workdir is not None else Path(tmp)
        sim = Simulator(
            str(out / "hyperion-jobs.swf"),  # a name for its output files; nothing is read
            None,
            disp,
            resource_manager=rm,
            reader=ListReader(factory),
            job_factory=factory,
            additional_data=[Collector],  # a class: AccaSim binds it to its event manager
            scheduling_output=False,
            statistics_output=False,
            pprint_output=False,
            benchmark_output=False,
            show_statistics=False,
            RESULTS_FOLDER_PATH=str(out),
            LOG_LEVEL="ERROR",
        )
        t0 = time.perf_counter()
        sim.start_simulation()
        seconds = time.perf_counter() - t0
    starts = {order[k]: t - shift for k, t in finished.items()}
    copies = []
    for i, j in enumerate(jobs):
        c = j.copy()
        c.start = starts.get(i, -1.0)
        copies.append(c)
    mean_w, _, max_w, bsld = job_metrics(copies)
    return AccaSimRun(dispatcher, len(finished), seconds, mean_w, max_w, bsld, starts)
