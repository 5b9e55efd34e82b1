"""The datasets pages: a member sees the dataset with its residency and its versions with
where the replicas are; another tenant's dataset is a 404 page (test_portal_tenancy)."""

from __future__ import annotations

from tests.api.data_helpers import make_dataset, push
from tests.conftest import Platform, quick_user
from tests.web.portal import browser_of


def test_a_dataset_with_its_residency_and_versions(sqlite_platform: Platform) -> None:
    ada = quick_user(sqlite_platform, "ada")
    org = sqlite_platform.org(ada, "Ada Labs")
    project = sqlite_platform.project(ada, org["id"], "triage")
    ds = make_dataset(ada, project["id"], "clinical-notes")
    push(ada, ds["id"], b"note one\nnote two\n")
    detail = ada.get(f"/datasets/{ds['id']}").json()
    browser = browser_of(sqlite_platform, ada)
    listing = browser.get("/datasets")
    assert listing.status_code == 200
    assert "clinical-notes" in listing.text and detail["policy_text"] in listing.text
    page = browser.get(f"/datasets/{ds['id']}")
    assert page.status_code == 200
    version = detail["versions"][0]
    assert version["sha256"][:16] in page.text
    for replica in version["replicas"]:
        assert f"{replica['site']} ({replica['country']})" in page.text
    assert "#AIF --dataset clinical-notes@1" in page.text
    # Bob, in no organisation of ada's, sees none of it.
    bob = browser_of(sqlite_platform, quick_user(sqlite_platform, "bob"))
    assert "clinical-notes" not in bob.get("/datasets").text
