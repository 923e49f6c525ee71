"""Parameters of the Lublin–Feitelson workload model (JPDC 63(11), 2003), one set per job type.

The fitted values are the paper's (its batch, interactive and whole-sample fits); they were
checked against the authors' reference generator ``m_lublin99.c``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hyperion.errors import HyperionError


@dataclass(frozen=True)
class JobClass:
    """One job type's fit, in the paper's notation.

    * Size: ``serial_prob`` of the jobs are serial and ``pow2_prob`` of all jobs are parallel
      with log2(size) rounded to an integer. log2(size) of a parallel job is uniform on
      [``u_low``, ``u_med``] with probability ``u_prob``, else on [``u_med``, ``u_hi``], where
      ``u_hi`` = log2(machine size) - ``hi_below`` and ``u_med`` = ``u_hi`` - ``med_below``.
    * Run time: ln(run time) is Gamma(``a1``, ``b1``) with probability
      p = ``pa`` * size + ``pb`` (clamped to [0, 1]), else Gamma(``a2``, ``b2``) (shape, scale).
    * Arrivals: ln(inter-arrival time at the daily peak) is Gamma(``aarr`` * ``arar``,
      ``barr``); the share of a day's arrivals in half-hour bucket b is the mass of
      Gamma(``anum``, ``bnum``) on [b - 0.5, b + 0.5] (see :mod:`hyperion.sim.lublin_day`).
    """

    serial_prob: float
    pow2_prob: float
    u_low: float
    hi_below: float
    med_below: float
    u_prob: float
    a1: float
    b1: float
    a2: float
    b2: float
    pa: float
    pb: float
    aarr: float
    barr: float
    arar: float
    anum: float
    bnum: float

    def check(self, name: str) -> None:
        """Raise :class:`HyperionError` unless the values make a valid model."""
        probs = (self.serial_prob, self.pow2_prob, self.u_prob, self.serial_prob + self.pow2_prob)
        if not all(0.0 <= p <= 1.0 for p in probs):
            raise HyperionError(f"{name} job probabilities must be within [0, 1]: {self}")
        shapes = (self.a1, self.b1, self.a2, self.b2, self.aarr * self.arar, self.barr)
        if not all(s > 0 for s in (*shapes, self.anum, self.bnum)):
            raise HyperionError(f"{name} gamma parameters must be > 0: {self}")


#: batch jobs (fit for a 128-node machine: sizes up to 128, u_med = 5)
BATCH = JobClass(
    serial_prob=0.2927, pow2_prob=0.6686, u_low=1.2, hi_below=0.0, med_below=2.0, u_prob=0.875,
    a1=6.57, b1=0.823, a2=639.1, b2=0.0156, pa=-0.003, pb=0.6986,
    aarr=6.0415, barr=0.8531, arar=1.0519, anum=6.1271, bnum=5.2740,
)  # fmt: skip

#: interactive jobs: smaller (up to 2^5.5 = 45 of 128 nodes), shorter, arriving more often
INTERACTIVE = JobClass(
    serial_prob=0.1541, pow2_prob=0.625, u_low=1.0, hi_below=1.5, med_below=2.5, u_prob=0.705,
    a1=3.8351, b1=0.6605, a2=7.073, b2=0.6856, pa=-0.0118, pb=0.9156,
    aarr=6.5510, barr=0.6621, arar=0.9797, anum=8.9186, bnum=3.6680,
)  # fmt: skip

#: the whole-sample (typeless) fit, for a single job type
WHOLE = JobClass(
    serial_prob=0.244, pow2_prob=0.576, u_low=0.8, hi_below=0.0, med_below=2.5, u_prob=0.86,
    a1=4.2, b1=0.94, a2=312.0, b2=0.03, pa=-0.0054, pb=0.78,
    aarr=10.2303, barr=0.4871, arar=1.0225, anum=8.1737, bnum=3.9631,
)  # fmt: skip


@dataclass(frozen=True)
class LublinParams:
    """The model: a parameter set per job type plus the limits of the reference generator.

    ``max_log_run``: a hyper-gamma draw above it is redrawn (e^12 s, about 1.9 days);
    ``max_log_gap``: likewise for ln(inter-arrival) (e^13 s, about 5.1 days);
    ``first_bucket``: the fitted day runs over half-hour buckets ``first_bucket`` ..
    ``first_bucket + 47`` (numbered from 1 = 00:00-00:30, wrapping after 48), i.e. from 05:00;
    ``start_hour``: the hour of day at submit time 0.
    """

    batch: JobClass = field(default=BATCH)
    interactive: JobClass = field(default=INTERACTIVE)
    max_log_run: float = 12.0
    max_log_gap: float = 13.0
    first_bucket: int = 11
    start_hour: int = 0

    def check(self) -> None:
        """Raise :class:`HyperionError` unless the parameters make a valid model."""
        self.batch.check("batch")
        self.interactive.check("interactive")
        if not 0 <= self.start_hour <= 23:
            raise HyperionError(f"start hour must be within 0..23, got {self.start_hour}")
        if self.max_log_run <= 0 or self.max_log_gap <= 0:
            raise HyperionError("max_log_run and max_log_gap must be > 0")
