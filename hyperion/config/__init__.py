"""Site configuration: the schema admins write (``site-configs/*.toml``) and its loader."""

from hyperion.config.loader import load_config
from hyperion.config.schema import (
    AccessConfig,
    DaemonSettings,
    HyperionConfig,
    LocalAccess,
    PartitionConfig,
    Prices,
    RestAccess,
    SiteConfig,
    SshAccess,
)

__all__ = [
    "AccessConfig",
    "DaemonSettings",
    "HyperionConfig",
    "LocalAccess",
    "PartitionConfig",
    "Prices",
    "RestAccess",
    "SiteConfig",
    "SshAccess",
    "load_config",
]
