"""The messages the planner sends: each stage's system and user prompt, and the answer format.

Prompts are the files under ``director/prompts/llm/`` (``STAGE.system.md``, ``STAGE.user.md``
and their parts), filled with the story, beats, cast and options as text. With structured
outputs the answer model's strict schema goes in the ``response_format``; in JSON mode it is
appended to the user prompt instead.
"""

from __future__ import annotations

import json
import string
from collections.abc import Sequence
from functools import cache
from typing import Any, Literal, get_args

from pydantic import BaseModel

from director import prompts
from director.records import BeatSheet, Character, Language, Story
from director.tools.llm import answers as ans

Mode = Literal["json_schema", "json_object"]


@cache
def _template(name: str) -> string.Template:
    return string.Template(prompts.read_text("llm", f"{name}.md").strip())


@cache
def _language_rules() -> dict[str, str]:
    return prompts.read_json("llm", "languages.json")


def _messages(stage: str, language: Language, values: dict[str, str]) -> list[dict[str, str]]:
    rule = _language_rules()[language]
    return [
        {"role": "system", "content": _template(f"{stage}.system").substitute(language_rule=rule)},
        {"role": "user", "content": _template(f"{stage}.user").substitute(values)},
    ]


def _with_schema(messages: list[dict], answer: type[BaseModel], mode: Mode) -> list[dict]:
    """In JSON mode the schema travels in the prompt (structured outputs send it apart)."""
    if mode == "json_schema":
        return messages
    schema = json.dumps(ans.strict_schema(answer), ensure_ascii=False)
    first = messages[1]
    appendix = _template("schema").substitute(schema=schema)
    return [messages[0], {**first, "content": f"{first['content']}\n\n{appendix}"}, *messages[2:]]


def _response_format(stage: str, answer: type[BaseModel], mode: Mode) -> dict[str, Any]:
    if mode == "json_object":
        return {"type": "json_object"}
    schema = ans.strict_schema(answer)
    return {"type": "json_schema", "json_schema": {"name": stage, "schema": schema, "strict": True}}


def _cast_text(cast: Sequence[Character]) -> str:
    if not cast:
        return _template("develop.nocast").substitute()
    people = "\n".join(
        f"- {c.name}: {c.description.strip() or '(no description yet)'}" for c in cast
    )
    return _template("develop.cast").substitute(people=people)


def _story_text(story: Story) -> str:
    data = story.model_dump(mode="json", exclude={"language"})
    data["protagonists"] = [
        {"name": p.name, "description": p.description} for p in story.protagonists
    ]
    return json.dumps(data, ensure_ascii=False, indent=2)


def _beats_text(sheet: BeatSheet) -> str:
    return "\n".join(
        f"- {b.id} {b.name} ({b.location}, {b.duration_s:g} s): {b.summary}" for b in sheet.beats
    )


def _budget_line(budget: ans.ShotBudget) -> str:
    b = budget.beat
    count = (
        f"{budget.fewest} shot"
        if budget.fewest == budget.most
        else f"{budget.fewest} to {budget.most} shots"
    )
    return (
        f"- {b.id} {b.name}, at {b.location}: {b.summary} ({budget.cs / 100:g} s of shots: {count})"
    )


def _options(literal: Any) -> str:
    return ", ".join(get_args(literal))
