"""A site's object store in an S3-compatible bucket (AWS S3, MinIO, Ceph RGW, ...): one object
per key, written as an S3 multipart upload whose UploadId is the handle, read back by byte
range. This module owns the boto3 client (timeouts, retries, SigV4, path-style addressing so
loopback and on-premise endpoints work), creating the bucket on first write, and turning every
S3 or connection failure into a ``StoreError`` that names the operation, bucket and key.

S3 requires every part but the last to be at least 5 MiB (``EntityTooSmall`` at ``complete``
otherwise); the platform's default chunk size of 8 MiB keeps above that. S3 also allows at most
10,000 parts per object (about 78 GiB at 8 MiB a part).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Collection
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from aifactory.storage.base import Data, StoreError

# Only the checksums S3 requires: some S3-compatible servers reject the aws-chunked CRC
# trailers botocore >= 1.36 sends by default. Parts carry a Content-MD5, which all servers check.
_CHECKSUMS = {
    "request_checksum_calculation": "when_required",
    "response_checksum_validation": "when_required",
}
_CONFIG = Config(
    signature_version="s3v4",
    s3={"addressing_style": "path"},
    retries={"max_attempts": 5, "mode": "standard"},
    connect_timeout=5,
    read_timeout=60,
    **(_CHECKSUMS if "request_checksum_calculation" in Config.OPTION_DEFAULTS else {}),
)
_ABSENT = ("404", "NoSuchKey", "NotFound", "NoSuchBucket")


class S3Store:
    def __init__(
        self,
        *,
        endpoint_url: str,
        bucket: str,
        region: str = "us-east-1",
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
    ) -> None:
        self.bucket = bucket
        self.region = region
        self.endpoint_url = endpoint_url
        self.name = f"s3://{bucket}"
        self._bucket_ready = False
        self._client: Any = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            config=_CONFIG,
        )

    def _call(self, op: str, ok: Collection[str] = (), **kw: Any) -> dict[str, Any]:
        """``client.<op>(Bucket=..., **kw)``; an error whose code is in ``ok`` returns ``{}``,
        any other failure raises ``StoreError``."""
        where = f"{self.name}/{kw['Key']}" if "Key" in kw else self.name
        try:
            return dict(getattr(self._client, op)(Bucket=self.bucket, **kw))
        except ClientError as e:
            err = e.response.get("Error", {})
            code = str(err.get("Code", ""))
            if code in ok:
                return {}
            msg = err.get("Message") or e
            raise StoreError(f"S3 {op} on {where} at {self.endpoint_url}: {code}: {msg}") from e
        except BotoCoreError as e:
            raise StoreError(f"S3 {op} on {where} at {self.endpoint_url}: {e}") from e

    def _ensure_bucket(self) -> None:
        if self._bucket_ready:
            return
        if not self._call("head_bucket", ok=("404", "NoSuchBucket", "NotFound")):
            extra: dict[str, Any] = {}
            if self.region != "us-east-1":
                extra["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
            self._call("create_bucket", ok=("BucketAlreadyOwnedByYou",), **extra)
        self._bucket_ready = True

    def _listed(self, key: str, handle: str) -> dict[int, tuple[int, str]] | None:
        """The upload's parts, number -> (size, ETag); None when there is no such upload."""
        out: dict[int, tuple[int, str]] = {}
        marker = 0
        while True:
            page = self._call(
                "list_parts", ("NoSuchUpload",), Key=key, UploadId=handle, PartNumberMarker=marker
            )
            if not page:
                return None
            for p in page.get("Parts", []):
                out[int(p["PartNumber"])] = (int(p["Size"]), str(p["ETag"]))
            if not page.get("IsTruncated"):
                return out
            marker = int(page["NextPartNumberMarker"])

    def begin(self, key: str, part_size: int | None = None) -> str:
        del part_size  # S3 takes parts of any size (5 MiB or more but the last)
        self._ensure_bucket()
        return str(self._call("create_multipart_upload", Key=key)["UploadId"])

    def put_part(self, key: str, handle: str, number: int, data: Data) -> None:
        if not isinstance(data, bytes | bytearray | memoryview):
            data = b"".join(data)
        md5 = base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()
        self._call(
            "upload_part",
            Key=key,
            UploadId=handle,
            PartNumber=number,
            Body=data,
            ContentMD5=md5,
        )

    def parts(self, key: str, handle: str) -> dict[int, int]:
        return {n: size for n, (size, _) in (self._listed(key, handle) or {}).items()}

    def complete(self, key: str, handle: str, count: int) -> None:
        listed = self._listed(key, handle)
        if listed is None:
            if self.size(key) is not None:
                return  # completed before
            raise StoreError(f"no upload {handle} for {key} in {self.name}")
        missing = [n for n in range(1, count + 1) if n not in listed]
        if missing:
            raise StoreError(f"parts {missing} of upload {handle} for {key} are missing")
        if count == 0:  # S3 cannot complete an upload of no parts: the object is empty
            self._call("put_object", Key=key, Body=b"")
            self.abort(key, handle)
            return
        body = {"Parts": [{"PartNumber": n, "ETag": listed[n][1]} for n in range(1, count + 1)]}
        done = self._call(
            "complete_multipart_upload",
            ("NoSuchUpload",),
            Key=key,
            UploadId=handle,
            MultipartUpload=body,
        )
        if not done and self.size(key) is None:  # gone: a retried request completed it
            raise StoreError(f"upload {handle} for {key} in {self.name} vanished unfinished")

    def abort(self, key: str, handle: str) -> None:
        self._call("abort_multipart_upload", ("NoSuchUpload",), Key=key, UploadId=handle)

    def read(self, key: str, offset: int, length: int) -> bytes:
        if offset < 0 or length < 0:
            raise StoreError(f"bad range {offset}+{length} for {key} in {self.name}")
        if length == 0:
            return b""
        rng = f"bytes={offset}-{offset + length - 1}"
        resp = self._call("get_object", (*_ABSENT, "InvalidRange"), Key=key, Range=rng)
        if not resp:  # absent, or the range starts past the end (416) -> b"" as a file read
            if self.size(key) is None:
                raise StoreError(f"no object {key} in {self.name}")
            return b""
        try:
            return bytes(resp["Body"].read())
        except BotoCoreError as e:
            raise StoreError(f"S3 get_object body of {self.name}/{key}: {e}") from e

    def read_into(self, key: str, offset: int, buf: memoryview) -> int:
        data = self.read(key, offset, len(buf))
        buf[: len(data)] = data
        return len(data)

    def size(self, key: str) -> int | None:
        head = self._call("head_object", _ABSENT, Key=key)
        return int(head["ContentLength"]) if head else None

    def delete(self, key: str) -> None:
        self._call("delete_object", ("NoSuchBucket",), Key=key)
