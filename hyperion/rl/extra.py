"""The one error for a missing ``rl`` extra (torch, gymnasium, Ray RLlib)."""

from __future__ import annotations

from hyperion.errors import HyperionError


def missing_extra(exc: ImportError, what: str = "the learned placement policy") -> HyperionError:
    """A :class:`HyperionError` for an ``ImportError`` of one of the ``rl`` extra's packages."""
    name = exc.name or str(exc)
    return HyperionError(
        f"{what} needs {name}, which is not installed", hint="pip install hyperion[rl]"
    )
