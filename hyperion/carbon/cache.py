"""The providers' cache: fresh answers reused for ``ttl_s``, last known values kept per zone.

In memory always; with ``directory``, the last known values of each (provider, kind, zone) are
also written as JSON (``DIR/PROVIDER/KIND-ZONE.json``) so a restarted daemon still has them
when the provider is down. The disk cache is best effort: unreadable files are ignored.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path

from hyperion.carbon.series import IntensityPoint, IntensityResult

log = logging.getLogger(__name__)

_MAX_FRESH = 256
_MAX_KNOWN = 24 * 800  # points kept per (provider, kind, zone): a bit over two years of hours
_SAFE = re.compile(r"[^A-Za-z0-9._-]")

Key = tuple[str, ...]


class IntensityCache:
    """Fresh results by request key, and merged last-known points by (provider, kind, zone)."""

    def __init__(self, directory: Path | None = None, ttl_s: float = 300.0) -> None:
        self.directory = directory
        self.ttl_s = ttl_s
        self._fresh: OrderedDict[Key, IntensityResult] = OrderedDict()
        self._known: dict[Key, tuple[float, dict[float, float]]] = {}
        #: the daemon's snapshot loop (outlooks) and poll loop (the ledger) share providers
        self._lock = threading.RLock()

    def fresh(self, key: Key, now: float) -> IntensityResult | None:
        """A result for ``key`` fetched less than ``ttl_s`` ago, if any."""
        with self._lock:
            hit = self._fresh.get(key)
            if hit is None or hit.fetched_at is None or now - hit.fetched_at >= self.ttl_s:
                return None
            self._fresh.move_to_end(key)
            return hit

    def store(self, key: Key, kind_key: Key, result: IntensityResult, *, merge: bool) -> None:
        """Remember a successful ``result``; ``merge`` adds to the known points (history)
        instead of replacing them (a newer forecast replaces the older one)."""
        with self._lock:
            self._store(key, kind_key, result, merge=merge)

    def _store(self, key: Key, kind_key: Key, result: IntensityResult, *, merge: bool) -> None:
        self._fresh[key] = result
        self._fresh.move_to_end(key)
        while len(self._fresh) > _MAX_FRESH:
            self._fresh.popitem(last=False)
        known = self._load(kind_key)[1] if merge else {}
        known = dict(known)
        known.update((p.time, p.value) for p in result.points)
        if len(known) > _MAX_KNOWN:
            known = dict(sorted(known.items())[-_MAX_KNOWN:])
        fetched_at = result.fetched_at if result.fetched_at is not None else 0.0
        self._known[kind_key] = (fetched_at, known)
        self._save(kind_key)

    def last_known(
        self, kind_key: Key, start: float, end: float
    ) -> tuple[tuple[IntensityPoint, ...], float | None]:
        """Known points with ``start <= time < end`` and when they were fetched."""
        with self._lock:
            fetched_at, known = self._load(kind_key)
        pts = tuple(IntensityPoint(t, v) for t, v in sorted(known.items()) if start <= t < end)
        return pts, (fetched_at if known else None)

    # -- disk ---------------------------------------------------------------------------------

    def _path(self, kind_key: Key) -> Path | None:
        if self.directory is None:
            return None
        provider, kind, zone = kind_key
        return self.directory / _SAFE.sub("_", provider) / f"{kind}-{_SAFE.sub('_', zone)}.json"

    def _load(self, kind_key: Key) -> tuple[float, dict[float, float]]:
        if kind_key in self._known:
            return self._known[kind_key]
        entry: tuple[float, dict[float, float]] = (0.0, {})
        path = self._path(kind_key)
        if path is not None and path.exists():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                entry = (
                    float(data["fetched_at"]),
                    {float(t): float(v) for t, v in data["points"]},
                )
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.warning("ignoring unreadable carbon cache file %s: %s", path, exc)
        self._known[kind_key] = entry
        return entry

    def _save(self, kind_key: Key) -> None:
        path = self._path(kind_key)
        if path is None:
            return
        fetched_at, known = self._known[kind_key]
        body = json.dumps({"fetched_at": fetched_at, "points": sorted(known.items())})
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.stem, suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(body)
            os.replace(tmp, path)
        except OSError as exc:
            log.warning("cannot write the carbon cache file %s: %s", path, exc)
