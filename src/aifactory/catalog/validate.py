"""Strict, typed reading of composed YAML nodes, each error naming file, line and field path.

We read PyYAML's node graph (``yaml.compose``) instead of loaded Python objects: nodes keep
their line numbers, let us refuse duplicate keys (which ``safe_load`` silently drops), and
keep a string such as ``NO`` (Norway) a string instead of YAML 1.1's ``False``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any, NoReturn, TypeVar

import yaml
from yaml.constructor import SafeConstructor

from aifactory.domain.countries import COUNTRIES
from aifactory.domain.walltime import parse_walltime

E = TypeVar("E", bound=StrEnum)

_TAG = "tag:yaml.org,2002:"
_NULL, _BOOL, _INT, _FLOAT = _TAG + "null", _TAG + "bool", _TAG + "int", _TAG + "float"
_TIMESTAMP = _TAG + "timestamp"

_COUNTRY_HINTS = {
    "EL": "Greece is GR; EL is the EU's own abbreviation",
    "UK": "the United Kingdom is GB",
    "EU": "the EU is not a country; name the country that hosts the machine",
}


class CatalogError(Exception):
    """A catalog that cannot be used; the message says where and what is allowed instead.

    ``default.yaml:42: sites[3].partitions[0].executor: 'slurmm' is not one of local,
    simulated, slurm``; malformed YAML gives ``file:line:column: malformed YAML: ...``.
    """

    def __init__(
        self,
        file: str,
        line: int | None,
        field: str | None,
        problem: str,
        *,
        column: int | None = None,
    ) -> None:
        self.file = file
        self.line = line  # 1-based
        self.column = column  # 1-based, for malformed YAML only
        self.field = field  # e.g. "sites[3].partitions[0].executor"
        self.problem = problem
        where = file
        if line is not None:
            where += f":{line}"
            if column is not None:
                where += f":{column}"
        super().__init__(f"{where}: {field}: {problem}" if field else f"{where}: {problem}")


@dataclass(frozen=True)
class Reader:
    """Reads nodes of one file; every method raises :class:`CatalogError` on bad input."""

    file: str

    def fail(self, node: yaml.Node | None, path: str | None, problem: str) -> NoReturn:
        line = node.start_mark.line + 1 if node is not None else None
        raise CatalogError(self.file, line, path, problem)

    def compose(self, text: str) -> yaml.Node:
        try:
            node = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            problem = exc.problem or exc.context or "cannot parse"
            if exc.context and problem.startswith("but "):  # "expected X in the stream, but ..."
                problem = f"{exc.context}, {problem}"
            if mark is None:
                raise CatalogError(self.file, None, None, f"malformed YAML: {problem}") from exc
            raise CatalogError(
                self.file, mark.line + 1, None, f"malformed YAML: {problem}", column=mark.column + 1
            ) from exc
        except yaml.YAMLError as exc:
            raise CatalogError(self.file, None, None, f"malformed YAML: {exc}") from exc
        if node is None:
            self.fail(None, None, "the file is empty; expected the fields accelerators and sites")
        return node

    def mapping(
        self,
        node: yaml.Node,
        path: str,
        *,
        required: tuple[str, ...],
        optional: tuple[str, ...] = (),
    ) -> dict[str, yaml.Node]:
        """Field name -> value node; refuses unknown, repeated and missing fields."""
        allowed = ", ".join(sorted((*required, *optional)))
        fields: dict[str, yaml.Node] = {}
        for key, key_node, value in self.pairs(node, path):
            if key not in required and key not in optional:
                hint = " (merge keys are not supported)" if key == "<<" else ""
                self.fail(
                    key_node, _join(path, key), f"unknown field{hint}; allowed fields: {allowed}"
                )
            fields[key] = value
        for key in required:
            if key not in fields:
                self.fail(
                    node,
                    _join(path, key),
                    f"required field is missing; required here: {', '.join(required)}",
                )
        return fields

    def pairs(self, node: yaml.Node, path: str) -> list[tuple[str, yaml.Node, yaml.Node]]:
        """The (key, key node, value node) triples of a mapping in file order; keys unique."""
        if not isinstance(node, yaml.MappingNode):
            self.fail(node, path or None, f"must be a mapping, got {_show(node)}")
        seen: dict[str, int] = {}
        out: list[tuple[str, yaml.Node, yaml.Node]] = []
        for key_node, value in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self.fail(
                    key_node, path or None, f"keys must be plain names, got {_show(key_node)}"
                )
            key = str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in seen:
                self.fail(key_node, _join(path, key), f"repeated (first at line {seen[key]})")
            seen[key] = line
            out.append((key, key_node, value))
        return out

    def sequence(self, node: yaml.Node, path: str, *, non_empty: bool = True) -> list[yaml.Node]:
        if not isinstance(node, yaml.SequenceNode):
            self.fail(node, path, f"must be a list, got {_show(node)}")
        items: list[yaml.Node] = list(node.value)
        if non_empty and not items:
            self.fail(node, path, "must not be empty")
        return items

    def string(
        self, node: yaml.Node, path: str, *, pattern: str | None = None, expect: str = ""
    ) -> str:
        """A scalar as written; ``pattern`` (a full match) with ``expect`` describing it."""
        if not isinstance(node, yaml.ScalarNode) or node.tag == _NULL:
            self.fail(node, path, f"must be a string, got {_show(node)}")
        text = str(node.value).strip()
        if not text:
            self.fail(node, path, "must not be empty")
        if pattern is not None and not re.fullmatch(pattern, text):
            self.fail(node, path, f"{text!r} is not {expect}")
        return text

    def integer(self, node: yaml.Node, path: str, *, minimum: int = 1) -> int:
        value = self._scalar(node, (_INT,))
        if not isinstance(value, int) or isinstance(value, bool):
            self.fail(node, path, f"must be an integer of at least {minimum}, got {_show(node)}")
        if value < minimum:
            self.fail(node, path, f"must be an integer of at least {minimum}, got {value}")
        return value

    def number(
        self, node: yaml.Node, path: str, *, minimum: float = 0.0, inclusive: bool = False
    ) -> float:
        value = self._scalar(node, (_INT, _FLOAT))
        bound = f"at least {minimum:g}" if inclusive else f"greater than {minimum:g}"
        if not isinstance(value, int | float) or isinstance(value, bool):
            self.fail(node, path, f"must be a number {bound}, got {_show(node)}")
        number = float(value)
        if not math.isfinite(number) or number < minimum or (number == minimum and not inclusive):
            self.fail(node, path, f"must be a number {bound}, got {node.value}")
        return number

    def degrees(self, node: yaml.Node, path: str, limit: float) -> float:
        """An angle in decimal degrees within -limit..limit (latitude 90, longitude 180)."""
        value = self._scalar(node, (_INT, _FLOAT))
        expect = f"must be decimal degrees from {-limit:g} to {limit:g}"
        if not isinstance(value, int | float) or isinstance(value, bool):
            self.fail(node, path, f"{expect}, got {_show(node)}")
        number = float(value)
        if not math.isfinite(number) or abs(number) > limit:
            self.fail(node, path, f"{expect}, got {node.value}")
        return number

    def boolean(self, node: yaml.Node, path: str) -> bool:
        value = self._scalar(node, (_BOOL,))
        if not isinstance(value, bool):
            self.fail(node, path, f"must be true or false, got {_show(node)}")
        return value

    def date(self, node: yaml.Node, path: str) -> date:
        value = self._scalar(node, (_TIMESTAMP,))
        if isinstance(value, datetime) or not isinstance(value, date | str):
            self.fail(node, path, f"must be a date YYYY-MM-DD, got {_show(node)}")
        if isinstance(value, date):
            return value
        try:  # a quoted "2027-01-01" is a string to YAML
            return date.fromisoformat(value)
        except ValueError:
            self.fail(node, path, f"must be a date YYYY-MM-DD, got {_show(node)}")

    def enum(self, node: yaml.Node, path: str, kind: type[E]) -> E:
        allowed = ", ".join(sorted(kind))
        if not isinstance(node, yaml.ScalarNode) or node.tag == _NULL:
            self.fail(node, path, f"must be one of {allowed}, got {_show(node)}")
        try:
            return kind(str(node.value))
        except ValueError:
            self.fail(node, path, f"{node.value!r} is not one of {allowed}")

    def enum_set(self, node: yaml.Node, path: str, kind: type[E]) -> frozenset[E]:
        """A single value or a list of them."""
        if isinstance(node, yaml.SequenceNode):
            items = self.sequence(node, path)
            return frozenset(self.enum(n, f"{path}[{i}]", kind) for i, n in enumerate(items))
        return frozenset({self.enum(node, path, kind)})

    def walltime(self, node: yaml.Node, path: str) -> int:
        # The raw text, not YAML's value: unquoted 48:00:00 would be a base-60 integer.
        text = self.string(node, path)
        try:
            return parse_walltime(text)
        except ValueError as exc:
            self.fail(node, path, str(exc))

    def country(self, node: yaml.Node, path: str) -> str:
        code = self.string(node, path)
        if code in COUNTRIES:
            return code
        if code.upper() in COUNTRIES:
            self.fail(node, path, f"{code!r} must be upper case: {code.upper()!r}")
        hint = f" ({_COUNTRY_HINTS[code.upper()]})" if code.upper() in _COUNTRY_HINTS else ""
        self.fail(
            node,
            path,
            f"{code!r} is not an allowed ISO 3166-1 alpha-2 country code{hint}; "
            f"allowed: {', '.join(sorted(COUNTRIES))}",
        )

    def _scalar(self, node: yaml.Node, tags: tuple[str, ...]) -> Any:
        """The constructed value when ``node`` carries one of ``tags``, else the raw text."""
        if not isinstance(node, yaml.ScalarNode):
            return None
        if node.tag in tags:
            return SafeConstructor().construct_object(node)
        return None if node.tag == _NULL else str(node.value)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _show(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if node.tag == _NULL and not node.value:
        return "nothing"
    return repr(node.value)
