"""Storage layer: tables, engine and repositories. All SQL in memsvc lives in this package."""
