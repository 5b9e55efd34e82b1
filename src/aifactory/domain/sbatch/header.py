"""The ``#SBATCH`` header of a batch script, split into options as sbatch splits it.

sbatch reads directives only in the script's header: ``#SBATCH`` (or the old ``#SLURM``) at
column 0, up to the first line that is neither blank nor a comment. Each directive line is
split like a shell line (quotes, backslashes, ``#`` comments) into words, and the words are
read as getopt_long reads sbatch's command line: short letters may be grouped (``-vN2``), a
required value may be the next word, an optional one only ``--opt=value``, and a long name may
be abbreviated when the abbreviation is unique. An option sbatch does not know is refused, as
sbatch refuses it.
"""

from __future__ import annotations

import shlex
from collections.abc import Generator, Iterator
from dataclasses import dataclass

from aifactory.domain.sbatch.options import BY_SHORT, Arg, Option, ambiguous, long_option

_SPACE = " \t\v\f\r"  # C isspace() in the "C" locale, what sbatch uses


@dataclass(frozen=True)
class Directive:
    line: int  # 1-based line number in the script
    option: str  # the option as written, e.g. "-t", "--time", "--exclusive"
    value: str | None  # its value, None for a flag
    name: str = ""  # the long name it stands for ("time" for -t and --time)


class ScriptError(ValueError):
    """A directive sbatch would refuse, or one the platform cannot honour."""

    def __init__(self, line: int, option: str, message: str) -> None:
        super().__init__(f"line {line}: {option}: {message}")
        self.line = line
        self.option = option
        self.message = message


def check_text(text: str) -> None:
    """What sbatch refuses before it reads a single directive."""
    for bad, why in (
        ("\0", "a NUL character; a batch script is text"),
        ("\r\n", "DOS line breaks (\\r\\n), which sbatch refuses; save it with Unix ones"),
    ):
        if bad in text:
            raise ScriptError(text.count("\n", 0, text.index(bad)) + 1, "script", why)


def directives(text: str) -> list[Directive]:
    """Every option of the header, in script order; :class:`ScriptError` for a bad one."""
    check_text(text)
    return list(_header(text))


def header_end(text: str) -> int:
    """The number of the first line after the header (where the commands start)."""
    lines = text.split("\n")
    for number, line in enumerate(lines, start=1):
        if not line.startswith("#SBATCH") and line.lstrip(_SPACE)[:1] not in ("", "#"):
            return number
    return len(lines) + 1


def _header(text: str) -> Iterator[Directive]:
    for number, line in enumerate(text.split("\n"), start=1):
        # sbatch also reads the old "#SLURM" magic word (src/sbatch/opt.c), with a warning
        magic = next((m for m in ("#SBATCH", "#SLURM") if line.startswith(m)), "")
        if magic:
            yield from _options(number, line[len(magic) :])
        elif line.lstrip(_SPACE)[:1] not in ("", "#"):
            return  # the first command ends the header, as in sbatch


def _options(line: int, rest: str) -> Iterator[Directive]:
    try:
        words = shlex.split(rest, comments=True, posix=True)
    except ValueError as e:  # an unbalanced quote or a trailing backslash
        raise ScriptError(line, "#SBATCH", f"cannot split the line: {e}") from None
    i = 0
    while i < len(words):
        word, i = words[i], i + 1
        if word.startswith("--") and len(word) > 2:
            written, eq, value = word[2:].partition("=")
            option = long_option(written)
            shown = "--" + written
            if option is None:
                several = ambiguous(written)
                why = (
                    f"is ambiguous: it could be {', '.join('--' + n for n in several)}"
                    if several
                    else "is not an sbatch option (sbatch refuses the script)"
                )
                raise ScriptError(line, shown, why)
            if option.arg is Arg.NONE:
                if eq:
                    raise ScriptError(line, shown, "takes no value (sbatch refuses the script)")
                yield Directive(line, shown, None, option.name)
            elif eq:
                yield Directive(line, shown, value, option.name)
            elif option.arg is Arg.REQUIRED:
                if i >= len(words):
                    raise ScriptError(line, shown, "needs a value")
                yield Directive(line, shown, words[i], option.name)
                i += 1
            else:  # an optional value is only ever --opt=value
                yield Directive(line, shown, None, option.name)
        elif word.startswith("-") and len(word) > 1 and word != "--":
            i = yield from _short(line, word, words, i)
        elif word.lower() in ("hetjob", "packjob", ":"):
            raise ScriptError(line, word, "heterogeneous jobs are not supported")
        else:  # sbatch stops at it and refuses the script ("Invalid directive")
            raise ScriptError(line, word, f"{word!r} is not an sbatch option")


def _short(line: int, word: str, words: list[str], i: int) -> Generator[Directive, None, int]:
    """Grouped short letters (``-vN2``): each a flag until one that takes a value."""
    for j, letter in enumerate(word[1:], start=2):
        option: Option | None = BY_SHORT.get(letter)
        shown = "-" + letter
        if option is None:
            raise ScriptError(line, shown, "is not an sbatch option (sbatch refuses the script)")
        if option.arg is Arg.NONE:
            yield Directive(line, shown, None, option.name)
            continue
        attached = word[j:]
        if option.arg is Arg.OPTIONAL:
            yield Directive(line, shown, attached or None, option.name)
            return i
        if not attached:
            if i >= len(words):
                raise ScriptError(line, shown, "needs a value")
            attached, i = words[i], i + 1
        yield Directive(line, shown, attached, option.name)
        return i
    return i


def without_directives(text: str, names: frozenset[str], why: str) -> str:
    """``text`` with the header's options named ``names`` taken out, for Slurm: a line that
    holds only such options becomes a comment (``##SBATCH ...  # why``); a line with others
    too keeps only the others. Every other line is left as written (the line numbers too)."""
    found = directives(text)
    hit = {d.line for d in found if d.name in names}
    if not hit:
        return text
    lines = text.split("\n")
    for number in sorted(hit):
        kept = [d for d in found if d.line == number and d.name not in names]
        original = lines[number - 1]
        if not kept:
            lines[number - 1] = f"#{original}  # {why}"
        else:
            words = [
                d.option
                if d.value is None
                else f"{d.option}{'=' if d.option[1] == '-' else ''}{d.value}"
                for d in kept
            ]
            lines[number - 1] = f"#SBATCH {shlex.join(words)}"  # sbatch may not strip a comment
    return "\n".join(lines)


AIF_OPTIONS = ("dataset",)  # what "#AIF" lines may say; sbatch reads them as comments


def platform_options(text: str) -> list[tuple[int, str, str]]:
    """The platform's own ``#AIF --name=value`` (or ``--name value``) lines of the header,
    as (line, name, value); :class:`ScriptError` for an option it does not know."""
    out: list[tuple[int, str, str]] = []
    for number, line in enumerate(text.split("\n"), start=1):
        if line.startswith("#AIF") and line[4:5] in _SPACE:
            try:
                words = shlex.split(line[4:], comments=True)
            except ValueError as exc:
                raise ScriptError(number, "#AIF", str(exc)) from None
            i = 0
            while i < len(words):
                word = words[i]
                name, eq, value = word.removeprefix("--").partition("=")
                if not word.startswith("--") or name not in AIF_OPTIONS:
                    raise ScriptError(
                        number, word, f"not an #AIF option; known: --{', --'.join(AIF_OPTIONS)}"
                    )
                if not eq:
                    i += 1
                    if i >= len(words):
                        raise ScriptError(number, word, "needs a value")
                    value = words[i]
                out.append((number, name, value))
                i += 1
        elif not line.startswith(("#SBATCH", "#SLURM")) and line.lstrip(_SPACE)[:1] not in (
            "",
            "#",
        ):
            break
    return out
