"""The scheduling core: pure functions on snapshots (no database, HTTP, subprocess or clock)."""
