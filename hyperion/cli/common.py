"""Small pieces every command-line entry point shares: config discovery and error handling."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

from hyperion.errors import ConfigError, HyperionError

#: where the site configuration is looked for when neither a flag nor HYPERION_CONFIG names it
SYSTEM_CONFIG = Path("/etc/hyperion/sites.toml")


def config_path(flag: str | None) -> Path:
    """The site configuration: ``--config`` > ``$HYPERION_CONFIG`` > /etc/hyperion/sites.toml."""
    if flag:
        return Path(flag)
    env = os.environ.get("HYPERION_CONFIG")
    if env:
        return Path(env)
    if SYSTEM_CONFIG.exists():
        return SYSTEM_CONFIG
    raise ConfigError(
        "no site configuration given",
        hint=f"pass a path, set HYPERION_CONFIG, or create {SYSTEM_CONFIG}",
    )


def parse_seeds(text: str, flag: str = "--seeds") -> list[int]:
    """Comma-separated integers (``0,1,2``); a clear error naming ``flag`` otherwise."""
    try:
        return [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise HyperionError(f"{flag} {text!r}: expected comma-separated integers") from None


def run_main(body: Callable[[], int], prog: str = "hyperion") -> int:
    """Run a command body; print user errors as messages (no traceback) with their exit code."""
    try:
        return body()
    except HyperionError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. piped into head
        return 0
