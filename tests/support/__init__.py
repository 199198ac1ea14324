"""Test-only generators and benches: random networks, single-layer cases, unit wrappers."""
