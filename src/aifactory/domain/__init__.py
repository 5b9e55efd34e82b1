"""Dataclasses and enums shared by every layer above (the bottom layer: imports nothing of ours)."""
