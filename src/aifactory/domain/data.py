"""Datasets: classification, residency policy, references and the chunk layout.

Plain data, no I/O. A residency policy says where a dataset's bytes may be stored and
processed: in some countries (or anywhere in the EU/EEA), at some sites, or at its home site
only. GDPR Chapter V (Art. 44-50) lets personal data leave the EEA only under an adequacy
decision, safeguards or narrow derogations, so personal data defaults to EU/EEA; special
categories (Art. 9) default to their country of origin.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

# The European Economic Area: the EU 27 with Iceland, Liechtenstein and Norway.
EU27 = frozenset(
    [
        "AT",
        "BE",
        "BG",
        "CY",
        "CZ",
        "DE",
        "DK",
        "EE",
        "ES",
        "FI",
        "FR",
        "GR",
        "HR",
        "HU",
        "IE",
        "IT",
        "LT",
        "LU",
        "LV",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SE",
        "SI",
        "SK",
    ]
)
EEA = EU27 | frozenset({"IS", "LI", "NO"})
EU_EEA = "EU/EEA"  # the word a policy uses for all of EEA

# Chunks of this many plaintext bytes (the last may be shorter); each is stored as
# nonce (12) + AES-256-GCM ciphertext + tag (16).
DEFAULT_CHUNK_BYTES = 8 * 1024 * 1024
CHUNK_OVERHEAD = 12 + 16
MAX_CHUNK_BYTES = 64 * 1024 * 1024


class Classification(StrEnum):
    PUBLIC = "public"
    INTERNAL = "internal"
    CONFIDENTIAL = "confidential"
    PERSONAL = "personal"
    SPECIAL_CATEGORY = "special-category"  # GDPR Art. 9: health, biometrics, ...

    @property
    def is_personal(self) -> bool:
        return self in (Classification.PERSONAL, Classification.SPECIAL_CATEGORY)


class ResidencyKind(StrEnum):
    ANYWHERE = "anywhere"  # no limit (public and internal data may choose it)
    COUNTRIES = "countries"  # only at sites in these countries (EU/EEA expands)
    SITES = "sites"  # only at these sites
    HOME = "home"  # this site only: the dataset's home site


@dataclass(frozen=True)
class ResidencyPolicy:
    """Where a dataset may be stored and processed. ``countries`` holds ISO codes with
    ``EU/EEA`` already expanded; ``eu_eea`` remembers that the owner said it that way."""

    kind: ResidencyKind
    countries: frozenset[str] = frozenset()
    sites: frozenset[str] = frozenset()
    eu_eea: bool = False

    def admits(self, site_id: str, country: str, home_site: str) -> bool:
        if self.kind is ResidencyKind.ANYWHERE:
            return True
        if self.kind is ResidencyKind.COUNTRIES:
            return country in self.countries
        if self.kind is ResidencyKind.SITES:
            return site_id in self.sites
        return site_id == home_site

    def admitted_sites(self, sites: Iterable[tuple[str, str]], home_site: str) -> frozenset[str]:
        """Of (site id, country) pairs, the ids this policy admits."""
        return frozenset(s for s, c in sites if self.admits(s, c, home_site))

    def describe(self, home_site: str) -> str:
        if self.kind is ResidencyKind.ANYWHERE:
            return "anywhere"
        if self.kind is ResidencyKind.COUNTRIES:
            return EU_EEA if self.eu_eea else ", ".join(sorted(self.countries))
        if self.kind is ResidencyKind.SITES:
            return "sites " + ", ".join(sorted(self.sites))
        return f"its home site {home_site}"

    def as_dict(self) -> dict[str, object]:
        countries: list[str] = [EU_EEA] if self.eu_eea else sorted(self.countries)
        return {"kind": self.kind.value, "countries": countries, "sites": sorted(self.sites)}


def widens(
    old: ResidencyPolicy, new: ResidencyPolicy, sites: Iterable[tuple[str, str]], home_site: str
) -> frozenset[str]:
    """The sites of the catalog (and, for country rules, the countries) the new policy admits
    that the old did not: non-empty means the change widens the policy."""
    pairs = list(sites)
    before = old.admitted_sites(pairs, home_site)
    after = new.admitted_sites(pairs, home_site)
    gained = set(after - before)
    # A country rule also reaches sites the catalog does not hold yet.
    if new.kind is ResidencyKind.ANYWHERE and old.kind is not ResidencyKind.ANYWHERE:
        gained.add("anywhere")
    elif new.kind is ResidencyKind.COUNTRIES:
        old_countries = old.countries if old.kind is ResidencyKind.COUNTRIES else frozenset()
        if old.kind is not ResidencyKind.ANYWHERE:
            gained |= {f"country {c}" for c in new.countries - old_countries}
    return frozenset(gained)


def default_policy(classification: Classification, origin_country: str) -> ResidencyPolicy:
    """Personal data: EU/EEA. Special categories: the country of origin. Else: anywhere."""
    if classification is Classification.SPECIAL_CATEGORY:
        return ResidencyPolicy(ResidencyKind.COUNTRIES, countries=frozenset({origin_country}))
    if classification is Classification.PERSONAL:
        return ResidencyPolicy(ResidencyKind.COUNTRIES, countries=EEA, eu_eea=True)
    return ResidencyPolicy(ResidencyKind.ANYWHERE)


_REF = re.compile(
    r"^(?:(?P<project>[A-Za-z0-9_-]{1,64})/)?(?P<name>[a-z0-9][a-z0-9._-]{0,99})"
    r"(?:@(?P<version>[1-9][0-9]{0,8}|latest))?$"
)
DATASET_REF_FORMS = "name@version, name (the latest version) or project/name@version"


@dataclass(frozen=True)
class DatasetRef:
    """A job's reference to a dataset version: ``name@3``, ``name`` (latest), or
    ``prj_x/name@3`` for a dataset of another project that granted it."""

    name: str
    version: int | None  # None: the latest at submission
    project: str | None = None

    def __str__(self) -> str:
        prefix = f"{self.project}/" if self.project else ""
        suffix = f"@{self.version}" if self.version is not None else ""
        return f"{prefix}{self.name}{suffix}"


def parse_ref(text: str) -> DatasetRef:
    m = _REF.match(text.strip())
    if m is None:
        raise ValueError(f"{text!r} is not a dataset reference ({DATASET_REF_FORMS})")
    version = m["version"]
    return DatasetRef(
        name=m["name"],
        version=None if version in (None, "latest") else int(version),
        project=m["project"],
    )


def chunk_count(size: int, chunk_bytes: int) -> int:
    """Chunks of a version of ``size`` bytes (an empty version has one empty chunk)."""
    return max(1, -(-size // chunk_bytes))


def chunk_plain_size(index: int, size: int, chunk_bytes: int) -> int:
    """The plaintext size chunk ``index`` must have."""
    if size == 0:
        return 0
    return min(chunk_bytes, size - index * chunk_bytes)
