"""Pure functions over numbers and text: no I/O, unit-tested alone."""
