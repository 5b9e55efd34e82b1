"""The vendored browser assets (src/aifactory/web/static/vendor, committed so the platform runs
without npm or the internet) are exactly what scripts/vendor-assets.sh copied from the packages
package-lock.json pins: every file is in MANIFEST.json with its SHA-256, and each version there is
the lock's (an asset updated by hand, or a lock bumped without re-vendoring, fails here)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
VENDOR = ROOT / "src" / "aifactory" / "web" / "static" / "vendor"
# What the pages load (base.html, web/apidocs.py): each must be vendored.
NEEDED = {
    "htmx.min.js": "htmx.org",
    "uPlot.iife.min.js": "uplot",
    "uPlot.min.css": "uplot",
    "swagger-ui-bundle.js": "swagger-ui-dist",
    "swagger-ui.css": "swagger-ui-dist",
}


def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def test_every_vendored_file_is_in_the_manifest_with_its_sha256() -> None:
    manifest = _json(VENDOR / "MANIFEST.json")
    files = {p.name for p in VENDOR.iterdir()} - {"MANIFEST.json"}
    assert files == set(manifest)
    for name, entry in manifest.items():
        digest = hashlib.sha256((VENDOR / name).read_bytes()).hexdigest()
        assert digest == entry["sha256"], f"{name} is not the file its package ships"
    for name, package in NEEDED.items():
        assert manifest[name]["package"] == package


def test_manifest_versions_are_the_locked_ones_and_pinned_exactly() -> None:
    manifest = _json(VENDOR / "MANIFEST.json")
    lock = _json(ROOT / "package-lock.json")["packages"]
    wanted = _json(ROOT / "package.json")["devDependencies"]
    for name, entry in manifest.items():
        locked = lock[f"node_modules/{entry['package']}"]
        assert entry["version"] == locked["version"], name
        assert entry["licence"] == locked["license"], name
    for package, version in wanted.items():
        assert version == lock[f"node_modules/{package}"]["version"], f"{package}: pin exactly"
    assert wanted["htmx.org"].startswith("2.")


def test_each_vendored_package_brings_its_licence() -> None:
    manifest = _json(VENDOR / "MANIFEST.json")
    packages = {entry["package"] for entry in manifest.values()}
    with_licence = {
        entry["package"] for name, entry in manifest.items() if "LICENSE" in name.upper()
    }
    assert packages == with_licence
