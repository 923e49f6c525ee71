"""Site connectors: one contract (:class:`SiteConnector`), three transports."""

from __future__ import annotations

from hyperion.config.schema import SiteConfig
from hyperion.sites.base import (
    JobStatus,
    PartitionInfo,
    PreemptionSettings,
    SiteConnector,
    SiteInfo,
    StartEstimate,
    Submission,
    SubmitOutcomeUnknown,
)


def connect(site: SiteConfig) -> SiteConnector:
    """The connector for ``site``'s access kind (imports only the transport it needs)."""
    access = site.access
    if access.kind == "local":
        from hyperion.sites.local import LocalConnector

        return LocalConnector(site.name, access)
    if access.kind == "ssh":
        from hyperion.sites.ssh import SshConnector

        return SshConnector(site.name, access)
    from hyperion.sites.rest import RestConnector

    return RestConnector(site.name, access)


__all__ = [
    "JobStatus",
    "PartitionInfo",
    "PreemptionSettings",
    "SiteConnector",
    "SiteInfo",
    "StartEstimate",
    "Submission",
    "SubmitOutcomeUnknown",
    "connect",
]
