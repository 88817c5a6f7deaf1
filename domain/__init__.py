"""Rules, use cases and ports: no I/O, no framework (import-linter keeps it so)."""
