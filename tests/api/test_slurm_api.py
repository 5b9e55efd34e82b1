"""The Slurm operator endpoint and site health on a platform without Slurm sites (the real
clusters are in tests/slurm/)."""

from __future__ import annotations

from tests.conftest import Platform, quick_user


def test_reconcile_is_for_operators_and_names_the_connected_sites(platform: Platform) -> None:
    owner, _org, _project = platform.tenant()
    r = owner.post("/slurm/reconcile", {"dry_run": True})
    assert r.status_code == 403
    operator = quick_user(platform, "op", ("operator",))
    assert operator.post("/slurm/reconcile", {"dry_run": True}).json() == []
    r = operator.post("/slurm/reconcile", {"site": "lumi", "dry_run": True})
    assert r.status_code == 422
    error = r.json()["errors"][0]
    assert error["field"] == "site" and "not a connected Slurm site" in error["message"]
    r = operator.post("/slurm/reconcile", {"dry_run": "maybe"})
    assert r.status_code == 422


def test_sites_without_slurm_have_no_health(platform: Platform) -> None:
    sites = platform.admin.get("/sites").json()
    assert all(s["health"] is None for s in sites)
    executors = {p["executor"] for s in sites for p in s["partitions"]}
    assert "slurm" not in executors
