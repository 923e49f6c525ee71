"""Load and validate a site-configuration TOML file, with errors that name file and key.

String values in ``[sites.X.access]`` may use ``${VAR}`` and ``${VAR:-default}``; relative paths
there are resolved against the directory of the configuration file.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from hyperion.config.schema import HyperionConfig
from hyperion.errors import ConfigError

_ACCESS_KINDS = frozenset({"local", "ssh", "rest"})
_PROVIDER_KINDS = frozenset({"csv", "electricitymaps", "carbonintensity-gb"})
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand_env(text: str, env: dict[str, str] | None = None, *, where: str = "") -> str:
    """Replace ``${VAR}`` / ``${VAR:-default}``; an unset variable without default is an error."""
    environ = os.environ if env is None else env

    def sub(m: re.Match[str]) -> str:
        name, default = m.group(1), m.group(2)
        value = environ.get(name)
        if value:
            return value
        if default is not None:
            return default
        raise ConfigError(
            f"{where}: environment variable {name} is not set",
            hint=f"export {name}=... or write ${{{name}:-default}}",
        )

    return _VAR.sub(sub, text)


def _format_errors(path: Path, err: ValidationError) -> str:
    lines = [f"{path}: invalid site configuration ({err.error_count()} problem(s)):"]
    for e in err.errors():
        loc = [str(x) for x in e["loc"] if not str(x).startswith("function-")]
        # drop the union tag pydantic inserts after "access" (sites.a.access.ssh.host): the
        # file's key is sites.a.access.host
        loc = [
            x
            for i, x in enumerate(loc)
            if not (i and loc[i - 1] == "access" and x in _ACCESS_KINDS)
            and not (i > 1 and loc[i - 2] == "providers" and x in _PROVIDER_KINDS)
        ]
        key = ".".join(loc)
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling; see site-configs/example-university.toml)"
        elif e["type"] == "missing":
            msg = "required key is missing"
        got = e.get("input")
        shown = (
            "" if e["type"] in {"missing"} or isinstance(got, dict | list) else f" (got {got!r})"
        )
        lines.append(f"  {key}: {msg}{shown}" if key else f"  {msg}{shown}")
    return "\n".join(lines)


def _resolve_paths(model: BaseModel, base: Path) -> BaseModel:
    updates: dict[str, Any] = {}
    for field_name in type(model).model_fields:
        value = getattr(model, field_name)
        if isinstance(value, Path) and not value.is_absolute():
            updates[field_name] = (base / value).resolve()
    return model.model_copy(update=updates) if updates else model


def load_config(path: str | Path, env: dict[str, str] | None = None) -> HyperionConfig:
    """Read, expand and validate a configuration file; raise :class:`ConfigError` if wrong."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no such configuration file",
            hint="pass --config PATH or set HYPERION_CONFIG",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the configuration file: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None

    sites = raw.get("sites")
    if not isinstance(sites, dict) or not sites:
        raise ConfigError(
            f"{path}: no [sites.NAME] tables found",
            hint="describe at least one site; see site-configs/example-university.toml",
        )
    for name, site in sites.items():
        if not isinstance(site, dict):
            raise ConfigError(f"{path}: sites.{name} must be a table, got {type(site).__name__}")
        if "name" in site and site["name"] != name:
            raise ConfigError(
                f"{path}: sites.{name}.name is {site['name']!r}; omit it or make it {name!r}"
            )
        site["name"] = name
        access = site.get("access")
        if isinstance(access, dict):
            for key, value in access.items():
                if isinstance(value, str):
                    access[key] = expand_env(value, env, where=f"{path}: sites.{name}.access.{key}")
    try:
        # the other top-level keys go to the schema too, so that a typo is an error
        config = HyperionConfig.model_validate({**raw, "sites": sites})
    except ValidationError as err:
        raise ConfigError(_format_errors(path, err)) from None

    base = path.resolve().parent
    resolved = {
        name: site.model_copy(update={"access": _resolve_paths(site.access, base)})
        for name, site in config.sites.items()
    }
    return config.model_copy(update={"sites": resolved, "source": path})
