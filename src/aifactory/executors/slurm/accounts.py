"""Slurm accounts and limits: the ``sacctmgr`` commands that make a cluster match the platform.

The platform owns one account tree per cluster: ``Desired.root`` (a child of Slurm's ``root``)
and every account below it. :func:`plan` compares that tree with what ``sacctmgr show assoc``
and ``show account`` report and returns commands for the difference only, so running them and
planning again gives ``[]``. Everything outside the tree (Slurm's ``root``, other accounts and
their users) is never touched. Pure: it builds argv lists; running them is the caller's job.
"""

from __future__ import annotations

import re
import shlex
import string
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

SLURM_ROOT = "root"
GPU_TRES = "gres/gpu"
ASSOC_FORMAT = "Account,User,ParentName,GrpTRESMins,GrpSubmit"
ACCOUNT_FORMAT = "Account,Descr,Org"
# -i commits without asking "Would you like to commit these changes?".
_SACCTMGR = ("sacctmgr", "-i")
# Anything else could be read by sacctmgr as a list (","), an option ("=") or a quote, or would
# break the "|"-separated output we read back.
_NAME = re.compile(r"[a-z0-9_][a-z0-9_.@+-]*")
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


@dataclass(frozen=True)
class DesiredAccount:
    name: str  # lower case; Slurm lower-cases account names
    parent: str
    description: str
    organization: str
    gpu_minutes: int | None = None  # GrpTRESMins=gres/gpu=<n>; None: no limit
    submit_blocked: bool = False  # GrpSubmitJobs=0 (a suspended project); False: no limit


@dataclass(frozen=True)
class Desired:
    cluster: str
    root: str  # the account under which the platform's tree lives (its parent is Slurm's root)
    root_description: str
    accounts: tuple[DesiredAccount, ...]  # every account below `root`
    users: frozenset[tuple[str, str]]  # (account, user) associations wanted


@dataclass(frozen=True)
class Association:
    """One row of ``sacctmgr -n -P show assoc where cluster=<c> format=ASSOC_FORMAT``."""

    account: str
    user: str  # "" for the account's own association
    parent: str  # ParentName ("" on user rows)
    grp_tres_mins: str  # e.g. "gres/gpu=600" or "cpu=10,gres/gpu=600" or ""
    grp_submit: str  # "" or e.g. "0"


@dataclass(frozen=True)
class AccountInfo:
    """One row of ``sacctmgr -n -P show account format=ACCOUNT_FORMAT``."""

    name: str
    description: str
    organization: str


def show_assoc_argv(cluster: str) -> list[str]:
    return [
        "sacctmgr", "-n", "-P", "show", "assoc", "where", f"cluster={cluster}",
        f"format={ASSOC_FORMAT}",
    ]  # fmt: skip


def show_accounts_argv() -> list[str]:
    return ["sacctmgr", "-n", "-P", "show", "account", f"format={ACCOUNT_FORMAT}"]


def _rows(text: str, width: int) -> list[list[str]]:
    rows = []
    # Only "\n" ends a row: str.splitlines() would also split on characters a description may hold.
    for number, line in enumerate(text.split("\n"), 1):
        line = line.removesuffix("\r")
        if not line.strip():
            continue
        fields = line.split("|")
        if len(fields) != width:
            raise ValueError(
                f"line {number}: expected {width} '|'-separated fields, got {len(fields)}: {line!r}"
            )
        rows.append(fields)
    return rows


def parse_associations(text: str) -> list[Association]:
    """``--parsable2 --noheader`` output of :func:`show_assoc_argv`."""
    return [Association(*row) for row in _rows(text, len(ASSOC_FORMAT.split(",")))]


def parse_accounts(text: str) -> list[AccountInfo]:
    """``--parsable2 --noheader`` output of :func:`show_accounts_argv`."""
    return [AccountInfo(*row) for row in _rows(text, len(ACCOUNT_FORMAT.split(",")))]


def parse_tres(text: str) -> dict[str, int]:
    """``"cpu=10,gres/gpu=600"`` -> ``{"cpu": 10, "gres/gpu": 600}``; ``""`` -> ``{}``."""
    tres: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key or not re.fullmatch(r"-?[0-9]+", value):
            raise ValueError(f"not a TRES=count item: {item!r} in {text!r}")
        tres[key] = int(value)
    return tres


def command_line(argv: Sequence[str]) -> str:
    """The shell line for one command, what ``--dry-run`` prints."""
    return shlex.join(argv)


def stored_text(text: str, default: str) -> str:
    """The Description/Organization Slurm keeps for ``text``, so plans compare like with like.

    Seen on Slurm 22.05: sacctmgr lower-cases ASCII letters only (``ÄÖ`` stays), turns quotes
    into backticks but drops a leading quote and everything after its partner, keeps blanks,
    and refuses an empty value. A "|" would break the ``-P`` output we read back. So: quotes
    become backticks, "|" and runs of blanks one space, and empty becomes ``default``.
    """
    cleaned = " ".join(re.sub(r"[\"']", "`", text).replace("|", " ").split())
    return cleaned.translate(_ASCII_LOWER) or default


def _name(value: str, what: str) -> str:
    name = value.strip().lower()
    if not _NAME.fullmatch(name):
        raise ValueError(f"{what} {value!r}: use letters, digits and _ . @ + - only")
    return name


@dataclass(frozen=True)
class _Want:
    """One account of the desired tree, normalised the way Slurm stores it."""

    name: str
    parent: str
    depth: int  # the platform root is 0
    description: str
    organization: str
    gpu_minutes: int | None
    submit_blocked: bool
    is_root: bool  # the root's limits are not the platform's to set


def _wanted(desired: Desired) -> dict[str, _Want]:
    """The desired tree by name, checked: one parent each, all reaching ``root``."""
    root = _name(desired.root, "root account")
    if root == SLURM_ROOT:
        raise ValueError("the platform's root must be an account below Slurm's root")
    parents: dict[str, str] = {}
    specs: dict[str, DesiredAccount] = {}
    for account in desired.accounts:
        name = _name(account.name, "account")
        if name in specs or name in (root, SLURM_ROOT):
            raise ValueError(f"account {name!r} is given twice or clashes with a root")
        if account.gpu_minutes is not None and account.gpu_minutes < 0:
            raise ValueError(f"account {name!r}: gpu_minutes must be >= 0 or None")
        parents[name] = _name(account.parent, f"parent of {name!r}")
        specs[name] = account
    depths = {root: 0}

    def depth(name: str, seen: tuple[str, ...] = ()) -> int:
        if name not in depths:
            if name not in parents:
                raise ValueError(f"parent {name!r} of {seen[-1]!r} is not in the tree")
            if name in seen:
                raise ValueError(f"the parents of {name!r} form a loop")
            depths[name] = depth(parents[name], (*seen, name)) + 1
        return depths[name]

    # The root's Organization is its own name, which is what Slurm fills in for a top account.
    wants = {
        root: _Want(
            root, SLURM_ROOT, 0, stored_text(desired.root_description, root), root, None, False,
            True,
        )
    }  # fmt: skip
    for name, spec in specs.items():
        wants[name] = _Want(
            name, parents[name], depth(name), stored_text(spec.description, name),
            stored_text(spec.organization, name), spec.gpu_minutes, spec.submit_blocked, False,
        )  # fmt: skip
    return wants


def _subtree(parent_of: dict[str, str], root: str) -> dict[str, int]:
    """Accounts at or below ``root`` on the cluster, with their depth (root: 0)."""
    children: dict[str, list[str]] = {}
    for child, parent in parent_of.items():
        children.setdefault(parent, []).append(child)
    depths = {root: 0} if root in parent_of else {}
    frontier = list(depths)
    while frontier:
        parent = frontier.pop()
        for child in children.get(parent, ()):
            if child not in depths:  # Slurm has no loops; this only guards bad input
                depths[child] = depths[parent] + 1
                frontier.append(child)
    return depths


def _limit_settings(want: _Want, row: Association) -> list[str]:
    """The ``set`` items that bring ``row``'s limits to ``want``'s (other TRES kept as they are)."""
    settings = []
    if parse_tres(row.grp_tres_mins).get(GPU_TRES) != want.gpu_minutes:
        minutes = -1 if want.gpu_minutes is None else want.gpu_minutes  # -1 removes the limit
        settings.append(f"GrpTRESMins={GPU_TRES}={minutes}")
    # Any other count set by hand is not ours to keep: blocked means 0, otherwise no limit.
    if row.grp_submit.strip() != ("0" if want.submit_blocked else ""):
        settings.append(f"GrpSubmitJobs={0 if want.submit_blocked else -1}")
    return settings


def _add_account(want: _Want, cluster: str) -> list[str]:
    argv = [
        *_SACCTMGR, "add", "account", want.name, f"cluster={cluster}", f"parent={want.parent}",
        f"Description={want.description}", f"Organization={want.organization}",
    ]  # fmt: skip
    if not want.is_root:
        if want.gpu_minutes is not None:
            argv.append(f"GrpTRESMins={GPU_TRES}={want.gpu_minutes}")
        if want.submit_blocked:
            argv.append("GrpSubmitJobs=0")
    return argv


def _modify_account(name: str, cluster: str | None, settings: Iterable[str]) -> list[str]:
    where = [f"name={name}"] + ([f"cluster={cluster}"] if cluster else [])
    return [*_SACCTMGR, "modify", "account", "where", *where, "set", *settings]


def plan(
    desired: Desired, assocs: Sequence[Association], accounts: Sequence[AccountInfo]
) -> list[list[str]]:
    """The sacctmgr commands, in order, that turn the reported state into ``desired``.

    Order: account adds (parents first), modifies, user adds, user deletes, account deletes
    (children first). The root's own limits are not part of ``desired`` and stay as they are.
    Raises ValueError on a malformed desired tree, or when a desired account already exists on
    the cluster outside the platform's tree (taking it over is not ours to do).
    """
    cluster = _name(desired.cluster, "cluster")
    wants = _wanted(desired)
    root = _name(desired.root, "root account")
    rows = {row.account.lower(): row for row in assocs if not row.user}
    managed = _subtree({name: row.parent.lower() for name, row in rows.items()}, root)
    foreign = sorted(name for name in wants if name in rows and name not in managed)
    if foreign:
        raise ValueError(
            f"accounts {foreign} exist on cluster {cluster!r} outside {root!r}: "
            "not taking them over"
        )
    info = {account.name.lower(): account for account in accounts}

    adds: list[list[str]] = []
    modifies: list[list[str]] = []
    # Desired depth order: when an account moves, its new parent already hangs where it should,
    # so the move never puts an account below itself (Slurm would then reshuffle other accounts).
    for want in sorted(wants.values(), key=lambda w: (w.depth, w.name)):
        row = rows.get(want.name)
        if row is None:
            adds.append(_add_account(want, cluster))
        else:
            if row.parent.lower() != want.parent:
                modifies.append(_modify_account(want.name, cluster, [f"parent={want.parent}"]))
            settings = [] if want.is_root else _limit_settings(want, row)
            if settings:
                modifies.append(_modify_account(want.name, cluster, settings))
        # Description and Organization belong to the account on every cluster, not to the
        # association; an account known from another cluster keeps its text when added here.
        known = info.get(want.name)
        if (row is not None or known is not None) and (
            known is None
            or (known.description, known.organization) != (want.description, want.organization)
        ):
            texts = [f"Description={want.description}", f"Organization={want.organization}"]
            modifies.append(_modify_account(want.name, None, texts))

    wanted_users = set()
    for account, user in desired.users:
        name = _name(account, "account of a user")
        if name not in wants:
            raise ValueError(f"user {user!r} is wanted in {account!r}, which is not in the tree")
        wanted_users.add((name, _name(user, "user")))
    have_users = {
        (row.account.lower(), row.user.lower())
        for row in assocs
        if row.user and row.account.lower() in managed
    }
    user_adds = [
        [*_SACCTMGR, "add", "user", user, f"account={account}", f"cluster={cluster}"]
        for account, user in sorted(wanted_users - have_users)
    ]
    user_deletes = [
        [*_SACCTMGR, "delete", "user", "where", f"name={_name(user, 'user')}",
         f"account={account}", f"cluster={cluster}"]
        for account, user in sorted(have_users - wanted_users)
    ]  # fmt: skip
    unwanted = sorted((n for n in managed if n not in wants), key=lambda n: (-managed[n], n))
    account_deletes = [
        [*_SACCTMGR, "delete", "account", "where", f"name={_name(name, 'account')}",
         f"cluster={cluster}"]
        for name in unwanted
    ]  # fmt: skip
    return adds + modifies + user_adds + user_deletes + account_deletes
