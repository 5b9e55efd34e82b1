"""What a job declares of the model it works on, for the AI Act's compute ledger: the model
version it produces and what for (``purpose``). A pre-training, a fine-tune or the synthetic
data made for it adds to the version's training compute; an evaluation or an inference run is
recorded against it but is not training (``TRAINING_PURPOSES``)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from aifactory.domain.access import WorkType


class Purpose(StrEnum):
    PRETRAINING = "pretraining"
    FINETUNING = "finetuning"
    SYNTHETIC_DATA = "synthetic-data"
    EVALUATION = "evaluation"
    INFERENCE = "inference"


# Cumulative training compute (Commission guidelines): pre-training and later training of the
# same model, including synthetic data generated for it.
TRAINING_PURPOSES = frozenset({Purpose.PRETRAINING, Purpose.FINETUNING, Purpose.SYNTHETIC_DATA})

# A job that says what it produces but not what for: from its work type.
PURPOSE_OF_WORK = {
    WorkType.TRAINING: Purpose.PRETRAINING,
    WorkType.FINE_TUNING: Purpose.FINETUNING,
    WorkType.EVALUATION: Purpose.EVALUATION,
    WorkType.INFERENCE: Purpose.INFERENCE,
}


class Modality(StrEnum):
    """What a model reads or writes; text, audio, image and video output make a model over
    the GPAI criterion a presumed general-purpose one."""

    TEXT = "text"
    AUDIO = "audio"
    IMAGE = "image"
    VIDEO = "video"
    CODE = "code"
    TABULAR = "tabular"
    TIME_SERIES = "time-series"
    OTHER = "other"


class Produces(BaseModel):
    """A registered model version of the job's organisation (the model by id or name)."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1, max_length=100, description="Model id or name.")
    version: str = Field(min_length=1, max_length=50, examples=["1.0"])
