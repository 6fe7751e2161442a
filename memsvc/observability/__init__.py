"""Metrics and logs: what an operator reads to see the service working (no I/O of its own)."""
