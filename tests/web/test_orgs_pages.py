"""Organisation and project pages: register an organisation and create a project from the forms
(errors beside the fields, what was typed kept), invite by e-mail (a new address gets an
account and a mail whose link sets its password; an existing one is added and told), only
owners invite, remove a member; a project's members, allocations and jobs link."""

from __future__ import annotations

import re
from typing import Any

import pytest

from aifactory.services import notifications
from tests.conftest import Actor, Platform, quick_user
from tests.mailbox import Mailbox
from tests.web.portal import anonymous, browser_of, field_error

PASSWORD = "a long enough passphrase"


@pytest.fixture
def mp(mail_platform: Platform) -> Platform:
    return mail_platform


def _mails(p: Platform, box: Mailbox, count: int) -> list[tuple[str, str, str]]:
    assert p.runtime.mailer is not None
    notifications.deliver_once(p.runtime.db, p.runtime.mailer)
    return [(m["To"], m["Subject"], m.get_content()) for m in box.wait_for(count)]


def test_register_an_organisation_and_create_a_project_from_the_forms(
    sqlite_platform: Platform,
) -> None:
    ada = quick_user(sqlite_platform, "ada")
    web = browser_of(sqlite_platform, ada)
    form = {"name": "Ada Labs", "kind": "startup", "country": "XX", "registration_id": "FI-1"}
    r = web.post("/orgs", form)
    assert r.status_code == 422
    assert "not a EuroHPC participating state" in field_error(r.text, "country")
    assert 'value="Ada Labs"' in r.text  # kept
    r = web.post("/orgs", {**form, "country": "FI", "name": ""})
    assert r.status_code == 422 and field_error(r.text, "name")
    r = web.post("/orgs", {**form, "country": "FI"})
    assert r.status_code == 303
    org_path = r.headers["location"]
    (org,) = ada.get("/orgs").json()
    assert org_path == f"/orgs/{org['id']}"
    assert (org["name"], org["kind"], org["country"]) == ("Ada Labs", "startup", "FI")
    again = web.post("/orgs", {**form, "country": "FI"})
    assert again.status_code == 409 and "already exists" in field_error(again.text, "name")

    page = web.get(org_path)
    assert page.status_code == 200 and "ada@example.eu" in page.text and "owner" in page.text
    r = web.post(f"{org_path}/projects", {"name": "", "description": "x"})
    assert r.status_code == 422 and field_error(r.text, "project-name")
    r = web.post(f"{org_path}/projects", {"name": "triage", "description": "clinical notes"})
    assert r.status_code == 303
    (project,) = ada.get(f"/projects?org_id={org['id']}").json()
    assert r.headers["location"] == f"/projects/{project['id']}"
    assert project["description"] == "clinical notes"
    assert "triage" in web.get(org_path).text and "Ada Labs" in web.get("/orgs").text
    dup = web.post(f"{org_path}/projects", {"name": "triage"})
    assert dup.status_code == 409 and "already has a project" in field_error(
        dup.text, "project-name"
    )


def test_invite_a_new_address_the_mailed_link_sets_a_password_and_they_are_a_member(
    mp: Platform, smtp_server: Mailbox
) -> None:
    ada = quick_user(mp, "ada")
    org = mp.org(ada, "Ada Labs")
    web = browser_of(mp, ada)
    bad = web.post(f"/orgs/{org['id']}/members", {"email": "not-an-address", "role": "member"})
    assert bad.status_code == 422 and field_error(bad.text, "invite-email")
    assert 'value="not-an-address"' in bad.text
    r = web.post(f"/orgs/{org['id']}/members", {"email": "Grace@Example.eu", "role": "member"})
    assert r.status_code == 303
    assert "grace@example.eu" in web.get(f"/orgs/{org['id']}").text

    ((to, subject, body),) = _mails(mp, smtp_server, 1)
    assert to == "grace@example.eu"
    assert subject == "ada (ada@example.eu) invited you to Ada Labs on aifactory"
    assert "the organisation Ada Labs on aifactory, as member" in body
    link = re.search(
        r"https://portal\.example\.eu(/reset-password\?token=([\w-]+)&welcome=1)", body
    )
    assert link, body
    guest = anonymous(mp)
    form = guest.get(link.group(1)).text
    # The invited person has no password to reset: the page asks them to choose one.
    assert "<h1>Choose your password</h1>" in form and "Reset" not in form
    r = guest.post(
        "/reset-password",
        data={"token": link.group(2), "password": PASSWORD, "confirm": PASSWORD, "welcome": "1"},
    )
    assert r.status_code == 200 and "grace@example.eu has its password" in r.text
    login = mp.client.post(
        "/api/v1/auth/login", json={"email": "grace@example.eu", "password": PASSWORD}
    )
    assert login.status_code == 201, login.text
    headers = {"Authorization": f"Bearer {login.json()['token']}"}
    orgs = mp.client.get("/api/v1/orgs", headers=headers).json()
    assert [o["id"] for o in orgs] == [org["id"]]
    members = {m["email"]: m["role"] for m in ada.get(f"/orgs/{org['id']}/members").json()}
    assert members == {"ada@example.eu": "owner", "grace@example.eu": "member"}


def test_an_existing_account_is_added_and_told_by_mail(mp: Platform, smtp_server: Mailbox) -> None:
    ada, bob = quick_user(mp, "ada"), quick_user(mp, "bob")
    org = mp.org(ada, "Ada Labs")
    r = browser_of(mp, ada).post(
        f"/orgs/{org['id']}/members", {"email": bob.email, "role": "owner"}
    )
    assert r.status_code == 303
    ((to, subject, body),) = _mails(mp, smtp_server, 1)
    assert to == bob.email and subject == "ada (ada@example.eu) added you to Ada Labs on aifactory"
    assert "as owner" in body and "reset-password" not in body
    assert org["id"] in [o["id"] for o in bob.get("/orgs").json()]


def _ada_and_member_bob(p: Platform) -> tuple[Actor, Actor, dict[str, Any]]:
    """Ada owns Ada Labs; Bob is a plain member of it."""
    ada, bob = quick_user(p, "ada"), quick_user(p, "bob")
    org = p.org(ada, "Ada Labs")
    ada.post(f"/orgs/{org['id']}/members", {"email": bob.email, "role": "member"})
    return ada, bob, org


def test_only_an_owner_invites_or_removes(sqlite_platform: Platform) -> None:
    ada, bob, org = _ada_and_member_bob(sqlite_platform)
    web = browser_of(sqlite_platform, bob)
    page = web.get(f"/orgs/{org['id']}")
    assert page.status_code == 200 and "Only an owner" in page.text
    r = web.post(f"/orgs/{org['id']}/members", {"email": "eve@example.eu", "role": "owner"})
    assert r.status_code == 403 and "only an owner of the organisation" in r.text
    r = web.post(f"/orgs/{org['id']}/members/{ada.user_id}/remove")
    assert r.status_code == 403
    emails = {m["email"] for m in ada.get(f"/orgs/{org['id']}/members").json()}
    assert emails == {ada.email, bob.email}  # no account was made for eve, nobody removed
    forged = web.client.post(f"/orgs/{org['id']}/projects", data={"name": "x", "csrf": "no"})
    assert forged.status_code == 403 and ada.get("/projects").json() == []


def test_an_owner_removes_a_member_but_not_the_last_owner(sqlite_platform: Platform) -> None:
    ada, bob, org = _ada_and_member_bob(sqlite_platform)
    web = browser_of(sqlite_platform, ada)
    last = web.post(f"/orgs/{org['id']}/members/{ada.user_id}/remove")
    assert last.status_code == 409 and "last owner" in last.text
    assert web.post(f"/orgs/{org['id']}/members/{bob.user_id}/remove").status_code == 303
    emails = {m["email"] for m in ada.get(f"/orgs/{org['id']}/members").json()}
    assert emails == {ada.email}
    assert bob.get(f"/orgs/{org['id']}").status_code == 404


def test_a_project_page_shows_members_allocations_and_its_jobs(
    sqlite_platform: Platform,
) -> None:
    p = sqlite_platform
    ada, bob, eve = quick_user(p, "ada"), quick_user(p, "bob"), quick_user(p, "eve")
    org = p.org(ada, "Ada Labs")
    project = p.project(ada, org["id"], "triage", gpu_hours=None)
    p.grant(project["id"], 250, partitions=("local/local",))
    ada.post(f"/orgs/{org['id']}/members", {"email": bob.email, "role": "member"})
    web = browser_of(p, ada)
    page = web.get(f"/projects/{project['id']}")
    assert page.status_code == 200
    row = re.search(r"<th scope=\"row\">local/local</th>(.*?)</tr>", page.text, re.S)
    assert row, page.text
    cells = re.findall(r'<td class="num">([^<]*)</td>', row.group(1))
    assert cells == ["250.0", "0.0", "0.0", "250.0"]  # granted, used, reserved, left
    assert f'href="/jobs?project={project["id"]}"' in page.text

    r = web.post(f"/projects/{project['id']}/members", {"email": eve.email})
    assert r.status_code == 409
    assert "must first be a member of the project" in field_error(r.text, "email")
    r = web.post(f"/projects/{project['id']}/members", {"email": "nobody@example.eu"})
    assert r.status_code == 422 and "no account" in field_error(r.text, "email")
    assert 'value="nobody@example.eu"' in r.text
    r = web.post(f"/projects/{project['id']}/members", {"email": bob.email})
    assert r.status_code == 303
    members = {m["email"] for m in ada.get(f"/projects/{project['id']}/members").json()}
    assert members == {ada.email, bob.email}
    assert bob.email in web.get(f"/projects/{project['id']}").text
