"""Benchmarks run by ``hyperion bench NAME``: each module exposes ``add_arguments`` and ``run``."""
