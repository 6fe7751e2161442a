"""Use cases: each combines domain rules, algorithms and storage for one thing a caller wants."""
