"""Activation memory: transformer KV caches captured, compressed and restored."""
