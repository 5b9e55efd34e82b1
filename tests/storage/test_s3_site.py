"""A site whose datasets live in an S3-compatible store (moto's real server on loopback):
the platform uploads a version to it as a multipart upload of sealed chunks, serves it back
through the API, stages it to a site with a local directory, and the object in the bucket is
ciphertext."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import boto3
import yaml

from aifactory.storage.s3 import S3Store
from tests.api.data_helpers import make_dataset, push
from tests.conftest import Databases, build_platform

CHUNK = 5 * 1024 * 1024  # S3's smallest part


def test_a_version_at_an_s3_site_is_a_multipart_object_of_ciphertext(
    tmp_path: Path, databases: Databases, s3_endpoint: str
) -> None:
    stores = tmp_path / "stores.yaml"
    stores.write_text(
        yaml.safe_dump(
            {
                "lumi": {
                    "kind": "s3",
                    "endpoint_url": s3_endpoint,
                    "bucket": "aif-lumi-test",
                    "access_key_id": "test",
                    "secret_access_key": "test",
                }
            }
        )
    )
    p = build_platform(
        tmp_path,
        databases.sqlite(tmp_path / "data" / "aifactory.db"),
        data_chunk_bytes=CHUNK,
        data_stores=stores,
    )
    with p.client:
        ada = p.user("ada")
        prj = p.project(ada, p.org(ada)["id"], gpu_hours=None)
        ds = make_dataset(ada, prj["id"], "weights", home_site="lumi")
        data = os.urandom(2 * CHUNK + 4321)
        v = push(ada, ds["id"], data)
        assert v["chunks"] == 3 and v["replicas"][0]["site"] == "lumi"
        s3 = boto3.client(
            "s3",
            endpoint_url=s3_endpoint,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )
        key = f"{ds['id']}/{v['sha256']}"
        head = s3.head_object(Bucket="aif-lumi-test", Key=key)
        assert head["ContentLength"] == len(data) + 3 * 28
        assert head["ETag"].strip('"').endswith("-3")  # a multipart object of three parts
        raw = s3.get_object(Bucket="aif-lumi-test", Key=key)["Body"].read()
        assert data[:64] not in raw and data[CHUNK : CHUNK + 64] not in raw
        got = ada.get(f"/datasets/{ds['id']}/versions/1/content").content
        assert hashlib.sha256(got).hexdigest() == v["sha256"]
        r = ada.post(
            f"/datasets/{ds['id']}/versions/1/replicas",
            {"site": "local", "legal_basis": "a copy at the local site"},
        )
        assert r.status_code == 201, r.text
        local = p.settings.data_dir / "storage" / "local" / key
        assert local.read_bytes() == raw  # sealed chunks copied as they are
        assert isinstance(p.runtime.data.store("lumi"), S3Store)
    p.runtime.close()
