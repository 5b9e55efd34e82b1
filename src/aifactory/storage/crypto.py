"""Encryption at rest: AES-256-GCM per chunk under a data key per dataset; each data key is
wrapped (AES-256-GCM too) by the platform's master key, which lives in a key file or the
environment and never in the database. Rotating the master key re-wraps the data keys; the
chunks stay as they are.

A sealed chunk is ``nonce (12) || ciphertext || tag (16)``. Its associated data binds it to
its dataset, its version's content address and its index, so a chunk moved to another place
(or another object) fails to open just as a flipped bit does.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
NONCE = 12


class Tampered(Exception):
    """A chunk or wrapped key failed its authentication tag: it is never served."""


class KeyringError(Exception):
    """The master keys are missing or malformed; the message says how to give them."""


def chunk_aad(dataset_id: str, sha256: str, index: int) -> bytes:
    return f"aif-chunk:{dataset_id}:{sha256}:{index}".encode()


def seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(NONCE)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def open_sealed(key: bytes, sealed: bytes | bytearray | memoryview, aad: bytes) -> bytes:
    if len(sealed) < NONCE + 16:
        raise Tampered("the sealed bytes are shorter than a nonce and a tag")
    view = memoryview(sealed)  # slices of a view: no copy of a megabytes-large chunk
    try:
        return AESGCM(key).decrypt(view[:NONCE], view[NONCE:], aad)
    except InvalidTag:
        raise Tampered("authentication tag mismatch") from None


def seal_into(
    key: bytes, plaintext: bytes | bytearray | memoryview, aad: bytes, out: bytearray
) -> tuple[bytes, memoryview]:
    """(nonce, ciphertext with its tag) with the ciphertext written into ``out`` (at least
    16 bytes longer than the plaintext): no fresh buffer per chunk."""
    nonce = os.urandom(NONCE)
    view = memoryview(out)[: len(plaintext) + 16]
    AESGCM(key).encrypt_into(nonce, plaintext, aad, view)
    return nonce, view


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


@dataclass(frozen=True)
class Keyring:
    """Master keys by id; ``current`` wraps new data keys, every key may unwrap."""

    keys: dict[str, bytes]
    current: str

    def wrap(self, data_key: bytes, dataset_id: str) -> tuple[str, bytes]:
        aad = f"aif-data-key:{dataset_id}".encode()
        return self.current, seal(self.keys[self.current], data_key, aad)

    def unwrap(self, key_id: str, wrapped: bytes, dataset_id: str) -> bytes:
        master = self.keys.get(key_id)
        if master is None:
            raise KeyringError(
                f"the data key of dataset {dataset_id} is wrapped by master key {key_id!r}, "
                f"which the keyring no longer holds (it holds {', '.join(sorted(self.keys))})"
            )
        return open_sealed(master, wrapped, f"aif-data-key:{dataset_id}".encode())


def parse_keyring(text: str, source: str) -> Keyring:
    """One key per line, ``id:base64`` of 32 bytes; the first is current. ``#`` comments."""
    keys: dict[str, bytes] = {}
    order: list[str] = []
    for lineno, raw in enumerate(text.replace(",", "\n").splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        key_id, sep, b64 = line.partition(":")
        if not sep or not _KEY_ID.match(key_id):
            raise KeyringError(f"{source} line {lineno}: expected id:base64 (id [A-Za-z0-9_-])")
        try:
            key = base64.b64decode(b64.strip(), altchars=b"-_", validate=True)
        except (binascii.Error, ValueError):
            raise KeyringError(f"{source} line {lineno}: the key is not base64") from None
        if len(key) != 32:
            raise KeyringError(f"{source} line {lineno}: a master key is 32 bytes, not {len(key)}")
        if key_id in keys:
            raise KeyringError(f"{source} line {lineno}: key id {key_id!r} given twice")
        keys[key_id] = key
        order.append(key_id)
    if not keys:
        raise KeyringError(f"{source} holds no master key")
    return Keyring(keys, order[0])


def new_key_line(key_id: str) -> str:
    return f"{key_id}:{base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()}"


def load_keyring(env_value: str, key_file: Path, create: bool) -> Keyring:
    """From the environment's value if set, else the key file; with ``create`` (development)
    a missing key file is made with one new key, readable by its owner only."""
    if env_value.strip():
        return parse_keyring(env_value, "AIF_MASTER_KEYS")
    if not key_file.exists():
        if not create:
            raise KeyringError(
                f"no master key: set AIF_MASTER_KEYS or write {key_file} "
                "(one id:base64 line of 32 random bytes; `aif data new-master-key k1`)"
            )
        key_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(new_key_line("k1") + "\n")
    return parse_keyring(key_file.read_text(), str(key_file))
