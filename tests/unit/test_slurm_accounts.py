"""The Slurm account planner: sacctmgr output in, the sacctmgr commands for the difference out.

The REAL_* fixtures are output of the Debian Slurm 22.05 test cluster ``lumi``
(scripts/slurm-test-cluster.sh) after running the plans below there; :class:`Sacctmgr` is a
small in-memory model of what that sacctmgr did with each command.
"""

from __future__ import annotations

import string
from copy import deepcopy
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aifactory.executors.slurm.accounts import (
    AccountInfo,
    Association,
    Desired,
    DesiredAccount,
    command_line,
    parse_accounts,
    parse_associations,
    parse_tres,
    plan,
    show_accounts_argv,
    show_assoc_argv,
    stored_text,
)

C = "lumi"
ROOT = "aif"
SLURM_ROOT_ROWS = "root||||\nroot|root|||\n"
SLURM_ROOT_INFO = "root|default root account|root\n"


# -- builders ----------------------------------------------------------------------------------
def acct(
    name: str, parent: str = ROOT, gpu: int | None = None, blocked: bool = False
) -> DesiredAccount:
    return DesiredAccount(name, parent, f"{name} project", "org", gpu, blocked)


def want(*accounts: DesiredAccount, users: tuple[tuple[str, str], ...] = ()) -> Desired:
    return Desired(C, ROOT, "AI Factory", accounts, frozenset(users))


def row(name: str, parent: str = ROOT, tres: str = "", submit: str = "") -> str:
    """An account association line as ``show assoc`` prints it."""
    return f"{name}||{parent}|{tres}|{submit}\n"


def user(account: str, name: str) -> str:
    return f"{account}|{name}|||\n"


def cmds(desired: Desired, *lines: str, texts: str | None = None) -> list[str]:
    """The plan as shell lines; by default every account's texts already match ``acct``'s."""
    assoc_text = SLURM_ROOT_ROWS + "".join(lines)
    if texts is None:
        names = {a.account for a in parse_associations(assoc_text) if not a.user}
        texts = "".join(
            f"{n}|ai factory|{n}\n" if n == ROOT else f"{n}|{n} project|org\n"
            for n in sorted(names - {"root"})
        )
    got = plan(desired, parse_associations(assoc_text), parse_accounts(SLURM_ROOT_INFO + texts))
    return [command_line(argv) for argv in got]


ADD = "sacctmgr -i add account"
MOD = "sacctmgr -i modify account where"
ROOT_ADD = f"{ADD} aif cluster=lumi parent=root 'Description=ai factory' Organization=aif"


def add(name: str, parent: str = ROOT, *limits: str) -> str:
    texts = f"'Description={name} project' Organization=org"
    return " ".join((ADD, name, f"cluster=lumi parent={parent}", texts, *limits))


# -- creation ----------------------------------------------------------------------------------
CREATION = [
    ("from nothing: parents first, then by name",
     want(acct("b", "a"), acct("c"), acct("a")), [],
     [ROOT_ADD, add("a"), add("c"), add("b", "a")]),
    ("platform root already there", want(acct("a")), [row(ROOT, "root")], [add("a")]),
    ("limits ride on the add", want(acct("a", gpu=600, blocked=True), acct("z", gpu=0)),
     [row(ROOT, "root")],
     [add("a", ROOT, "GrpTRESMins=gres/gpu=600", "GrpSubmitJobs=0"),
      add("z", ROOT, "GrpTRESMins=gres/gpu=0")]),
    ("known from another cluster: added, then its texts set", want(acct("a")),
     [row(ROOT, "root")],
     [add("a"), f"{MOD} name=a set 'Description=a project' Organization=org"]),
    ("deep chain", want(acct("c", "b"), acct("b", "a"), acct("a")), [row(ROOT, "root")],
     [add("a"), add("b", "a"), add("c", "b")]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "desired", "lines", "expected"), CREATION, ids=[c[0] for c in CREATION]
)
def test_creation(case: str, desired: Desired, lines: list[str], expected: list[str]) -> None:
    # "known from another cluster": the account exists with other texts, not on this cluster.
    texts = "aif|ai factory|aif\na|old text|old org\n" if "known" in case else None
    assert cmds(desired, *lines, texts=texts) == expected


# -- parent changes ----------------------------------------------------------------------------
PARENTS = [
    ("moved to a sibling", want(acct("a"), acct("b", "a")), [row(ROOT, "root"), row("a"), row("b")],
     [f"{MOD} name=b cluster=lumi set parent=a"]),
    ("platform root hanging below a foreign account", want(),
     [row("other", "root"), row(ROOT, "other")], [f"{MOD} name=aif cluster=lumi set parent=root"]),
    # Parents first by desired depth, so no move ever puts an account below its own child
    # (Slurm would then silently move that child up, seen on the real cluster).
    ("parent and child swap", want(acct("b"), acct("a", "b")),
     [row(ROOT, "root"), row("a"), row("b", "a")],
     [f"{MOD} name=b cluster=lumi set parent=aif", f"{MOD} name=a cluster=lumi set parent=b"]),
    ("a chain reversed", want(acct("c"), acct("b", "c"), acct("a", "b")),
     [row(ROOT, "root"), row("a"), row("b", "a"), row("c", "b")],
     [f"{MOD} name=c cluster=lumi set parent=aif", f"{MOD} name=b cluster=lumi set parent=c",
      f"{MOD} name=a cluster=lumi set parent=b"]),
    ("a new parent is added before the move", want(acct("n"), acct("a", "n")),
     [row(ROOT, "root"), row("a")], [add("n"), f"{MOD} name=a cluster=lumi set parent=n"]),
    ("names compared lower-cased", want(acct("A"), acct("b", "A")),
     [row(ROOT, "root"), row("a"), row("b", "a")], []),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "desired", "lines", "expected"), PARENTS, ids=[c[0] for c in PARENTS]
)
def test_parent_changes(case: str, desired: Desired, lines: list[str], expected: list[str]) -> None:
    assert cmds(desired, *lines) == expected


# -- limits ------------------------------------------------------------------------------------
# (case, GrpTRESMins shown, GrpSubmit shown, gpu_minutes, submit_blocked, the `set` wanted)
LIMITS = [
    ("no limit either way", "", "", None, False, None),
    ("limit added", "", "", 600, False, "GrpTRESMins=gres/gpu=600"),
    ("limit changed", "gres/gpu=1", "", 600, False, "GrpTRESMins=gres/gpu=600"),
    ("limit removed", "gres/gpu=600", "", None, False, "GrpTRESMins=gres/gpu=-1"),
    ("zero is a limit", "", "", 0, False, "GrpTRESMins=gres/gpu=0"),
    ("zero kept", "gres/gpu=0", "", 0, False, None),
    ("other TRES left alone", "cpu=10,gres/gpu=600", "", 600, False, None),
    ("other TRES, gpu added", "cpu=10", "", 5, False, "GrpTRESMins=gres/gpu=5"),
    ("other TRES, no gpu wanted", "cpu=10", "", None, False, None),
    ("blocked", "", "", None, True, "GrpSubmitJobs=0"),
    ("unblocked", "", "0", None, False, "GrpSubmitJobs=-1"),
    ("stays blocked", "", "0", None, True, None),
    ("a count set by hand is removed", "", "5", None, False, "GrpSubmitJobs=-1"),
    ("a count set by hand becomes a block", "", "5", None, True, "GrpSubmitJobs=0"),
    ("both in one command", "gres/gpu=1", "", 2, True, "GrpTRESMins=gres/gpu=2 GrpSubmitJobs=0"),
]


@pytest.mark.parametrize(
    ("case", "tres", "submit", "gpu", "blocked", "expected"), LIMITS, ids=[c[0] for c in LIMITS]
)
def test_limits(
    case: str, tres: str, submit: str, gpu: int | None, blocked: bool, expected: str | None
) -> None:
    lines = [row(ROOT, "root", "gres/gpu=9", "0"), row("a", ROOT, tres, submit)]
    got = cmds(want(acct("a", gpu=gpu, blocked=blocked)), *lines)
    # The platform root's own limits are not part of the desired state: never reset.
    assert got == ([f"{MOD} name=a cluster=lumi set {expected}"] if expected else [])


# -- descriptions and organizations -----------------------------------------------------------
# (given, what Slurm 22.05 stored for it on lumi or what we send so that it stores it unchanged)
TEXTS = [
    ('It\'s "quoted" x', "it`s `quoted` x"),  # real: Description=it`s `quoted` x
    ("'lead q' and", "`lead q` and"),  # real Slurm would keep only "lead q"
    ("Uni Ö", "uni Ö"),  # real: only ASCII is lower-cased
    ("CSC|Finland", "csc finland"),  # "|" would break the -P output
    ("P3  spaced\ttext\n", "p3 spaced text"),
    ("", "fallback"),  # real: an empty value is refused ("Unspecified error")
    (" \t", "fallback"),
]


@pytest.mark.parametrize(("given_text", "stored"), TEXTS)
def test_stored_text(given_text: str, stored: str) -> None:
    assert stored_text(given_text, "fallback") == stored


TEXT_CHANGES = [
    ("same", "a|a project|org\n", []),
    ("stored with capitals (not by sacctmgr)", "a|A Project|org\n",
     [f"{MOD} name=a set 'Description=a project' Organization=org"]),
    ("organization differs", "a|a project|other\n",
     [f"{MOD} name=a set 'Description=a project' Organization=org"]),
    ("not reported at all", "", [f"{MOD} name=a set 'Description=a project' Organization=org"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "texts", "expected"), TEXT_CHANGES, ids=[c[0] for c in TEXT_CHANGES]
)
def test_texts_are_global_to_the_account(case: str, texts: str, expected: list[str]) -> None:
    got = cmds(want(acct("a")), row(ROOT, "root"), row("a"), texts="aif|ai factory|aif\n" + texts)
    assert got == expected


# -- users -------------------------------------------------------------------------------------
USERS = [
    ("added", want(acct("a"), users=(("a", "u1"),)), [row("a")],
     ["sacctmgr -i add user u1 account=a cluster=lumi"]),
    ("on the platform root", want(users=((ROOT, "u1"),)), [],
     ["sacctmgr -i add user u1 account=aif cluster=lumi"]),
    ("removed", want(acct("a")), [row("a"), user("a", "u1")],
     ["sacctmgr -i delete user where name=u1 account=a cluster=lumi"]),
    ("kept, compared lower-cased", want(acct("a"), users=(("A", "U1"),)),
     [row("a"), user("a", "u1")], []),
    ("moved between accounts: add first", want(acct("a"), acct("b"), users=(("b", "u1"),)),
     [row("a"), row("b"), user("a", "u1")],
     ["sacctmgr -i add user u1 account=b cluster=lumi",
      "sacctmgr -i delete user where name=u1 account=a cluster=lumi"]),
    ("the same user elsewhere is not ours", want(acct("a")),
     [row("a"), row("other", "root"), user("other", "u1")], []),
    ("added to a new account after it", want(acct("n"), users=(("n", "u1"),)), [],
     [add("n"), "sacctmgr -i add user u1 account=n cluster=lumi"]),
]  # fmt: skip


@pytest.mark.parametrize(("case", "desired", "lines", "expected"), USERS, ids=[c[0] for c in USERS])
def test_users(case: str, desired: Desired, lines: list[str], expected: list[str]) -> None:
    assert cmds(desired, row(ROOT, "root"), *lines) == expected


# -- foreign accounts --------------------------------------------------------------------------
FOREIGN = [
    row("other", "root", "gres/gpu=5", "0"), user("other", "u1"), row("deep", "other"),
    user("root", "root"), row("aif2", "root"), user("aif2", "u2"),
]  # fmt: skip


def test_foreign_accounts_and_users_are_never_touched() -> None:
    assert cmds(want(), row(ROOT, "root"), *FOREIGN) == []
    # Same user names as the foreign accounts; nothing but the platform's own tree is planned.
    assert cmds(want(acct("a", gpu=1), users=(("a", "u1"), ("a", "u2"))), *FOREIGN) == [
        ROOT_ADD,
        add("a", ROOT, "GrpTRESMins=gres/gpu=1"),
        "sacctmgr -i add user u1 account=a cluster=lumi",
        "sacctmgr -i add user u2 account=a cluster=lumi",
    ]


@pytest.mark.parametrize("name", ["other", "deep", "aif2"])
def test_a_desired_account_that_exists_outside_the_tree_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match=f"accounts \\['{name}'\\] exist on cluster 'lumi'"):
        cmds(want(acct(name)), row(ROOT, "root"), *FOREIGN)


# -- deletion ----------------------------------------------------------------------------------
def test_deletion_users_first_then_children_before_parents() -> None:
    lines = [row(ROOT, "root"), row("a"), row("b", "a"), user("b", "u1"), row("c", "b"),
             user("c", "u2"), row("d"), user(ROOT, "u3")]  # fmt: skip
    assert cmds(want(acct("d")), *lines) == [
        "sacctmgr -i delete user where name=u3 account=aif cluster=lumi",
        "sacctmgr -i delete user where name=u1 account=b cluster=lumi",
        "sacctmgr -i delete user where name=u2 account=c cluster=lumi",
        "sacctmgr -i delete account where name=c cluster=lumi",
        "sacctmgr -i delete account where name=b cluster=lumi",
        "sacctmgr -i delete account where name=a cluster=lumi",
    ]


def test_a_kept_account_moves_out_before_its_old_parent_goes() -> None:
    got = cmds(want(acct("b")), row(ROOT, "root"), row("a"), row("b", "a"))
    assert got == [
        f"{MOD} name=b cluster=lumi set parent=aif",
        "sacctmgr -i delete account where name=a cluster=lumi",
    ]


def test_whole_plan_order() -> None:
    desired = want(acct("new"), acct("kept", gpu=1), users=(("new", "u1"),))
    lines = [row(ROOT, "root"), row("kept"), row("gone"), user("gone", "u2")]
    verbs = [" ".join(line.split()[2:4]) for line in cmds(desired, *lines)]
    assert verbs == ["add account", "modify account", "add user", "delete user", "delete account"]


# -- a malformed desired tree ------------------------------------------------------------------
BAD = [
    ("parent outside the tree", want(acct("a", "nowhere")), "parent 'nowhere' of 'a'"),
    ("Slurm's root as a parent", want(acct("a", "root")), "parent 'root' of 'a'"),
    ("a loop", want(acct("a", "b"), acct("b", "a")), "form a loop"),
    ("twice", want(acct("a"), acct("A")), "given twice"),
    ("named like the root", want(acct("aif")), "given twice or clashes"),
    ("a comma would make a list", want(acct("a,b")), "'a,b': use letters"),
    ("a blank", want(acct("a b")), "use letters"),
    ("negative minutes", want(acct("a", gpu=-1)), "gpu_minutes must be >= 0"),
    ("user in an unknown account", want(users=(("x", "u1"),)), "which is not in the tree"),
    ("bad user name", want(users=((ROOT, "u=1"),)), "user 'u=1'"),
    ("root is Slurm's", Desired(C, "root", "", (), frozenset()), "below Slurm's root"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "desired", "words"), BAD, ids=[c[0] for c in BAD])
def test_a_malformed_tree_is_refused(case: str, desired: Desired, words: str) -> None:
    with pytest.raises(ValueError, match=words.replace("(", r"\(")):
        cmds(desired)


# -- reading sacctmgr output -------------------------------------------------------------------
def test_show_commands() -> None:
    assert show_assoc_argv("lumi") == [
        "sacctmgr", "-n", "-P", "show", "assoc", "where", "cluster=lumi",
        "format=Account,User,ParentName,GrpTRESMins,GrpSubmit",
    ]  # fmt: skip
    assert show_accounts_argv() == [
        "sacctmgr", "-n", "-P", "show", "account", "format=Account,Descr,Org",
    ]  # fmt: skip


# Real `show assoc` on lumi after the first plan ran and a limit and a GrpSubmit were set by hand.
REAL_ASSOC = """\
root||||
root|root|||
aifplan-test||root||
aifplan-test|aifplan-u3|||
aifplan-test-fi||aifplan-test||
aifplan-test-p1||aifplan-test-fi|cpu=10,gres/gpu=1|
aifplan-test-p1|aifplan-u1|||
aifplan-test-p1|aifplan-u2|||
aifplan-test-p2||aifplan-test-fi|gres/gpu=0|0
aifplan-test-p2|aifplan-u1|||
aifplan-test-p3||aifplan-test||5
"""
REAL_ACCOUNTS = """\
aifplan-test|ai factory — platform tree (test)|aifplan-test
aifplan-test-fi|finland`s `node`|csc finland
aifplan-test-p1|project one|uni Ö
aifplan-test-p2|aifplan-test-p2|aifplan-test-p2
aifplan-test-p3|p3 spaced text|org
root|default root account|root
"""
T = "aifplan-test"
REAL_DESIRED = Desired(
    C, T, "AI Factory — platform tree (test)",
    (DesiredAccount(f"{T}-fi", T, 'Finland\'s "node"', "CSC|Finland"),
     DesiredAccount(f"{T}-p1", f"{T}-fi", "Project One", "Uni Ö", gpu_minutes=600),
     DesiredAccount(f"{T}-p2", f"{T}-fi", "", "", gpu_minutes=0, submit_blocked=True),
     DesiredAccount(f"{T}-p3", T, "P3  spaced\ttext", "Org")),
    frozenset({(f"{T}-p1", "aifplan-u1"), (f"{T}-p1", "aifplan-u2"),
               (f"{T}-p2", "aifplan-u1"), (T, "aifplan-u3")}),
)  # fmt: skip


def test_parsing_real_output() -> None:
    assocs = parse_associations(REAL_ASSOC)
    assert assocs[0] == Association("root", "", "", "", "")
    assert assocs[5] == Association(f"{T}-p1", "", f"{T}-fi", "cpu=10,gres/gpu=1", "")
    assert assocs[8] == Association(f"{T}-p2", "", f"{T}-fi", "gres/gpu=0", "0")
    assert assocs[6] == Association(f"{T}-p1", "aifplan-u1", "", "", "")
    accounts = parse_accounts(REAL_ACCOUNTS)
    assert accounts[1] == AccountInfo(f"{T}-fi", "finland`s `node`", "csc finland")
    assert len(assocs) == 11 and len(accounts) == 6


def test_the_real_hand_change_is_fixed_exactly() -> None:
    got = plan(REAL_DESIRED, parse_associations(REAL_ASSOC), parse_accounts(REAL_ACCOUNTS))
    # What ran on lumi; afterwards GrpTRESMins read "cpu=10,gres/gpu=600" and the plan was [].
    assert [command_line(argv) for argv in got] == [
        f"{MOD} name={T}-p3 cluster=lumi set GrpSubmitJobs=-1",
        f"{MOD} name={T}-p1 cluster=lumi set GrpTRESMins=gres/gpu=600",
    ]
    fixed = REAL_ASSOC.replace("cpu=10,gres/gpu=1", "cpu=10,gres/gpu=600").replace("||5", "||")
    assert plan(REAL_DESIRED, parse_associations(fixed), parse_accounts(REAL_ACCOUNTS)) == []


def test_a_wrong_column_count_names_the_line() -> None:
    # Real: `modify account ... set "Description=a|b"` is stored and printed as is.
    with pytest.raises(ValueError, match=r"line 2: expected 3 '\|'-separated fields, got 4"):
        parse_accounts("root|default root account|root\naifplan-test-p|a|b|ÄÖ tab\tx\n")
    with pytest.raises(ValueError, match="line 1: expected 5"):
        parse_associations("root|||\n")
    assert parse_associations("\n\n") == [] and parse_accounts("") == []


@pytest.mark.parametrize(
    ("text", "tres"),
    [("", {}), ("gres/gpu=600", {"gres/gpu": 600}),
     ("cpu=10,gres/gpu=600", {"cpu": 10, "gres/gpu": 600}), ("cpu=-1", {"cpu": -1})],
)  # fmt: skip
def test_parse_tres(text: str, tres: dict[str, int]) -> None:
    assert parse_tres(text) == tres


@pytest.mark.parametrize("text", ["gres/gpu", "gres/gpu=", "=5", "cpu=1x"])
def test_parse_tres_refuses_garbage(text: str) -> None:
    with pytest.raises(ValueError, match="not a TRES=count item"):
        parse_tres(text)


def test_command_line_quotes_for_the_shell() -> None:
    line = command_line(["sacctmgr", "-i", "add", "account", "a", "Description=it`s a $x"])
    assert line == "sacctmgr -i add account a 'Description=it`s a $x'"


# -- an in-memory sacctmgr, and the property: plan, run, plan again -> [] ---------------------
def _slurm_text(value: str) -> str:
    """What sacctmgr 22.05 stored for a Description/Organization value on lumi."""
    if value[:1] in ("'", '"'):  # a leading quote: the text up to the next quote
        value = value[1:].split("'")[0].split('"')[0]
    lower = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
    return value.replace("'", "`").replace('"', "`").translate(lower)


@dataclass
class Assoc:
    parent: str
    tres: dict[str, int] = field(default_factory=dict)
    submit: int | None = None


@dataclass
class Sacctmgr:
    """One cluster's associations plus the global account table, as sacctmgr changes them.

    Stricter than Slurm where order matters: a delete needs the account empty, a move must
    not go below the account's own subtree (Slurm would reshuffle), adds need the parent.
    """

    assocs: dict[str, Assoc] = field(default_factory=lambda: {"root": Assoc("")})
    users: set[tuple[str, str]] = field(default_factory=lambda: {("root", "root")})
    texts: dict[str, tuple[str, str]] = field(
        default_factory=lambda: {"root": ("default root account", "root")}
    )

    def show(self) -> tuple[list[Association], list[AccountInfo]]:
        lines = []
        for name, a in self.assocs.items():
            tres = ",".join(f"{k}={v}" for k, v in sorted(a.tres.items()))
            submit = "" if a.submit is None else str(a.submit)
            lines.append(f"{name}||{a.parent}|{tres}|{submit}")
            lines += [f"{name}|{u}|||" for acc, u in sorted(self.users) if acc == name]
        texts = [f"{n}|{d}|{o}" for n, (d, o) in sorted(self.texts.items())]
        return parse_associations("\n".join(lines)), parse_accounts("\n".join(texts))

    def below(self, name: str) -> set[str]:
        out = {name}
        while True:
            more = {n for n, a in self.assocs.items() if a.parent in out} - out
            if not more:
                return out
            out |= more

    def limits(self, a: Assoc, options: dict[str, str]) -> None:
        for key, value in options.items():
            if key == "grptresmins":
                for item, minutes in parse_tres(value).items():
                    if minutes == -1:
                        a.tres.pop(item, None)
                    else:
                        a.tres[item] = minutes
            elif key == "grpsubmitjobs":
                a.submit = None if value == "-1" else int(value)

    def run(self, argv: list[str]) -> None:
        assert argv[:2] == ["sacctmgr", "-i"], argv
        verb, entity, *rest = argv[2:]
        words = [w for w in rest if "=" not in w]
        opts = dict(w.split("=", 1) for w in rest if "=" in w)
        opts = {k.lower(): v for k, v in opts.items()}
        if opts.pop("cluster", C) != C:
            raise AssertionError(argv)
        if (verb, entity) == ("add", "account"):
            name, parent = words[0].lower(), opts.pop("parent").lower()
            assert name not in self.assocs and parent in self.assocs, argv
            descr, org = opts.pop("description", name), opts.pop("organization", parent)
            assert descr and org, "real sacctmgr refuses an empty value"
            self.texts.setdefault(name, (_slurm_text(descr), _slurm_text(org)))
            self.assocs[name] = Assoc(parent)
            self.limits(self.assocs[name], opts)
        elif (verb, entity) == ("modify", "account"):
            name = opts.pop("name")
            if "cluster=" + C in rest:
                a = self.assocs[name]
                if "parent" in opts:
                    assert opts["parent"] not in self.below(name), f"a move below itself: {argv}"
                    a.parent = opts.pop("parent")
                self.limits(a, opts)
            else:
                descr, org = self.texts[name]
                descr = _slurm_text(opts.get("description", descr))
                self.texts[name] = (descr, _slurm_text(opts.get("organization", org)))
        elif (verb, entity) == ("add", "user"):
            key = (opts["account"], words[0])
            assert opts["account"] in self.assocs and key not in self.users, argv
            self.users.add(key)
        elif (verb, entity) == ("delete", "user"):
            self.users.remove((opts["account"], opts["name"]))
        elif (verb, entity) == ("delete", "account"):
            name = opts["name"]
            assert self.below(name) == {name}, f"children left: {argv}"
            assert not any(acc == name for acc, _ in self.users), f"users left: {argv}"
            del self.assocs[name]  # the account itself stays known (seen on lumi)
        else:
            raise AssertionError(argv)


POOL = ("p1", "p2", "p3", "p4", "p5")
PEOPLE = ("u1", "u2", "u3")
GIVEN_TEXT = st.text(alphabet="aB Ä'\"|\t`-", max_size=6)
STORED_TEXT = st.text(alphabet="aB Ä`- ", max_size=5)  # anything a show can print


@st.composite
def desired_trees(draw: st.DrawFn) -> Desired:
    placed, accounts = [ROOT], []
    for name in draw(st.lists(st.sampled_from(POOL), unique=True)):
        gpu = draw(st.none() | st.sampled_from([0, 5, 600]))
        parent = draw(st.sampled_from(placed))
        texts = draw(GIVEN_TEXT), draw(GIVEN_TEXT)
        accounts.append(DesiredAccount(name, parent, *texts, gpu, draw(st.booleans())))
        placed.append(name)
    users = draw(st.frozensets(st.tuples(st.sampled_from(placed), st.sampled_from(PEOPLE))))
    return Desired(C, ROOT, draw(GIVEN_TEXT), tuple(accounts), users)


@st.composite
def actual_states(draw: st.DrawFn) -> Sacctmgr:
    limits = st.dictionaries(st.sampled_from(["cpu", "gres/gpu"]), st.sampled_from([0, 5, 600]))
    submit = st.sampled_from([None, 0, 5])
    m = Sacctmgr()
    # Foreign: another tree with users and limits, and the same user names in it.
    m.assocs |= {"f1": Assoc("root", {"gres/gpu": 5}, 0), "f2": Assoc("f1")}
    m.users |= {("f1", "u1"), ("f2", "u2")}
    placed: list[str] = []
    if draw(st.booleans()):
        m.assocs[ROOT] = Assoc(draw(st.sampled_from(["root", "f1"])), draw(limits), draw(submit))
        placed.append(ROOT)
        for name in draw(st.lists(st.sampled_from(POOL), unique=True)):
            m.assocs[name] = Assoc(draw(st.sampled_from(placed)), draw(limits), draw(submit))
            placed.append(name)
        m.users |= draw(st.sets(st.tuples(st.sampled_from(placed), st.sampled_from(PEOPLE))))
    elsewhere = draw(st.sets(st.sampled_from(POOL)))  # known from another cluster only
    for name in ["f1", "f2", *placed, *sorted(elsewhere)]:
        m.texts[name] = (draw(STORED_TEXT), draw(STORED_TEXT))
    return m


@settings(max_examples=300, deadline=None)
@given(desired_trees(), actual_states())
def test_running_the_plan_then_planning_again_gives_nothing(desired: Desired, m: Sacctmgr) -> None:
    foreign = deepcopy({n: (m.assocs[n], m.texts[n]) for n in ("root", "f1", "f2")})
    foreign_users = {u for u in m.users if u[0] in foreign}
    root_limits = (
        deepcopy((m.assocs[ROOT].tres, m.assocs[ROOT].submit)) if ROOT in m.assocs else None
    )

    for argv in plan(desired, *m.show()):
        m.run(argv)

    assert plan(desired, *m.show()) == []
    assert {n: (m.assocs[n], m.texts[n]) for n in foreign} == foreign
    assert {u for u in m.users if u[0] in foreign} == foreign_users
    if root_limits is not None:
        assert (m.assocs[ROOT].tres, m.assocs[ROOT].submit) == root_limits
    # The platform's subtree is exactly the desired tree.
    assert m.texts[ROOT] == (stored_text(desired.root_description, ROOT), ROOT)
    assert m.below(ROOT) == {ROOT} | {a.name for a in desired.accounts}
    for a in desired.accounts:
        got = m.assocs[a.name]
        assert (got.parent, got.tres.get("gres/gpu"), got.submit) == (
            a.parent, a.gpu_minutes, 0 if a.submit_blocked else None
        )  # fmt: skip
        texts = stored_text(a.description, a.name), stored_text(a.organization, a.name)
        assert m.texts[a.name] == texts
    assert {u for u in m.users if u[0] in m.below(ROOT)} == desired.users


@given(desired_trees())
def test_from_nothing_only_adds(desired: Desired) -> None:
    commands = plan(desired, *Sacctmgr().show())
    assert all(argv[2] == "add" for argv in commands)
    assert sum(argv[3] == "account" for argv in commands) == 1 + len(desired.accounts)
