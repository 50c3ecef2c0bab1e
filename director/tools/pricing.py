"""What hosted calls cost: a price per model, and the arithmetic that turns a call into USD.

The packaged table (``director/prompts/pricing.json``) holds the published prices on the day
they were read (``priced_on``), each with its unit and source. The config file's ``[prices]``
table overrides entries per ``"PROVIDER:MODEL"``::

    [prices."dashscope:wan2.2-t2i-flash"]
    per_image = 0.02

``estimate`` prices a call before it is made (the ``--budget`` check); ``cost_of`` prices it
from the usage the service reported. Both return USD, or None for a paid model without a price,
never a guess; ``quote`` and ``bill`` return the same as a ``Cost`` that also says what was
billed, or why there is no price, for the event log. Local backends cost nothing.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from typing import Any

from director import prompts
from director.config import Section
from director.errors import ConfigError

# Backends that run on the user's machine: no bill, whatever the model.
FREE_PROVIDERS = frozenset({"offline", "previz", "diffusers", "scratch"})
IMAGE, SECOND, TOKENS = "image", "second", "1M tokens"
# Voices: per input character (per 10k or per 1M of them), or per minute of audio.
CHARACTERS = {"10k characters": 1e4, "1M characters": 1e6}
MINUTE = "minute"
AUDIO_TOKENS_PER_SECOND = 50  # DashScope's Qwen-TTS bills a second of audio as 50 tokens
# Job and request kinds -> the unit their price must be in.
KIND_UNITS = {
    "image": IMAGE,
    "keyframe": IMAGE,
    "edit": IMAGE,
    "clip": SECOND,
    "video": SECOND,
    "chat": TOKENS,
    "plan": TOKENS,
    "llm": TOKENS,
}
# DashScope resolution tiers by pixel count; sizes like "1440*1440" belong to the nearest.
TIER_PIXELS = {"480P": 832 * 480, "720P": 1280 * 720, "1080P": 1920 * 1080}
TOKEN_RATES = ("input", "cached_input", "output", "image_input")
FROM_CONFIG = "config file [prices]"
# [prices] keys -> where they go in a price.
OVERRIDE_KEYS = {
    "per_image": IMAGE,
    "per_second": SECOND,
    "input_per_1m": "input",
    "cached_input_per_1m": "cached_input",
    "output_per_1m": "output",
    "image_input_per_1m": "image_input",
    "per_10k_characters": "10k characters",
    "per_minute": MINUTE,
}


@dataclass(frozen=True)
class Cost:
    """A price in USD, or ``usd=None`` and the reason there is none."""

    usd: float | None
    detail: str = ""  # what was billed: "5 s at 720P", "1200 in + 300 out tokens"
    reason: str = ""


@dataclass(frozen=True)
class Price:
    key: str
    unit: str
    amount: Any  # number, {tier: rate}, {quality: {size: rate}} or {rate name: per 1M}
    source: str
    read_on: str
    tokens: dict[str, float] = field(default_factory=dict)  # input billed on top of images
    han_characters: int = 1  # what one Han character counts as, for prices per character


@dataclass(frozen=True)
class PriceTable:
    priced_on: str
    prices: dict[str, Price]
    overridden: tuple[str, ...] = ()

    def find(self, provider: str, model: str) -> Price | None:
        return self.prices.get(f"{provider}:{model}")


def priced_on() -> str:
    """The day the packaged prices were read, for the workflow document."""
    return _packaged()["priced_on"]


def load_prices(overrides: dict | Section | None = None) -> PriceTable:
    """The packaged table with the ``[prices]`` table handed in (``overrides``: the config
    file's section or a dict; none: the packaged prices alone) on top."""
    data = _packaged()
    prices = {}
    for key, entry in data["prices"].items():
        price = _packaged_price(key, entry)
        for name in [key, *(_alias(key, a) for a in entry.get("aliases", []))]:
            prices[name] = replace(price, key=name)
    table = _overrides(overrides)
    for key, entry in table.items():
        prices[key] = _override(key, entry, prices.get(key))
    return PriceTable(data["priced_on"], prices, tuple(sorted(table)))


def estimate(provider: str, model: str, request_kind: str, **call: Any) -> float | None:
    """USD a call will cost before it is made (the budget check); None when unpriced, and
    ``quote`` with the same arguments says why."""
    return quote(provider, model, request_kind, **call).usd


def cost_of(
    provider: str, model: str, usage: dict, *, table: PriceTable | None = None
) -> float | None:
    """USD a finished call cost; None when unpriced, and ``bill`` says why."""
    return bill(provider, model, usage, table=table).usd


def quote(
    provider: str,
    model: str,
    request_kind: str,
    *,
    images: int = 1,
    seconds: float = 0.0,
    resolution: str | None = None,
    quality: str | None = None,
    size: str | None = None,
    prompt_tokens: int = 0,
    completion_tokens: int = 0,
    table: PriceTable | None = None,
) -> Cost:
    """What a call will cost, before it is made, with what it buys or why it has no price."""
    if request_kind not in KIND_UNITS:
        raise ValueError(f"unknown request kind {request_kind!r}; one of {sorted(KIND_UNITS)}")
    price, missing = _lookup(provider, model, request_kind, table)
    if price is None:
        return missing
    if price.unit == IMAGE:
        return _images(price, images, quality, size)
    if price.unit == SECOND:
        return _seconds(price, seconds, resolution)
    return _tokens(price, prompt_tokens, completion_tokens, 0)


def bill(provider: str, model: str, usage: dict, *, table: PriceTable | None = None) -> Cost:
    """What a finished call cost, from the usage the service reported.

    DashScope images: ``image_count`` (1 when absent); DashScope video: ``video_duration`` and ``resolution``
    (or ``video_ratio``); chat: ``prompt_tokens``, ``completion_tokens`` (cached tokens from
    ``prompt_tokens_details``); OpenAI images: ``count``, ``quality``, ``size`` and, when
    reported, input ``text_tokens``/``image_tokens`` (or ``input_tokens_details``)."""
    price, missing = _lookup(provider, model, None, table)
    if price is None:
        return missing
    if price.unit == IMAGE:
        return _image_usage(price, usage)
    if price.unit == SECOND:
        seconds = _first(usage, "video_duration", "seconds", "duration")
        return _seconds(price, seconds, usage.get("resolution") or usage.get("video_ratio"))
    prompt = _first(usage, "prompt_tokens", "input_tokens")
    completion = _first(usage, "completion_tokens", "output_tokens")
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
    return _tokens(price, prompt, completion, cached)


def charge(job: Any, cost: Cost) -> None:
    """Put a finished call's ``cost`` on its job: ``job.cost`` in USD (0 when unpriced),
    ``cost_detail`` what was billed, and ``cost_unknown`` the reason when there is no price,
    so the cost event says the price is unknown instead of inventing a figure."""
    job.cost = cost.usd or 0.0
    job.params["cost_detail"] = cost.detail or cost.reason
    if cost.usd is None:
        job.params["cost_unknown"] = cost.reason
    else:
        job.params.pop("cost_unknown", None)


def quote_speech(provider: str, model: str, text: str, *, table: PriceTable | None = None) -> Cost:
    """What speaking ``text`` will cost, before the call: characters as the price counts them,
    or the audio's length (and tokens) estimated from the text."""
    return bill_speech(provider, model, text, {}, table=table)


def bill_speech(
    provider: str, model: str, text: str, usage: dict, *, table: PriceTable | None = None
) -> Cost:
    """What speaking ``text`` cost, from the usage the service reported where it did:
    ``characters``, ``seconds`` of audio, or ``input_tokens``/``output_tokens``; what is not
    reported is counted from the text (characters) or estimated from it (seconds)."""
    price, missing = _lookup(provider, model, None, table)
    if price is None:
        return missing
    if price.unit in CHARACTERS:
        count = int(usage.get("characters") or billed_characters(text, price.han_characters))
        usd = count * float(price.amount) / CHARACTERS[price.unit]
        return Cost(round(usd, 10), detail=f"{count} characters")
    seconds = float(usage.get("seconds") or speech_seconds(text))
    if price.unit == MINUTE:
        return Cost(round(seconds / 60 * float(price.amount), 10), detail=f"{seconds:g} s of audio")
    if price.unit == TOKENS:
        spoken = max(1, math.ceil(seconds)) * AUDIO_TOKENS_PER_SECOND
        prompt = _first(usage, "input_tokens", "prompt_tokens") or len(text)
        return _tokens(price, prompt, _first(usage, "output_tokens") or spoken, 0)
    why = f"{provider}:{model} is priced per {price.unit}, not per character or minute"
    return _unknown(why, provider, model)


def billed_characters(text: str, han: int = 1) -> int:
    """Characters as a per-character price counts them: a Han character as ``han``."""
    from director.text import HAN

    return sum(han if HAN.fullmatch(c) else 1 for c in text)


def speech_seconds(text: str) -> float:
    """About how long ``text`` takes to say: 4.5 Han characters or 15 other characters a
    second (a steady narrator); for estimates before a call, never for a bill."""
    from director.text import HAN

    han = sum(1 for c in text if HAN.fullmatch(c))
    return round(han / 4.5 + (len(text.strip()) - han) / 15, 3)


def resolution_tier(text: str) -> str | None:
    """``"720p"``, ``"1280*720"`` or ``"1280x720"`` -> ``"720P"``; None when unreadable."""
    text = str(text).strip().upper()
    if text in TIER_PIXELS:
        return text
    match = re.fullmatch(r"(\d+)\s*[*X]\s*(\d+)", text)
    if not match:
        return None
    pixels = int(match[1]) * int(match[2])
    return min(TIER_PIXELS, key=lambda tier: abs(math.log(pixels / TIER_PIXELS[tier])))


def _lookup(
    provider: str, model: str, kind: str | None, table: PriceTable | None
) -> tuple[Price | None, Cost]:
    """The price to use, or None and the Cost that says why (free, unknown, wrong unit)."""
    if provider in FREE_PROVIDERS:
        return None, Cost(0.0, detail="local")
    price = (table or load_prices()).find(provider, model)
    if price is None:
        return None, _unknown(f"no price for {provider}:{model}", provider, model)
    wanted = KIND_UNITS.get(kind or "", price.unit)
    if wanted != price.unit:
        why = f"{provider}:{model} is priced per {price.unit}, not per {wanted}"
        return None, _unknown(why, provider, model)
    return price, Cost(None)


def _unknown(why: str, provider: str, model: str) -> Cost:
    hint = f'set one in [prices."{provider}:{model}"] of the config file'
    if provider == "openai-compatible":
        hint += " (0 for a server of your own)"
    return Cost(None, reason=f"{why}; {hint}")


def _images(price: Price, count: int, quality: str | None, size: str | None) -> Cost:
    rate = price.amount
    if isinstance(rate, dict):
        rate = rate.get(str(quality or "").lower(), {}).get(_size(size))
        if rate is None:
            return _missing(price, f"quality {quality!r} at size {size!r}", _grid(price.amount))
    detail = f"{count} image{'s' * (count != 1)}" + (f" {size} {quality}" if quality else "")
    return Cost(round(count * rate, 6), detail=detail)


def _image_usage(price: Price, usage: dict) -> Cost:
    count = int(_first(usage, "image_count", "count", "images", default=1))
    cost = _images(price, count, usage.get("quality"), usage.get("size"))
    details = usage.get("input_tokens_details") or usage
    text, image = int(details.get("text_tokens") or 0), int(details.get("image_tokens") or 0)
    if cost.usd is None or not (text or image):
        return cost
    extra = text * price.tokens.get("input", 0.0) + image * price.tokens.get("image_input", 0.0)
    detail = f"{cost.detail} + {text} text and {image} image input tokens"
    return Cost(round(cost.usd + extra / 1e6, 6), detail=detail)


def _seconds(price: Price, seconds: float, resolution: str | None) -> Cost:
    rate, tier, seconds = price.amount, None, float(seconds)
    if isinstance(rate, dict):
        tier = resolution_tier(resolution) if resolution else None
        if tier not in rate:
            return _missing(
                price, f"resolution {resolution!r}", [t for t in TIER_PIXELS if t in rate]
            )
        rate = rate[tier]
    detail = f"{seconds:g} s" + (f" at {tier}" if tier else "")
    return Cost(round(seconds * rate, 6), detail=detail)


def _tokens(price: Price, prompt: int, completion: int, cached: int) -> Cost:
    rates = price.amount
    fresh, cached = max(int(prompt) - int(cached), 0), min(int(cached), int(prompt))
    usd = (
        fresh * rates["input"]
        + cached * rates.get("cached_input", rates["input"])
        + int(completion) * rates["output"]
    ) / 1e6
    detail = f"{int(prompt)} in ({cached} cached) + {int(completion)} out tokens"
    return Cost(round(usd, 8), detail=detail)


def _missing(price: Price, what: str, priced: list[str]) -> Cost:
    provider, model = price.key.split(":", 1)
    why = f"no price for {price.key} at {what} (priced: {', '.join(priced)})"
    return _unknown(why, provider, model)


def _grid(amount: dict) -> list[str]:
    return [f"{q} {s}" for q, sizes in amount.items() for s in sizes]


def _size(size: str | None) -> str:
    return str(size or "").lower().replace("*", "x").replace(" ", "")


def _first(usage: dict, *names: str, default: float = 0) -> Any:
    for name in names:
        if usage.get(name) is not None:
            return usage[name]
    return default


def _alias(key: str, alias: str) -> str:
    return f"{key.split(':', 1)[0]}:{alias}"


# --- the packaged table -------------------------------------------------------------------


def _packaged() -> dict:
    return prompts.read_json("pricing.json")


def _packaged_price(key: str, entry: dict) -> Price:
    """A packaged entry, checked: USD only (CNY-only prices were converted when written)."""
    if entry.get("currency") != "USD":
        raise ValueError(f"pricing.json: {key} is not in USD")
    amount = _checked_amount(key, entry["unit"], entry["amount"])
    tokens = {name: _rate(key, rate) for name, rate in entry.get("tokens", {}).items()}
    han = int(entry.get("han_characters", 1))
    return Price(key, entry["unit"], amount, entry["source"], entry["read_on"], tokens, han)


def _checked_amount(key: str, unit: str, amount: Any) -> Any:
    if unit == TOKENS:
        if not isinstance(amount, dict) or not {"input", "output"} <= set(amount):
            raise ConfigError(
                f"The price of {key} needs input and output rates per 1M tokens.",
                "Set input_per_1m and output_per_1m (USD per million tokens).",
            )
        return {name: _rate(key, amount[name]) for name in amount}
    if unit == SECOND and isinstance(amount, dict):
        return {_tier(key, tier): _rate(key, rate) for tier, rate in amount.items()}
    if unit == IMAGE and isinstance(amount, dict):
        return {
            str(q).lower(): {_size(s): _rate(key, r) for s, r in _table(key, sizes).items()}
            for q, sizes in amount.items()
        }
    if unit not in (IMAGE, SECOND, MINUTE, *CHARACTERS):
        raise ConfigError(
            f"The price of {key} has an unknown unit {unit!r}.",
            f"Use one of: {IMAGE}, {SECOND}, {TOKENS}, {', '.join(CHARACTERS)}, {MINUTE}.",
        )
    return _rate(key, amount)


def _rate(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConfigError(
            f"The price of {key} has {value!r} where a number of USD was expected.",
            "Write prices as numbers of US dollars, 0 or more.",
        )
    return float(value)


def _tier(key: str, tier: str) -> str:
    found = resolution_tier(tier)
    if found is None:
        raise ConfigError(
            f"The price of {key} names the resolution {tier!r}.", "Use 480P, 720P or 1080P."
        )
    return found


def _table(key: str, value: Any) -> dict:
    if not isinstance(value, dict):
        raise ConfigError(
            f"The price of {key} has {value!r} where a table by size was expected.",
            'Write e.g. per_image = { low = { "1024x1024" = 0.011 } }.',
        )
    return value


# --- the config file's [prices] -----------------------------------------------------------


def _overrides(given: dict | Section | None) -> dict:
    """The ``[prices]`` entries: a dict as given, a section's values, or none."""
    if given is None:
        return {}
    return given if isinstance(given, dict) else dict(given.values)


def _override(key: str, entry: Any, base: Price | None) -> Price:
    """One ``[prices."PROVIDER:MODEL"]`` table as a price, merged onto the packaged one."""
    entry = _checked_override(key, entry)
    rates = {OVERRIDE_KEYS[k]: _rate(key, v) for k, v in entry.items() if k.endswith("_per_1m")}
    speech = [k for k in ("per_10k_characters", "per_minute") if k in entry]
    if speech:
        unit = OVERRIDE_KEYS[speech[0]]
        han = base.han_characters if base else 1
        return Price(key, unit, _rate(key, entry[speech[0]]), FROM_CONFIG, "config", {}, han)
    if "per_image" in entry or "per_second" in entry:
        unit = IMAGE if "per_image" in entry else SECOND
        amount = _checked_amount(key, unit, entry.get("per_image", entry.get("per_second")))
        tokens = {**(base.tokens if base else {}), **rates}
        return Price(key, unit, amount, FROM_CONFIG, "config", tokens)
    if base is not None and base.unit == IMAGE:
        # Token rates alone on an image model: what its inputs cost on top of each image.
        return replace(base, tokens={**base.tokens, **rates}, source=FROM_CONFIG, read_on="config")
    merged = {**(base.amount if base and base.unit == TOKENS else {}), **rates}
    return Price(key, TOKENS, _checked_amount(key, TOKENS, merged), FROM_CONFIG, "config")


def _checked_override(key: str, entry: Any) -> dict:
    if ":" not in key or not isinstance(entry, dict):
        raise ConfigError(
            f"[prices] has {key!r}, which is not a PROVIDER:MODEL table.",
            'Write e.g. [prices."dashscope:wan2.2-t2i-flash"] with per_image = 0.02.',
        )
    entry = dict(entry)
    if entry.pop("currency", "USD") != "USD":
        raise ConfigError(f'[prices."{key}"] is not in USD.', "Write prices in US dollars.")
    unknown = sorted(set(entry) - set(OVERRIDE_KEYS))
    units = {"per_image", "per_second", "per_10k_characters", "per_minute"} & set(entry)
    both = len(units) > 1
    if unknown or both or not entry:
        raise ConfigError(
            f'[prices."{key}"] has unknown, conflicting or no entries: {", ".join(unknown)}.',
            "Use one of per_image, per_second, per_10k_characters or per_minute, and/or "
            f"token rates: {', '.join(k for k in OVERRIDE_KEYS if k.endswith('_per_1m'))}.",
        )
    return entry
