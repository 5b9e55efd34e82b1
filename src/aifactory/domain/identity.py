"""Organisations, memberships and platform roles."""

from __future__ import annotations

from enum import StrEnum


class OrgKind(StrEnum):
    STARTUP = "startup"
    SME = "sme"
    INDUSTRY = "industry"
    RESEARCH = "research"
    PUBLIC = "public"


class MembershipRole(StrEnum):
    OWNER = "owner"
    MEMBER = "member"


class PlatformRole(StrEnum):
    """Roles across the whole federation, on top of organisation memberships."""

    ADMIN = "admin"
    OPERATOR = "operator"
    REVIEWER = "reviewer"
    COMPLIANCE = "compliance"
