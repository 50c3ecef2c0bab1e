"""The base of every record, and the schema version the files that hold records carry."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

from director.records.cleaning import clean_value

SCHEMA_VERSION = 1


class Record(BaseModel):
    """A typed record. Text is cleaned where it enters (an LLM's answer, a script, a log read
    back): whatever a record holds is safe to print, to put in a file name or to hand ffmpeg."""

    model_config = ConfigDict(extra="forbid", frozen=False)

    @model_validator(mode="before")
    @classmethod
    def _clean(cls, value: Any) -> Any:
        return clean_value(value) if isinstance(value, dict) else value
