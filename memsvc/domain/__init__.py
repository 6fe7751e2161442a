"""Plain types and rules of the memory domain. No I/O."""
