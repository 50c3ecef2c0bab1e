"""The planner on a language model behind an OpenAI-compatible chat API, through ``openai``.

Three providers share it: ``openai`` (``--llm openai:gpt-4.1-mini``; ``OPENAI_API_KEY``,
``OPENAI_BASE_URL``), ``dashscope`` (Qwen through DashScope's compatible mode on the region's
host; ``DASHSCOPE_API_KEY``) and ``openai-compatible`` for any other server (vLLM, Ollama, a
proxy), named ``URL#MODEL``: ``--llm openai-compatible:http://localhost:11434/v1#qwen2.5:7b``.
The compatible server gets its own key, ``DIRECTOR_COMPATIBLE_API_KEY`` (or ``api_key`` in
``[providers.openai-compatible]``), never the OpenAI one; without one it gets a placeholder,
since many servers need no key and some want any non-empty one.

Each stage sends a system and a user prompt from ``director/prompts/llm/`` and asks for JSON in
the shape of an answer model (``director.tools.llm.answers``): with structured outputs
(``json_schema``, strict) where the endpoint has them; where it answers 400 to them, as some
Qwen models do, with JSON mode and the schema in the prompt, for the rest of the run. An answer
that does not parse or validate is shown to the model with the error, once; a second bad answer
stops the run. Every call is kept in ``calls`` (tokens, seconds, cost) and passed to ``on_call``.
"""

from __future__ import annotations

import json
import logging
import string
import time
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any, Literal, TypeVar, get_args

from pydantic import BaseModel, Field, ValidationError

from director import prompts
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
from director.tools.openai_client import (
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT_S,
    Endpoint,
    failure,
    is_moderation,
    make_client,
    priced,
)
from director.tools.pricing import PriceTable
from director.tools.providers import ProviderSettings, settings

log = logging.getLogger(__name__)
A = TypeVar("A", bound=BaseModel)
T = TypeVar("T")
Mode = Literal["json_schema", "json_object"]
# Some compatible servers refuse requests without a key even when they check none.
PLACEHOLDER_KEY = "not-needed"


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
        found = self.provider
        return Endpoint(
            service="OpenAI",
            api_key=found.require_key(),
            base_url=found.base_url,
            key_variable="OPENAI_API_KEY (or api_key in [providers.openai])",
            url_setting="OPENAI_BASE_URL",
        )

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


class DashScopePlanner(OpenAIPlanner):
    """Plans with Qwen through DashScope's OpenAI-compatible mode, on the region's host."""

    name = "dashscope"
    family = "Qwen chat models in DashScope's OpenAI-compatible mode (qwen-plus, qwen-max, ...)"
    model = "qwen-plus"

    def _endpoint(self) -> Endpoint:
        found = self.provider
        return Endpoint(
            service="DashScope (compatible mode)",
            api_key=found.require_key(),
            base_url=compatible_url(found.base_url or ""),
            key_variable="DASHSCOPE_API_KEY (or api_key in [providers.dashscope])",
            url_setting="DIRECTOR_DASHSCOPE_REGION or DASHSCOPE_HTTP_BASE_URL",
        )

    def _extra_body(self) -> dict[str, Any] | None:
        # Qwen's thinking models refuse non-streamed calls (and JSON mode) unless it is off.
        return {"enable_thinking": False}

    def _seed(self, seed: int) -> int:
        # DashScope takes seeds 0 to 2^31-1 and refuses others; a run's seed is any integer.
        return seed % 2**31


class CompatiblePlanner(OpenAIPlanner):
    """Plans with any OpenAI-compatible server, named ``URL#MODEL``."""

    name = "openai-compatible"
    family = "any chat model an OpenAI-compatible server serves (vLLM, Ollama, a proxy)"
    model = ""

    def __init__(
        self,
        model: str = "",
        *,
        provider_settings: ProviderSettings | None = None,
        prices: PriceTable | None = None,
        **options: Any,
    ) -> None:
        self.base_url, served = parse_spec(model)
        super().__init__(model, provider_settings=provider_settings, prices=prices, **options)
        self.served = served

    def _endpoint(self) -> Endpoint:
        key = self.provider.api_key
        return Endpoint(
            service=f"The server at {self.base_url}",
            api_key=key or PLACEHOLDER_KEY,
            base_url=self.base_url,
            key_variable="DIRECTOR_COMPATIBLE_API_KEY (or api_key in [providers.openai-compatible])",
            url_setting="the URL in openai-compatible:URL#MODEL",
        )


def compatible_url(native: str) -> str:
    """DashScope's compatible-mode base URL on the host of its native API URL."""
    root = native.rstrip("/").removesuffix("/api/v1")
    return f"{root}/compatible-mode/v1"


def parse_spec(spec: str) -> tuple[str, str]:
    """``URL#MODEL`` -> (URL, MODEL)."""
    url, _, model = spec.strip().partition("#")
    if not url.startswith(("http://", "https://")) or not model.strip():
        given = f", not {spec!r}" if spec.strip() else ""
        raise InputError(
            f"The openai-compatible planner needs a server and a model, named URL#MODEL{given}.",
            "For example: --llm openai-compatible:http://localhost:11434/v1#qwen2.5:7b",
        )
    return url.rstrip("/"), model.strip()


class _Unusable(ProviderError):
    """The model's answer failed validation twice."""


# --- prompts ---------------------------------------------------------------------------------


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


# --- answers ---------------------------------------------------------------------------------


def _parse(message: Any, answer: type[A]) -> A:
    if message is None:
        raise ans.AnswerError("the response held no answer.")
    if getattr(message, "refusal", None):
        raise ans.AnswerError(f"the model refused: {message.refusal}")
    text = _unfenced(getattr(message, "content", None) or "")
    if not text:
        raise ans.AnswerError("the answer was empty.")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ans.AnswerError(
            f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})."
        ) from None
    return answer.model_validate(data)


def _unfenced(text: str) -> str:
    """The JSON inside a Markdown code fence, which models in JSON mode sometimes add."""
    text = text.strip()
    if text.startswith("```"):
        text = text.split("\n", 1)[1] if "\n" in text else ""
        text = text.rsplit("```", 1)[0]
    return text.strip()


def _describe(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'answer'}: {e['msg']}" for e in exc.errors()[:8]
        )
    return str(exc)


def _usage(response: Any) -> dict[str, Any]:
    """The usage as the price table reads it; servers that report none count zero."""
    usage = getattr(response, "usage", None)
    details = getattr(usage, "prompt_tokens_details", None)
    return {
        "prompt_tokens": int(getattr(usage, "prompt_tokens", 0) or 0),
        "completion_tokens": int(getattr(usage, "completion_tokens", 0) or 0),
        "prompt_tokens_details": {"cached_tokens": int(getattr(details, "cached_tokens", 0) or 0)},
    }


def _since(start: float) -> float:
    return round(time.perf_counter() - start, 3)
