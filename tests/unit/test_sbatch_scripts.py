"""Realistic batch scripts (``tests/data/sbatch/``), each read exactly as its expected reading
says: accepted with these resources, partitions, array, dependency and notes, or refused at
this line and option. The scripts were written for this test in the shape of the systems'
public user guides (LUMI, Leonardo, Mahti/Puhti, MeluXina, MareNostrum 5); each ``.yaml``
says why, from the sbatch man page's semantics."""

from __future__ import annotations

from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from aifactory.domain.jobspec import JobSpec
from aifactory.domain.sbatch import ScriptError, ScriptReading, read_script

CORPUS = Path(__file__).resolve().parents[1] / "data" / "sbatch"
SCRIPTS = sorted(CORPUS.glob("*.sh"))


def expected(script: Path) -> dict[str, Any]:
    return dict(yaml.safe_load(script.with_suffix(".yaml").read_text()))


def plain(value: object) -> object:
    """A reading's value as YAML writes it (enums as their value, dataclasses as dicts)."""
    if is_dataclass(value) and not isinstance(value, type):
        return {k: plain(v) for k, v in asdict(value).items()}
    if isinstance(value, tuple | list):
        return [plain(v) for v in value]
    return getattr(value, "value", value)


def test_the_corpus_has_at_least_fifteen_scripts_each_with_its_reading() -> None:
    assert len(SCRIPTS) >= 15
    readings = {p.stem for p in CORPUS.glob("*.yaml")}
    assert readings == {p.stem for p in SCRIPTS}
    refused = [p for p in SCRIPTS if not expected(p)["accepted"]]
    assert 3 <= len(refused) < len(SCRIPTS)


@pytest.mark.parametrize("script", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_each_script_is_read_as_its_expected_reading_says(script: Path) -> None:
    text, want = script.read_text(), expected(script)
    if not want["accepted"]:
        with pytest.raises(ScriptError) as caught:
            read_script(text).resources()
        err = caught.value
        assert (err.line, err.option) == (want["line"], want["option"]), str(err)
        assert want["message_contains"] in err.message, str(err)
        return
    reading = read_script(text)
    assert reading.resources() == want["resources"]
    for field, value in (want.get("reading") or {}).items():
        assert plain(getattr(reading, field)) == value, field
    _check_array(reading, want.get("array"))
    _check_dependency(reading, want.get("dependency"))
    noted = {n.option: n.kind.value for n in reading.notes}
    assert noted == want["notes"]


def _check_array(reading: ScriptReading, want: dict[str, Any] | None) -> None:
    if want is None:
        assert reading.array is None
        return
    a = reading.array
    assert a is not None
    assert (a.text, a.size, a.indexes[0], a.indexes[-1], a.throttle) == (
        want["text"],
        want["count"],
        want["first"],
        want["last"],
        want["throttle"],
    )


def _check_dependency(reading: ScriptReading, want: dict[str, Any] | None) -> None:
    if want is None:
        assert reading.dependency is None
        return
    d = reading.dependency
    assert d is not None
    assert (d.text, list(d.job_ids)) == (want["text"], want["jobs"])


@pytest.mark.parametrize("script", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_each_script_as_a_job_spec_is_accepted_or_refused_the_same(script: Path) -> None:
    """The API's view: a job spec with this script takes its resources, partitions, array
    and dependency from it, or is refused naming the line."""
    text, want = script.read_text(), expected(script)
    if not want["accepted"]:
        with pytest.raises(ValidationError) as caught:
            JobSpec.model_validate({"project": "prj-1", "name": "x", "script": text})
        assert f"line {want['line']}: {want['option']}" in str(caught.value)
        return
    reading = want.get("reading") or {}
    fields = {"project": "prj-1", "script": text}
    if "name" not in reading:  # no --job-name: the spec needs one (sbatch takes the file's)
        fields["name"] = script.name
    spec = JobSpec.model_validate(fields)
    res = spec.resources.model_dump()
    for key, value in want["resources"].items():
        assert res[key] == value, key
    assert spec.name == reading.get("name", script.name)
    assert spec.constraints.partitions == reading.get("partitions", [])
    assert spec.constraints.qos == reading.get("qos")
    assert spec.mail_type == reading.get("mail_types", [])
    assert spec.array == (want["array"]["text"] if want.get("array") else None)
    assert spec.dependency == (want["dependency"]["text"] if want.get("dependency") else None)
