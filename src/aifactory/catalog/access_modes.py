"""The default rules of each access mode, read from ``access-modes.yaml`` (shipped data)."""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

import yaml

from aifactory.domain.access import AccessMode
from aifactory.domain.access_forms import CallRules


@functools.cache
def _defaults() -> dict[str, dict[str, Any]]:
    text = resources.files("aifactory.catalog").joinpath("access-modes.yaml").read_text()
    data: dict[str, dict[str, Any]] = yaml.safe_load(text)
    return data


def mode_defaults(mode: AccessMode) -> dict[str, Any]:
    return dict(_defaults()[mode.value])


def call_rules(mode: AccessMode, overrides: dict[str, Any] | None = None) -> CallRules:
    """The mode's defaults with ``overrides`` on top (a nested ``calendar`` is merged too).
    Raises pydantic's ValidationError naming the field."""
    merged = mode_defaults(mode)
    for key, value in (overrides or {}).items():
        if key == "calendar" and isinstance(value, dict):
            merged["calendar"] = {**merged.get("calendar", {}), **value}
        else:
            merged[key] = value
    return CallRules.model_validate(merged)
