"""The ``model.hyp`` artifact: a zip of ``meta.json`` and ``weights.pt``.

``meta.json`` (readable without torch: ``unzip -p model.hyp meta.json``) holds ``format``
(``"hyperion-model"``), ``version`` (:data:`VERSION`), ``feature_spec``
(:data:`~hyperion.rl.features.FEATURE_SPEC`), ``arch`` (the network's sizes), ``objective``
(its weights), ``training`` (data, sites, settings), ``job_range`` (``[min, max]`` of each
job feature over the training workloads, :func:`~hyperion.rl.train.workload_range`; the
policy steps aside on workloads mostly outside it), ``curve`` (per-iteration returns),
``eval`` (the evaluation table), ``command`` (the exact command line) and ``created`` (UTC).
``weights.pt`` is the :class:`~hyperion.rl.model.PlacementModel` state dict (weights and
normalisation), loaded with ``weights_only=True``: loading never runs code from the file.

:func:`load` refuses a missing, corrupt or incompatible artifact with a :class:`HyperionError`
naming the file and the problem.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import torch

from hyperion.errors import HyperionError
from hyperion.rl.features import FEATURE_SPEC
from hyperion.rl.model import PlacementModel

FORMAT = "hyperion-model"
VERSION = 1
META, WEIGHTS = "meta.json", "weights.pt"


def save(path: str | Path, model: PlacementModel, meta: dict[str, Any]) -> None:
    """Write ``model`` and ``meta`` (the caller's fields; format, spec and arch are added)."""
    full = {
        **meta,
        "format": FORMAT,
        "version": VERSION,
        "feature_spec": FEATURE_SPEC,
        "arch": {
            "job_dim": model.job_dim,
            "site_dim": model.site_dim,
            "hidden": model.hidden,
            "options": model.options,
        },
    }
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    try:
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr(META, json.dumps(full, indent=2))
            z.writestr(WEIGHTS, buf.getvalue())
    except OSError as exc:
        raise HyperionError(f"{path}: cannot write the model: {exc.strerror}") from None


def read_meta(path: str | Path) -> dict[str, Any]:
    """The artifact's metadata, checked for format, version and feature spec."""
    p = Path(path)
    if not p.is_file():
        raise HyperionError(f"{p}: no such model file", hint="train one with `hyperion train`")
    try:
        with zipfile.ZipFile(p) as z:
            meta = json.loads(z.read(META))
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise HyperionError(f"{p}: not a readable Hyperion model (corrupt file: {exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise HyperionError(f"{p}: not a Hyperion model (format is not {FORMAT!r})")
    if meta.get("version") != VERSION:
        raise HyperionError(
            f"{p}: model format version {meta.get('version')!r}, this Hyperion reads {VERSION}",
            hint="retrain the model with this version (`hyperion train`)",
        )
    if meta.get("feature_spec") != FEATURE_SPEC:
        raise HyperionError(
            f"{p}: the model was trained on other features than this Hyperion computes "
            f"(its spec: {meta.get('feature_spec')}, ours: {FEATURE_SPEC})",
            hint="retrain the model with this version (`hyperion train`)",
        )
    return meta


def load(path: str | Path) -> tuple[PlacementModel, dict[str, Any]]:
    """The model and its metadata; refuses bad artifacts (see the module docstring)."""
    meta = read_meta(path)
    try:
        arch = meta["arch"]
        model = PlacementModel(
            int(arch["job_dim"]), int(arch["site_dim"]), int(arch["hidden"]), int(arch["options"])
        )
        with zipfile.ZipFile(path) as z:
            state = torch.load(io.BytesIO(z.read(WEIGHTS)), weights_only=True)
        model.load_state_dict(state)
    except Exception as exc:  # a damaged member can fail in zlib, torch or load_state_dict
        raise HyperionError(f"{path}: the model's weights cannot be loaded: {exc}") from None
    model.eval()
    return model, meta
