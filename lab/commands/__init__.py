"""``fedlab`` command groups, one module each."""
