"""The daily cycle of the Lublin–Feitelson arrival model, as a clock from "points" to seconds.

The paper draws inter-arrival times as if every hour were the daily peak, then stretches them
by the time of day. Here a job's gap of g seconds is worth g / 1800 points; half-hour bucket b
of the day costs ``weights[b]`` points (weights have mean 1, so a day costs 48), and the clock
spends points bucket by bucket. Busy buckets cost more, so more jobs arrive in them: the arrival
rate in a bucket is proportional to its weight. The clock is piecewise linear and monotone, so
it inverts exactly (:meth:`DayClock.points`), which is how the generator hits a target load.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from itertools import accumulate

from hyperion.errors import HyperionError

BUCKETS = 48
BUCKET_S = 1800.0
DAY_S = BUCKETS * BUCKET_S


def gamma_mass(lo: float, hi: float, shape: float, scale: float, steps: int = 32) -> float:
    """Probability that Gamma(shape, scale) falls in [lo, hi] (0 <= lo < hi), by Simpson's rule."""
    log_norm = math.lgamma(shape) + shape * math.log(scale)

    def pdf(x: float) -> float:
        if x <= 0:
            return 0.0
        return math.exp((shape - 1) * math.log(x) - x / scale - log_norm)

    h = (hi - lo) / steps
    inner = sum((4 if k % 2 else 2) * pdf(lo + k * h) for k in range(1, steps))
    return (pdf(lo) + inner + pdf(hi)) * h / 3


def day_weights(anum: float, bnum: float, first_bucket: int) -> list[float]:
    """Relative arrival rate of each half-hour bucket of the day (index 0 = 00:00), mean 1.

    Bucket numbers ``first_bucket`` .. ``first_bucket + 47`` get the Gamma(anum, bnum) mass on
    [b - 0.5, b + 0.5]; number b stands for bucket (b - 1) mod 48 (numbers start at 1).
    """
    raw = [0.0] * BUCKETS
    for b in range(first_bucket, first_bucket + BUCKETS):
        raw[(b - 1) % BUCKETS] = gamma_mass(b - 0.5, b + 0.5, anum, bnum)
    if not min(raw) > 0:
        raise HyperionError(f"daily cycle Gamma({anum}, {bnum}) leaves a half hour without jobs")
    mean = sum(raw) / BUCKETS
    return [w / mean for w in raw]


class DayClock:
    """Seconds from the start (at ``start_hour``) to when ``points`` have been spent, and back."""

    def __init__(self, weights: list[float], start_hour: int = 0) -> None:
        first = start_hour * BUCKETS // 24
        if len(weights) != BUCKETS or not min(weights) > 0:
            raise HyperionError(f"a day needs {BUCKETS} weights > 0")
        self._w = [weights[(first + k) % BUCKETS] for k in range(BUCKETS)]
        self._cum = [0.0, *accumulate(self._w)]
        self._day = self._cum[-1]  # points per day: 48, up to rounding

    def seconds(self, points: float) -> float:
        """When the clock has spent ``points`` (>= 0)."""
        days, rest = divmod(points, self._day)
        k = min(bisect_right(self._cum, rest) - 1, BUCKETS - 1)
        frac = (rest - self._cum[k]) / self._w[k]
        return days * DAY_S + (k + frac) * BUCKET_S

    def points(self, seconds: float) -> float:
        """The points spent by ``seconds`` (>= 0): the inverse of :meth:`seconds`."""
        days, rest = divmod(seconds, DAY_S)
        k = min(int(rest // BUCKET_S), BUCKETS - 1)
        frac = rest / BUCKET_S - k
        return days * self._day + self._cum[k] + frac * self._w[k]
