"""Datasets through the API, on both databases: the residency policy decides where a job
that reads one may run; bytes are encrypted at rest and checked end to end; uploads resume;
every copy is in the transfer log; bad input is refused naming the field, writing nothing."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest

from aifactory.db.data_tables import DatasetUpload, DatasetVersion
from tests.api.data_helpers import begin, make_dataset, push, put_chunk
from tests.conftest import Actor, Platform, build_platform, run_until, run_until_final

CHUNK = 64 * 1024


@pytest.fixture
def dp(tmp_path: Path, db_url: str) -> Any:
    """A platform with 64 KiB chunks, so small files span several."""
    p = build_platform(tmp_path, db_url, data_chunk_bytes=CHUNK)
    with p.client:
        yield p
    p.runtime.close()


def audit_actions(p: Platform) -> list[str]:
    events = p.admin.get("/audit/events", params={"limit": 500}).json()["items"]
    return [e["action"] for e in events]


def versions_count(p: Platform) -> int:
    with p.runtime.db.read() as s:
        return s.query(DatasetVersion).count()


def test_a_personal_dataset_restricted_to_finland_is_processed_only_in_finland(
    dp: Platform,
) -> None:
    ada = dp.user("ada")
    org = dp.org(ada)
    prj = dp.project(ada, org["id"])
    ds = make_dataset(
        ada,
        prj["id"],
        "patients",
        classification="personal",
        policy={"kind": "countries", "countries": ["FI"]},
    )
    assert ds["home_site"] == "lumi" and ds["policy_text"] == "FI"
    data = os.urandom(3 * CHUNK + 123)
    v = push(ada, ds["id"], data)
    assert v["sha256"] == hashlib.sha256(data).hexdigest() and v["chunks"] == 4
    spec = {
        "name": "train",
        "project": prj["id"],
        "run": "true",
        "simulate": True,
        "datasets": ["patients@1"],
        "resources": {"accelerator": "any", "nodes": None, "accelerators": 1},
    }
    r = ada.post("/jobs", spec)
    assert r.status_code == 201, r.text
    job = run_until(dp, r.json()["id"], ("submitted", "running", "completed"), ada)
    assert job["site"] == "lumi"
    detail = ada.get(f"/jobs/{job['id']}").json()
    sites = {c["site"] for c in detail["placement"]["candidates"]}
    for site in sites - {"lumi", "daedalus"}:  # daedalus: planned, not operational
        reasons = [c["reason"] for c in detail["placement"]["candidates"] if c["site"] == site]
        country = next(s.country for s in dp.runtime.catalog.sites if s.id == site)
        assert (
            f"data residency: dataset patients@1 may be processed only in FI, not {country}"
            in reasons
        ), (site, reasons)
    # Pinned to Italy: refused, and the refusal is in the audit trail.
    pinned = {**spec, "constraints": {"countries": ["IT"]}}
    r = ada.post("/jobs", pinned)
    assert r.status_code == 403, r.text
    assert "pinned to leonardo (IT)" in r.json()["detail"]
    assert "dataset patients@1 may be processed only in FI" in r.json()["detail"]
    assert "job.pin.refused" in audit_actions(dp)
    log = ada.get(f"/datasets/{ds['id']}/transfers").json()
    assert [(t["kind"], t["to_site"], t["to_country"]) for t in log] == [("upload", "lumi", "FI")]
    assert {"dataset.create", "dataset.version.create", "job.submit"} <= set(audit_actions(dp))
    assert dp.admin.get("/audit/verify").json()["ok"] is True


def test_a_local_job_reads_its_dataset_staged_to_the_local_site(dp: Platform) -> None:
    ada = dp.user("ada")
    org = dp.org(ada)
    prj = dp.project(ada, org["id"])
    ds = make_dataset(
        ada,
        prj["id"],
        "corpus",
        home_site="lumi",
        policy={"kind": "countries", "countries": ["EU/EEA"]},
    )
    data = os.urandom(2 * CHUNK + 5)
    push(ada, ds["id"], data)
    r = ada.post(
        "/jobs",
        {
            "name": "read",
            "project": prj["id"],
            "datasets": ["corpus"],
            "run": 'sha256sum "$AIF_DATASET_CORPUS/corpus"',
        },
    )
    assert r.status_code == 201, r.text
    job = run_until_final(dp, r.json()["id"], ada)
    assert job["state"] == "completed" and job["site"] == "local"
    out = ada.get(f"/jobs/{job['id']}/logs").json()["text"]
    assert hashlib.sha256(data).hexdigest() in out
    log = ada.get(f"/datasets/{ds['id']}/transfers").json()
    stage = [t for t in log if t["kind"] == "stage"]
    assert len(stage) == 1 and stage[0]["from_site"] == "lumi" and stage[0]["to_site"] == "local"
    assert stage[0]["job_id"] == job["id"] and job["id"] in stage[0]["legal_basis"]
    shown = ada.get(f"/datasets/{ds['id']}").json()["versions"][0]["replicas"]
    assert [x["site"] for x in shown] == ["lumi", "local"]
    # The plaintext was in the job's folder while it ran, and is gone now that it ended.
    workdir = dp.settings.jobs_dir / job["id"]
    assert workdir.is_dir() and not (workdir / "datasets").exists()


def test_bytes_at_rest_are_ciphertext_and_a_flipped_bit_is_never_served(dp: Platform) -> None:
    ada = dp.user("ada")
    prj = dp.project(ada, dp.org(ada)["id"])
    ds = make_dataset(ada, prj["id"], "text", home_site="local")
    plain = (b"the quick brown fox jumps over the lazy dog. " * 4000)[: 2 * CHUNK + 77]
    v = push(ada, ds["id"], plain)
    stored = dp.settings.data_dir / "storage" / "local" / ds["id"] / v["sha256"]
    raw = stored.read_bytes()
    assert raw != plain and len(raw) == len(plain) + 3 * 28
    runs = {plain[i : i + 16] for i in range(0, len(plain) - 16, 7)}
    assert not any(run in raw for run in runs), "a 16-byte plaintext run is on disk"
    keys = (dp.settings.data_dir / "master-keys").read_text()
    assert keys.split(":", 1)[1].strip()[:20] not in str(ada.get(f"/datasets/{ds['id']}").json())
    # One bit flipped in the second chunk: the first is served, the second never.
    flipped = bytearray(raw)
    flipped[CHUNK + 28 + 100] ^= 0x01
    stored.write_bytes(bytes(flipped))
    r = ada.get(f"/datasets/{ds['id']}/versions/1/content", params={})
    assert plain[CHUNK : 2 * CHUNK] not in r.content
    assert hashlib.sha256(r.content).hexdigest() != v["sha256"]
    flipped = bytearray(raw)
    flipped[50] ^= 0x80  # in the first chunk: refused before a byte is sent
    stored.write_bytes(bytes(flipped))
    r = ada.get(f"/datasets/{ds['id']}/versions/1/content")
    assert r.status_code == 409 and "integrity" in r.json()["detail"]


def test_an_interrupted_upload_resumes_without_resending_finished_chunks(dp: Platform) -> None:
    ada = dp.user("ada")
    prj = dp.project(ada, dp.org(ada)["id"])
    ds = make_dataset(ada, prj["id"], "big")
    data = os.urandom(4 * CHUNK + 1)
    up = begin(ada, ds["id"], data)
    for i in (0, 2):
        assert put_chunk(ada, ds["id"], up, data, i).status_code == 200
    again = begin(ada, ds["id"], data)  # the client starts over: it gets the open upload
    assert again["id"] == up["id"] and again["received"] == [0, 2]
    assert ada.post(f"/datasets/{ds['id']}/uploads/{up['id']}/complete").status_code == 409
    assert versions_count(dp) == 0
    sent = []
    for i in range(again["chunks"]):
        if i not in again["received"]:
            sent.append(i)
            assert put_chunk(ada, ds["id"], up, data, i).status_code == 200
    assert sent == [1, 3, 4]
    r = ada.post(f"/datasets/{ds['id']}/uploads/{up['id']}/complete")
    assert r.status_code == 201, r.text
    got = ada.get(f"/datasets/{ds['id']}/versions/1/content").content
    assert got == data
    # A resumed download: from byte N on.
    r = ada.get(
        f"/datasets/{ds['id']}/versions/1/content", headers={"Range": f"bytes={CHUNK + 9}-"}
    )
    assert r.status_code == 206 and r.content == data[CHUNK + 9 :]


def _upload(dp: Platform) -> tuple[Actor, dict[str, Any], dict[str, Any], bytes]:
    ada = dp.user("ada")
    prj = dp.project(ada, dp.org(ada)["id"])
    ds = make_dataset(ada, prj["id"], "x")
    data = os.urandom(2 * CHUNK + 10)
    return ada, ds, begin(ada, ds["id"], data), data


@pytest.mark.parametrize(
    ("case", "field"),
    [
        ("wrong checksum", "X-Chunk-SHA256"),
        ("no checksum", "X-Chunk-SHA256"),
        ("truncated", "body"),
        ("oversized", "body"),
        ("index out of range", "index"),
    ],
)
def test_a_bad_chunk_is_refused_naming_the_field_and_nothing_is_kept(
    dp: Platform, case: str, field: str
) -> None:
    ada, ds, up, data = _upload(dp)
    part = data[:CHUNK]
    digest = hashlib.sha256(part).hexdigest()
    index = 0
    if case == "wrong checksum":
        digest = hashlib.sha256(b"other").hexdigest()
    elif case == "truncated":
        part = part[:-1]
        digest = hashlib.sha256(part).hexdigest()
    elif case == "oversized":
        part = part + b"!"
        digest = hashlib.sha256(part).hexdigest()
    elif case == "index out of range":
        index = 3
    headers = {"Content-Type": "application/octet-stream"}
    if case != "no checksum":
        headers["X-Chunk-SHA256"] = digest
    r = ada.put(
        f"/datasets/{ds['id']}/uploads/{up['id']}/chunks/{index}", content=part, headers=headers
    )
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"].lower() == field.lower()
    assert ada.get(f"/datasets/{ds['id']}/uploads/{up['id']}").json()["received"] == []


def test_a_version_whose_content_does_not_match_its_sha256_is_never_written(dp: Platform) -> None:
    ada = dp.user("ada")
    prj = dp.project(ada, dp.org(ada)["id"])
    ds = make_dataset(ada, prj["id"], "x")
    data = os.urandom(CHUNK + 10)
    r = ada.post(
        f"/datasets/{ds['id']}/uploads",
        {"size": len(data), "sha256": hashlib.sha256(b"not it").hexdigest()},
    )
    up = r.json()
    for i in range(up["chunks"]):
        assert put_chunk(ada, ds["id"], up, data, i).status_code == 200
    r = ada.post(f"/datasets/{ds['id']}/uploads/{up['id']}/complete")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "sha256"
    assert versions_count(dp) == 0
    with dp.runtime.db.read() as s:
        assert s.get(DatasetUpload, up["id"]).state == "open"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"policy": {"kind": "countries", "countries": ["XX"]}}, "policy.countries[0]"),
        ({"policy": {"kind": "countries", "countries": []}}, "policy.countries"),
        ({"policy": {"kind": "sites", "sites": ["atlantis"]}}, "policy.sites[0]"),
        ({"policy": {"kind": "sites", "sites": ["lumi"], "countries": ["FI"]}}, "policy.countries"),
        (
            {"policy": {"kind": "countries", "countries": ["FI"]}, "home_site": "leonardo"},
            "home_site",
        ),
        ({"home_site": "atlantis"}, "home_site"),
        ({"classification": "secret"}, "classification"),
        ({"name": "Has Spaces"}, "name"),
        ({"origin_country": "XX"}, "origin_country"),
    ],
)
def test_a_bad_dataset_is_refused_naming_the_field(
    dp: Platform, body: dict[str, Any], field: str
) -> None:
    ada = dp.user("ada")
    prj = dp.project(ada, dp.org(ada)["id"], gpu_hours=None)
    full = {
        "project_id": prj["id"],
        "name": "x",
        "classification": "personal",
        "licence": "CC-BY-4.0",
        **body,
    }
    r = ada.post("/datasets", full)
    assert r.status_code == 422, r.text
    assert field in [e["field"] for e in r.json()["errors"]], r.json()
    assert ada.get("/datasets").json() == []


@pytest.mark.parametrize(
    ("ref", "message"),
    [("nosuch@1", "no dataset"), ("x@7", "no version 7"), ("X Y", "not a dataset reference")],
)
def test_a_job_naming_an_unknown_dataset_or_version_is_refused(
    dp: Platform, ref: str, message: str
) -> None:
    ada = dp.user("ada")
    prj = dp.project(ada, dp.org(ada)["id"], gpu_hours=None)
    ds = make_dataset(ada, prj["id"], "x")
    push(ada, ds["id"], b"abc")
    r = ada.post("/jobs", {"name": "j", "project": prj["id"], "run": "true", "datasets": [ref]})
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"].startswith("datasets")
    assert message in r.text
    assert ada.get("/jobs").json()["total"] == 0


def test_another_project_needs_a_grant_and_revocation_cancels_its_waiting_jobs(
    dp: Platform,
) -> None:
    ada = dp.user("ada")
    prj = dp.project(ada, dp.org(ada)["id"])
    ds = make_dataset(ada, prj["id"], "shared")
    push(ada, ds["id"], b"shared bytes")
    bob = dp.user("bob")
    bprj = dp.project(bob, dp.org(bob)["id"])
    ref = f"{prj['id']}/shared@1"
    spec = {
        "name": "j",
        "project": bprj["id"],
        "run": "true",
        "datasets": [ref],
        "constraints": {"sites": ["lumi"]},
        "simulate": True,
    }
    assert bob.get("/datasets").json() == []
    assert bob.get(f"/datasets/{ds['id']}").status_code == 404
    assert bob.get(f"/datasets/{ds['id']}/versions/1/content").status_code == 404
    assert bob.post("/jobs", spec).status_code == 422
    r = ada.post(f"/datasets/{ds['id']}/grants", {"project_id": bprj["id"]})
    assert r.status_code == 201, r.text
    grant = r.json()
    assert [d["id"] for d in bob.get("/datasets").json()] == [ds["id"]]
    assert bob.get(f"/datasets/{ds['id']}/versions/1/content").content == b"shared bytes"
    # bob may read it, not change it: no new versions, no stages, no wider policy, no grants.
    assert (
        bob.post(f"/datasets/{ds['id']}/uploads", {"size": 1, "sha256": "0" * 64}).status_code
        == 403
    )
    assert bob.post(f"/datasets/{ds['id']}/grants", {"project_id": bprj["id"]}).status_code == 403
    job = bob.post("/jobs", spec)
    assert job.status_code == 201, job.text
    # No placement loop ran: the job waits; the grant ends, and so does the job.
    r = ada.delete(f"/datasets/{ds['id']}/grants/{grant['id']}")
    assert r.status_code == 200 and r.json()["revoked_at"]
    after = bob.get(f"/jobs/{job.json()['id']}").json()
    assert after["state"] == "cancelled" and "revoked" in after["reason"]
    assert bob.get(f"/datasets/{ds['id']}").status_code == 404
    assert {"dataset.grant", "dataset.grant.revoke"} <= set(audit_actions(dp))


def test_a_wider_policy_needs_an_owner_and_a_forbidden_stage_is_refused_and_audited(
    dp: Platform,
) -> None:
    owner = dp.user("olga")
    org = dp.org(owner)
    prj = dp.project(owner, org["id"])
    member = dp.user("mika")
    assert (
        owner.post(
            f"/orgs/{org['id']}/members", {"email": member.email, "role": "member"}
        ).status_code
        == 201
    )
    assert owner.post(f"/projects/{prj['id']}/members", {"email": member.email}).status_code == 201
    ds = make_dataset(
        member, prj["id"], "health", classification="special-category", origin_country="FI"
    )
    assert ds["policy"] == {"kind": "countries", "countries": ["FI"], "sites": []}
    push(member, ds["id"], b"records")
    wider = {"kind": "countries", "countries": ["FI", "SE"], "reason": "Swedish partner"}
    r = member.put(f"/datasets/{ds['id']}/policy", wider)
    assert r.status_code == 403 and "only an owner" in r.json()["detail"]
    r = member.post(
        f"/datasets/{ds['id']}/versions/1/replicas", {"site": "mimer", "legal_basis": "partner"}
    )
    assert r.status_code == 403 and "does not admit site mimer (SE)" in r.json()["detail"]
    assert "dataset.stage.refused" in audit_actions(dp)
    assert [t["kind"] for t in member.get(f"/datasets/{ds['id']}/transfers").json()] == ["upload"]
    r = owner.put(f"/datasets/{ds['id']}/policy", wider)
    assert r.status_code == 200, r.text
    r = member.post(
        f"/datasets/{ds['id']}/versions/1/replicas",
        {"site": "mimer", "legal_basis": "DPA with partner"},
    )
    assert r.status_code == 201, r.text
    log = member.get(f"/datasets/{ds['id']}/transfers").json()
    assert [(t["kind"], t["from_site"], t["to_site"], t["legal_basis"]) for t in log][-1] == (
        "stage",
        "lumi",
        "mimer",
        "DPA with partner",
    )
    narrower = {"kind": "home", "reason": "partner left"}
    assert member.put(f"/datasets/{ds['id']}/policy", narrower).status_code == 200
    actions = audit_actions(dp)
    assert "dataset.policy.widen" in actions and "dataset.policy.narrow" in actions


def test_master_key_rotation_rewraps_data_keys_and_the_data_still_reads(dp: Platform) -> None:
    from aifactory.storage.crypto import new_key_line

    ada = dp.user("ada")
    prj = dp.project(ada, dp.org(ada)["id"], gpu_hours=None)
    ds = make_dataset(ada, prj["id"], "x", home_site="local")
    data = os.urandom(CHUNK + 3)
    v = push(ada, ds["id"], data)
    stored = dp.settings.data_dir / "storage" / "local" / ds["id"] / v["sha256"]
    before = stored.read_bytes()
    assert ada.post("/data/keys/rotate").status_code == 403
    key_file = dp.settings.data_dir / "master-keys"
    old = key_file.read_text()
    key_file.write_text(new_key_line("k2") + "\n" + old)
    r = dp.admin.post("/data/keys/rotate")
    assert r.status_code == 200 and r.json() == {"current": "k2", "rewrapped": 1}
    key_file.write_text(key_file.read_text().splitlines()[0] + "\n")  # k1 is gone
    dp.runtime.data.reload_keyring()
    assert ada.get(f"/datasets/{ds['id']}/versions/1/content").content == data
    assert stored.read_bytes() == before  # re-wrapped, not re-encrypted
    assert "data.keys.rotate" in audit_actions(dp)


def test_the_sdk_push_resumes_after_an_interruption_and_pull_resumes_too(
    dp: Platform, tmp_path: Path
) -> None:
    from aifactory.sdk import Client

    ada = dp.user("ada")
    prj = dp.project(ada, dp.org(ada)["id"], gpu_hours=None)
    ds = make_dataset(ada, prj["id"], "ckpt")
    src = tmp_path / "ckpt.bin"
    data = os.urandom(5 * CHUNK + 17)
    src.write_bytes(data)
    client = Client("http://testserver", ada.token, http=dp.client)
    sent: list[str] = []
    real = client._request

    def flaky(method: str, path: str, **kw: Any) -> Any:
        if "/chunks/" in path:
            if path.endswith("/chunks/3") and not flaky.failed:  # type: ignore[attr-defined]
                flaky.failed = True  # type: ignore[attr-defined]
                raise ConnectionError("the network went away")
            sent.append(path.rsplit("/", 1)[1])
        return real(method, path, **kw)

    flaky.failed = False  # type: ignore[attr-defined]
    client._request = flaky  # type: ignore[method-assign]
    with pytest.raises(ConnectionError):
        client.data.push(ds["id"], src)
    assert "3" not in sent and {"0", "1", "2"} <= set(sent)
    uploads = ada.get(f"/datasets/{ds['id']}").json()  # no version yet
    assert uploads["versions"] == []
    first = list(sent)
    sent.clear()
    v = client.data.push(ds["id"], src)
    # Only what the server did not hold was sent again: chunk 3 and whatever came after it.
    assert "3" in sent and not set(first) & set(sent)
    assert sorted(first + sent, key=int) == [str(i) for i in range(6)]
    assert v["sha256"] == hashlib.sha256(data).hexdigest()
    dest = tmp_path / "back.bin"
    (tmp_path / "back.bin.part").write_bytes(data[: 2 * CHUNK + 5])  # an interrupted pull
    client.data.pull(ds["id"], 1, dest)
    assert dest.read_bytes() == data and not (tmp_path / "back.bin.part").exists()
    log = ada.get(f"/datasets/{ds['id']}/transfers").json()
    assert log[-1]["kind"] == "download" and log[-1]["bytes"] == len(data) - (2 * CHUNK + 5)


@pytest.mark.parametrize("path", ["/versions/{big}/content", "/uploads/upl-x/chunks/{big}"])
def test_numbers_in_paths_beyond_what_the_database_holds_are_422_not_500(
    dp: Platform, path: str
) -> None:
    ada = dp.user("ada")
    prj = dp.project(ada, dp.org(ada)["id"], gpu_hours=None)
    ds = make_dataset(ada, prj["id"], "x")
    url = f"/datasets/{ds['id']}" + path.format(big=2**70)
    r = ada.get(url) if "content" in url else ada.put(url, content=b"x")
    assert r.status_code == 422, r.text
