"""hyperiond's HTTP API v1 (``docs/federation.md``).

``hyperion.api.client``: the standard-library client the CLIs use (imports nothing heavy).
``hyperion.api.server``: the daemon's side. This package imports neither, so each side loads
only what it needs.
"""
