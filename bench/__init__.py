"""Benchmarks of broadcast-scheduler, run as ``python -m bench``."""
