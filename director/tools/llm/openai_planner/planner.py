"""The planner on an OpenAI-compatible chat API: its stages, and how it asks for each answer.

Each stage (``develop``, ``beat_sheet``, ``bible``, ``shot_list``, ``repair_slot``) fills its
prompts and asks the model through ``_ask``: with structured outputs where the endpoint has them,
else JSON mode for the rest of the run; an answer that does not parse or validate is shown to
the model with the error, once. Every call is logged as an ``LLMCall`` (tokens, seconds, cost)
and passed to ``on_call``; the provider variants subclass ``OpenAIPlanner`` (``hosts``).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, Field, ValidationError

from director.errors import InputError, ProviderError
from director.records import (
    Angle,
    BeatSheet,
    CameraMove,
    Cards,
    Character,
    Language,
    Record,
    Shot,
    ShotRole,
    ShotSize,
    Story,
    StyleBible,
)
from director.tools.base import Planner
from director.tools.llm import answers as ans
from director.tools.llm.language import detect_language
from director.tools.llm.offline import READING_CPS, aspect_ratio, resolve_structure
from director.tools.llm.offline.common import _runtime_cs
from director.tools.llm.openai_planner.messages import (
    Mode,
    _beats_text,
    _budget_line,
    _cast_text,
    _messages,
    _options,
    _response_format,
    _story_text,
    _template,
    _with_schema,
)
from director.tools.llm.openai_planner.replies import _describe, _parse, _since, _usage
from director.tools.openai_client import (
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT_S,
    Endpoint,
    failure,
    is_moderation,
    make_client,
    openai_endpoint,
    priced,
)
from director.tools.pricing import PriceTable
from director.tools.providers import ProviderSettings, settings

log = logging.getLogger(__name__)
A = TypeVar("A", bound=BaseModel)
T = TypeVar("T")


class LLMCall(Record):
    """One call to the model: what it cost and how long it took."""

    stage: str
    provider: str
    model: str
    mode: Mode
    attempt: int
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float
    cost: float | None = Field(default=0.0, description="USD; None when the model has no price")
    cost_detail: str = Field(default="", description="what was billed, or why there is no price")
    error: str = ""


class OpenAIPlanner(Planner):
    """Plans a film with a model on the OpenAI API (or a host set by OPENAI_BASE_URL)."""

    name = "openai"
    model = "gpt-4.1-mini"
    family = "OpenAI chat models with structured outputs (gpt-4.1-mini, gpt-4.1, gpt-4o-mini, ...)"

    def __init__(
        self,
        model: str | None = None,
        *,
        max_retries: int = DEFAULT_RETRIES,
        timeout: float = DEFAULT_TIMEOUT_S,
        structured: bool = True,
        on_call: Callable[[LLMCall], None] | None = None,
        provider_settings: ProviderSettings | None = None,
        prices: PriceTable | None = None,
    ) -> None:
        self.model = model or type(self).model
        self.served = self.model
        # The run's [providers.NAME] settings; none: the environment alone.
        self.provider = provider_settings or settings(self.name)
        # The run's price table (the config file's [prices] on the packaged one); none: packaged.
        self.prices = prices
        self.endpoint = self._endpoint()
        self.max_retries = max_retries
        self.structured = structured
        self.calls: list[LLMCall] = []
        self.on_call = on_call
        self._client = make_client(self.endpoint, max_retries=max_retries, timeout=timeout)

    def _endpoint(self) -> Endpoint:
        return openai_endpoint(self.provider)

    def _extra_body(self) -> dict[str, Any] | None:
        return None

    def _seed(self, seed: int) -> int:
        return seed

    # --- the stages ------------------------------------------------------------------------

    def develop(
        self, logline: str, *, language: Language, seed: int, cast: Sequence[Character] = ()
    ) -> Story:
        if language not in ("en", "zh"):
            raise InputError(f"unsupported language {language!r}", "Use 'en' or 'zh'.")
        values = {"logline": logline.strip(), "cast": _cast_text(cast)}
        return self._ask(
            "develop",
            language,
            values,
            ans.StoryAnswer,
            lambda a: ans.story_from(a, logline, language, list(cast)),
            seed=seed,
        )

    def beat_sheet(
        self, story: Story, *, structure: str, runtime_s: float, seed: int, note: str = ""
    ) -> BeatSheet:
        name = resolve_structure(structure, story.language)
        runtime_cs = _runtime_cs(runtime_s)
        slots = ans.beat_slots(name, story.language, runtime_cs)
        whole = sum(s.weight for s in slots)
        values = {
            "story": _story_text(story),
            "structure": name,
            "runtime": f"{runtime_cs / 100:g}",
            "count": str(len(slots)),
            "beats": "\n".join(
                f"{i + 1}. {s.name}: about {runtime_cs / 100 * s.weight / whole:.1f} s"
                for i, s in enumerate(slots)
            ),
            "lead": story.protagonists[0].name if story.protagonists else "the lead",
            "locations": json.dumps(story.locations, ensure_ascii=False),
            "note": _template("beat_sheet.note").substitute(note=note) if note.strip() else "",
        }
        return self._ask(
            "beat_sheet",
            story.language,
            values,
            ans.BeatSheetAnswer,
            lambda a: ans.beat_sheet_from(a, story, name, slots, runtime_cs),
            seed=seed,
        )

    def bible(
        self, story: Story, beat_sheet: BeatSheet, *, width: int, height: int, seed: int
    ) -> tuple[StyleBible, Cards]:
        if width <= 0 or height <= 0:
            raise InputError(
                f"frame size {width}x{height} is not usable", "Pass a positive width and height."
            )
        if not beat_sheet.beats:
            raise InputError("the beat sheet has no beats", "Plan the beat sheet again.")
        values = {
            "story": _story_text(story),
            "beats": _beats_text(beat_sheet),
            "width": str(width),
            "height": str(height),
            "aspect": aspect_ratio(width, height),
        }
        return self._ask(
            "bible",
            story.language,
            values,
            ans.BibleAnswer,
            lambda a: ans.bible_from(a, story, beat_sheet, width, height),
            seed=seed,
        )

    def shot_list(
        self, story: Story, beat_sheet: BeatSheet, bible: StyleBible, cards: Cards, *, seed: int
    ) -> list[Shot]:
        budgets = ans.shot_budgets(beat_sheet, cards)
        values = {
            "story": _story_text(story),
            "cast": "\n".join(f"- {p.name}: {p.description}" for p in story.protagonists),
            "style": bible.suffix,
            "beats": "\n".join(_budget_line(b) for b in budgets),
            "roles": _options(ShotRole),
            "sizes": _options(ShotSize),
            "angles": _options(Angle),
            "moves": _options(CameraMove),
            "cps": str(READING_CPS[story.language]),
        }
        return self._ask(
            "shot_list",
            story.language,
            values,
            ans.ShotListAnswer,
            lambda a: ans.shots_from(a, story, budgets, bible),
            seed=seed,
        )

    def repair_slot(
        self, shot: Shot, slots: dict[str, str], slot: str, failures: list[str]
    ) -> str | None:
        """One rewritten slot; None (director's repair rules take over) when the model gives
        no usable text twice."""
        if slot not in slots:
            return None
        kept = shot.prompt.style if slot == "style" else ""
        kept = shot.prompt.subject if slot == "subject" and shot.characters else kept
        values = {
            "shot_id": shot.id,
            "size": shot.size,
            "role": shot.role,
            "slots": "\n".join(f"- {k}: {v}" for k, v in slots.items()),
            "failures": "\n".join(f"- {f}" for f in failures) or "- (no reason given)",
            "slot": slot,
            "keep": _template("repair_slot.keep").substitute(fixed=kept) if kept else "",
        }
        language = detect_language(shot.prompt.subject + shot.prompt.action)
        try:
            return self._ask(
                "repair_slot",
                language,
                values,
                ans.RepairAnswer,
                lambda a: ans.repaired_slot(a, shot, slots, slot),
            )
        except _Unusable:
            return None

    # --- asking ----------------------------------------------------------------------------

    def _ask(
        self,
        stage: str,
        language: Language,
        values: dict[str, str],
        answer: type[A],
        build: Callable[[A], T],
        *,
        seed: int | None = None,
    ) -> T:
        """The stage's record from the model's answer; one retry that shows the model what
        was wrong with its first answer."""
        messages = _messages(stage, language, values)
        error = ""
        for attempt in (1, 2):
            message, call = self._chat(stage, messages, answer, attempt, seed)
            try:
                result = build(_parse(message, answer))
            except (ans.AnswerError, ValidationError) as exc:
                error = _describe(exc)
                self._log(call.model_copy(update={"error": error}))
                retry = _template("retry").substitute(error=error)
                content = getattr(message, "content", None) or ""
                messages = [
                    *messages,
                    {"role": "assistant", "content": content},
                    {"role": "user", "content": retry},
                ]
                continue
            self._log(call)
            return result
        raise _Unusable(
            f"The {self.name} model {self.served} gave no usable {stage} answer, twice: {error}",
            f"Try another model (--llm {self.name}:MODEL) or the offline planner (--llm offline).",
        )

    def _chat(
        self, stage: str, messages: list[dict], answer: type[BaseModel], attempt: int, seed
    ) -> tuple[Any, LLMCall]:
        import openai

        mode: Mode = "json_schema" if self.structured else "json_object"
        try:
            return self._create(stage, messages, answer, mode, attempt, seed)
        except (openai.BadRequestError, openai.UnprocessableEntityError) as exc:
            if mode == "json_object" or is_moderation(exc):
                raise self._failure(exc, stage) from None
            # No structured outputs here: JSON mode for this and every later call.
            log.info("%s refused json_schema; using JSON mode", self.endpoint.service)
            self.structured = False
        except openai.APIError as exc:
            raise self._failure(exc, stage) from None
        try:
            return self._create(stage, messages, answer, "json_object", attempt, seed)
        except openai.APIError as exc:
            raise self._failure(exc, stage) from None

    def _create(
        self,
        stage: str,
        messages: list[dict],
        answer: type[BaseModel],
        mode: Mode,
        attempt: int,
        seed: int | None,
    ) -> tuple[Any, LLMCall]:
        import openai

        request: dict[str, Any] = {
            "model": self.served,
            "messages": _with_schema(messages, answer, mode),
            "response_format": _response_format(stage, answer, mode),
        }
        if seed is not None:
            request["seed"] = self._seed(seed)
        if extra := self._extra_body():
            request["extra_body"] = extra
        call = LLMCall(
            stage=stage,
            provider=self.name,
            model=self.served,
            mode=mode,
            attempt=attempt,
            seconds=0,
        )
        start = time.perf_counter()
        try:
            response = self._client.chat.completions.create(**request)
        except openai.APIError as exc:
            status = getattr(exc, "status_code", None)
            error = f"{type(exc).__name__}{f' (HTTP {status})' if status else ''}"
            self._log(call.model_copy(update={"seconds": _since(start), "error": error}))
            raise
        except ValueError as exc:  # a body that claims JSON and is not
            response = f"unreadable JSON ({exc})"
        if not hasattr(response, "choices"):
            self._log(call.model_copy(update={"seconds": _since(start), "error": "NotAnAnswer"}))
            raise self._not_an_answer(response)
        usage = _usage(response)
        cost, detail = priced(self.name, self.served, usage, self.prices)
        call = call.model_copy(
            update={
                "seconds": _since(start),
                "prompt_tokens": usage["prompt_tokens"],
                "completion_tokens": usage["completion_tokens"],
                "cost": cost,
                "cost_detail": detail,
            }
        )
        message = response.choices[0].message if response.choices else None
        return message, call

    def _not_an_answer(self, response: object) -> ProviderError:
        """A 200 whose body is not a chat completion: a login page, a proxy's error page, a
        server that is not OpenAI-compatible at this URL."""
        shown = " ".join(str(response).split())[:80]
        return ProviderError(
            f"{self.endpoint.named} answered with something that is "
            f"not a chat completion ({shown!r}).",
            f"Check that {self.endpoint.url_setting} points at an OpenAI-compatible API (its "
            "base URL usually ends in /v1), then resume the run.",
        )

    def _failure(self, exc: Exception, stage: str) -> Exception:
        if is_moderation(exc):
            return ProviderError(
                f"The content filter of {self.endpoint.service} refused the {stage} request.",
                "Reword the logline (or the cast descriptions) and run again.",
            )
        return failure(
            exc,
            self.endpoint,
            model=self.served,
            what=f"{stage} request",
            spec=self.name,
            retries=self.max_retries,
        )

    def _log(self, call: LLMCall) -> None:
        self.calls.append(call)
        log.info(
            "%s %s %s: %d+%d tokens, %.2f s, %s%s",
            self.name,
            self.served,
            call.stage,
            call.prompt_tokens,
            call.completion_tokens,
            call.seconds,
            f"${call.cost:.5f}" if call.cost is not None else call.cost_detail,
            f" ({call.error})" if call.error else "",
        )
        if self.on_call is not None:
            self.on_call(call)


class _Unusable(ProviderError):
    """The model's answer failed validation twice."""
