"""Existing Slurm batch scripts, read as sbatch reads them.

- :mod:`.options`: every sbatch option and what the platform does with it;
- :mod:`.header`: the ``#SBATCH`` header split into options;
- :mod:`.values`: each option's value, with Slurm's semantics;
- :mod:`.reading`: the script's reading and the job resources that follow;
- :mod:`.patterns`: ``-o``/``-e`` filename patterns.
"""

from aifactory.domain.sbatch.header import Directive, ScriptError, header_end
from aifactory.domain.sbatch.options import Kind
from aifactory.domain.sbatch.reading import Note, ScriptReading, read_script
from aifactory.domain.sbatch.values import (
    TIME_FORMS,
    format_slurm_time,
    parse_slurm_time,
    slurm_limit_s,
)

__all__ = [
    "TIME_FORMS",
    "Directive",
    "Kind",
    "Note",
    "ScriptError",
    "ScriptReading",
    "format_slurm_time",
    "header_end",
    "parse_slurm_time",
    "read_script",
    "slurm_limit_s",
]
