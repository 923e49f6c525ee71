"""Hyperion: a meta-scheduler above several Slurm clusters and cloud burst partitions."""

__version__ = "0.1.0"
