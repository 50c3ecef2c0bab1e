"""The price table and the arithmetic that turns a call into USD."""

from __future__ import annotations

import datetime
import json
from importlib import resources

import pytest

from director.agent.configuration import resolve
from director.config import load_config_file
from director.errors import ConfigError
from director.tools import pricing
from director.tools.pricing import bill, cost_of, estimate, load_prices, quote, resolution_tier


@pytest.fixture
def config(tmp_path, monkeypatch):
    path = tmp_path / "config.toml"
    path.write_text("")
    monkeypatch.setenv("DIRECTOR_CONFIG", str(path))
    return path


@pytest.fixture
def table(config):
    return load_prices()


def _file_prices(config):
    """The config file's [prices] table, as a command hands it to ``load_prices``."""
    return load_prices(load_config_file(config).section("prices"))


def _packaged() -> dict:
    text = resources.files("director.prompts").joinpath("pricing.json").read_text("utf-8")
    return json.loads(text)


def test_every_entry_has_unit_amount_currency_date_and_source():
    data = _packaged()
    datetime.date.fromisoformat(data["priced_on"])
    assert data["prices"], "the table is empty"
    for key, entry in data["prices"].items():
        assert ":" in key, key
        assert entry["unit"] in (
            "image",
            "second",
            "1M tokens",
            "10k characters",
            "1M characters",
            "minute",
        ), key
        assert entry["amount"] not in (None, {}, 0), key
        assert entry["currency"] == "USD", key
        datetime.date.fromisoformat(entry["read_on"])
        assert entry["source"].startswith("https://"), key


def test_prices_published_in_cny_are_converted_at_the_recorded_rate():
    data = _packaged()
    rate = data["fx"]["CNY_per_USD"]
    converted = [e for e in data["prices"].values() if "published" in e]
    assert converted, "no CNY-only entry to check"
    for entry in converted:
        assert entry["published"]["currency"] == "CNY"
        for tier, cny in entry["published"]["amount"].items():
            assert entry["amount"][tier] == pytest.approx(cny / rate, abs=1e-5)


def test_the_packaged_table_loads_with_its_date(table):
    assert table.priced_on == pricing.priced_on() == _packaged()["priced_on"]
    assert table.overridden == ()
    assert table.find("dashscope", "wanx2.1-t2i-turbo").unit == "image"


def test_an_image_model_costs_its_rate_per_image(table):
    offer = quote("dashscope", "wanx2.1-t2i-turbo", "image", images=4, table=table)
    assert offer.usd == pytest.approx(0.10)
    assert offer.detail == "4 images"
    billed = bill("dashscope", "wanx2.1-t2i-turbo", {"image_count": 2}, table=table)
    assert billed.usd == pytest.approx(0.05)
    # the international model name is the same model at the same price
    alias = quote("dashscope", "wan2.1-t2i-turbo", "keyframe", table=table)
    assert alias.usd == pytest.approx(0.025)


def test_a_video_model_costs_seconds_times_its_rate(table):
    assert quote("dashscope", "wanx2.1-i2v-plus", "clip", seconds=5, table=table).usd == (
        pytest.approx(0.50)
    )
    billed = bill("dashscope", "wanx2.1-kf2v-plus", {"video_duration": 3.5}, table=table)
    assert billed.usd == pytest.approx(0.35)
    assert billed.detail == "3.5 s"


def test_a_video_model_priced_per_resolution_uses_the_tier_of_the_call(table):
    low = quote("dashscope", "wan2.2-t2v-plus", "clip", seconds=5, resolution="480P", table=table)
    assert low.usd == pytest.approx(5 * 0.02007)
    high = bill(
        "dashscope",
        "wan2.2-t2v-plus",
        {"video_count": 1, "video_duration": 5, "video_ratio": "1920*1080"},
        table=table,
    )
    assert high.usd == pytest.approx(5 * 0.10035)
    assert high.detail == "5 s at 1080P"
    square = quote("dashscope", "wan2.2-t2v-plus", "clip", seconds=5, resolution="1440*1440")
    assert square.usd == high.usd


# No price from Alibaba's own pages could be found for these (only resellers' figures): they
# stay unpriced, and a quote says so instead of guessing.
UNPRICED_VIDEO = {"wan2.7-i2v", "wan2.7-t2v", "wan2.7-r2v"}


def test_every_dashscope_video_model_has_a_price_for_each_tier_it_makes(table):
    from director.tools.video.dashscope import DEFAULT_MODEL, MODELS

    for model, spec in MODELS.items():
        price = table.find("dashscope", model)
        if model in UNPRICED_VIDEO:
            offer = quote("dashscope", model, "clip", seconds=5, resolution="720P", table=table)
            assert price is None and offer.usd is None and "[prices." in offer.reason
            continue
        assert price is not None and price.unit == "second", model
        if isinstance(price.amount, dict):
            assert set(spec.tiers) <= set(price.amount), model
    clip = quote("dashscope", DEFAULT_MODEL, "clip", seconds=5, resolution="720P", table=table)
    assert clip.usd == pytest.approx(5 * 0.20 / _packaged()["fx"]["CNY_per_USD"], abs=1e-4)


def test_the_default_openai_image_model_has_a_price(table):
    from director.tools.image.openai_images import MODEL

    offer = quote("openai", MODEL, "image", quality="medium", size="1024x1024", table=table)
    assert MODEL == "gpt-image-1.5" and offer.usd == pytest.approx(0.034)
    assert table.find("openai", MODEL).tokens == {"input": 5.0, "image_input": 8.0}


def test_a_tier_the_model_has_no_price_for_is_none_with_the_priced_tiers(table):
    offer = quote("dashscope", "wan2.2-t2v-plus", "clip", seconds=5, resolution="720P", table=table)
    assert offer.usd is None
    assert "720P" in offer.reason and "480P, 1080P" in offer.reason
    assert "[prices" in offer.reason
    unsaid = quote("dashscope", "wan2.2-t2v-plus", "clip", seconds=5, table=table)
    assert unsaid.usd is None and "resolution None" in unsaid.reason


def test_a_token_model_bills_input_cached_input_and_output(table):
    usage = {
        "prompt_tokens": 1000,
        "completion_tokens": 500,
        "prompt_tokens_details": {"cached_tokens": 200},
    }
    billed = bill("openai", "gpt-4.1-mini", usage, table=table)
    assert billed.usd == pytest.approx((800 * 0.40 + 200 * 0.10 + 500 * 1.60) / 1e6)
    assert billed.detail == "1000 in (200 cached) + 500 out tokens"
    qwen = bill("dashscope", "qwen-plus", {"input_tokens": 2000, "output_tokens": 1000})
    assert qwen.usd == pytest.approx((2000 * 0.4 + 1000 * 1.2) / 1e6)
    offer = quote("openai", "gpt-4o-mini", "plan", prompt_tokens=10_000, completion_tokens=2_000)
    assert offer.usd == pytest.approx((10_000 * 0.15 + 2_000 * 0.60) / 1e6)


def test_openai_images_are_priced_by_quality_and_size_plus_input_tokens(table):
    offer = quote(
        "openai", "gpt-image-1", "image", images=2, quality="medium", size="1536x1024", table=table
    )
    assert offer.usd == pytest.approx(2 * 0.063)
    usage = {
        "count": 1,
        "quality": "high",
        "size": "1024x1024",
        "input_tokens_details": {"text_tokens": 100, "image_tokens": 1000},
    }
    billed = bill("openai", "gpt-image-1", usage, table=table)
    assert billed.usd == pytest.approx(0.167 + (100 * 5.0 + 1000 * 10.0) / 1e6)
    auto = quote("openai", "gpt-image-1", "image", quality="auto", size="1024x1024")
    assert auto.usd is None and "quality 'auto'" in auto.reason


def test_an_unknown_model_on_a_paid_provider_costs_none_with_a_reason(table):
    offer = quote("dashscope", "wan9-imaginary", "image", table=table)
    assert offer.usd is None
    assert offer.reason.startswith("no price for dashscope:wan9-imaginary;")
    assert '[prices."dashscope:wan9-imaginary"]' in offer.reason
    billed = bill("openai-compatible", "qwen2.5:7b", {"prompt_tokens": 5}, table=table)
    assert billed.usd is None and "0 for a server of your own" in billed.reason


def test_estimate_and_cost_of_give_plain_usd_or_none(table):
    assert estimate("dashscope", "wanx2.1-t2i-plus", "image", images=2, table=table) == 0.1
    assert estimate("dashscope", "wan9-imaginary", "image", table=table) is None
    usage = {"prompt_tokens": 1_000_000, "completion_tokens": 1_000_000}
    assert cost_of("openai", "gpt-4.1", usage, table=table) == pytest.approx(10.0)
    assert cost_of("openai", "gpt-5-imaginary", usage, table=table) is None
    assert cost_of("diffusers", "/models/wan", {"video_duration": 5}, table=table) == 0.0


def test_a_price_in_another_unit_is_not_used(table):
    offer = quote("dashscope", "wanx2.1-t2i-turbo", "clip", seconds=5, table=table)
    assert offer.usd is None and "priced per image, not per second" in offer.reason
    with pytest.raises(ValueError, match="unknown request kind"):
        quote("dashscope", "wanx2.1-t2i-turbo", "sculpture", table=table)


@pytest.mark.parametrize("provider", ["previz", "diffusers", "offline"])
def test_local_backends_cost_nothing(provider, table):
    assert quote(provider, "/models/sdxl", "image", images=4, table=table).usd == 0.0
    assert bill(provider, "any", {"video_duration": 5}, table=table).usd == 0.0


def test_the_config_file_adds_and_overrides_prices(config):
    config.write_text(
        '[prices."dashscope:wan2.2-t2i-flash"]\nper_image = 0.02\n\n'
        '[prices."dashscope:wan2.2-i2v-flash"]\nper_second = { "480P" = 0.015, "720p" = 0.03 }\n\n'
        '[prices."openai:gpt-4.1-mini"]\noutput_per_1m = 2.0\n\n'
        '[prices."openai-compatible:qwen2.5:7b"]\ninput_per_1m = 0\noutput_per_1m = 0\n'
    )
    assert load_prices().overridden == ()  # nothing handed: the packaged prices alone
    table = _file_prices(config)
    assert set(table.overridden) == {
        "dashscope:wan2.2-t2i-flash",
        "dashscope:wan2.2-i2v-flash",
        "openai:gpt-4.1-mini",
        "openai-compatible:qwen2.5:7b",
    }
    flash = quote("dashscope", "wan2.2-t2i-flash", "image", images=3, table=table)
    assert flash.usd == pytest.approx(0.06)
    clip = quote(
        "dashscope", "wan2.2-i2v-flash", "clip", seconds=5, resolution="1280*720", table=table
    )
    assert clip.usd == pytest.approx(0.15)
    # one rate changed; the packaged input rates stay
    tokens = {"prompt_tokens": 1_000_000, "completion_tokens": 0}
    assert bill("openai", "gpt-4.1-mini", tokens, table=table).usd == pytest.approx(0.40)
    tokens = {"prompt_tokens": 0, "completion_tokens": 1_000_000}
    assert bill("openai", "gpt-4.1-mini", tokens, table=table).usd == pytest.approx(2.0)
    assert bill("openai-compatible", "qwen2.5:7b", {"prompt_tokens": 9}, table=table).usd == 0.0
    assert table.find("dashscope", "wan2.2-t2i-flash").source == "config file [prices]"
    # the run options accept the table and do not record it
    assert not hasattr(resolve({"logline": "A gardener defends her garden."}), "prices")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[prices."dashscope:wan2.2-t2i-flash"]\nper_image = -1\n', "number of USD"),
        ('[prices."dashscope:wan2.2-t2i-flash"]\nper_img = 0.02\n', "per_img"),
        ('[prices."dashscope:wan2.2-t2i-flash"]\nper_image = 0.2\ncurrency = "CNY"\n', "USD"),
        ('[prices."wan2.2-t2i-flash"]\nper_image = 0.02\n', "PROVIDER:MODEL"),
        ('[prices."dashscope:x"]\nper_second = { "4K" = 1.0 }\n', "480P, 720P or 1080P"),
        ('[prices."openai:new-llm"]\ninput_per_1m = 1.0\n', "input and output"),
        ('[prices."dashscope:x"]\nper_image = 1\nper_second = 1\n', "conflicting"),
    ],
)
def test_bad_config_prices_are_refused_with_a_hint(config, text, message):
    config.write_text(text)
    with pytest.raises(ConfigError, match=message) as caught:
        _file_prices(config)
    assert caught.value.hint


@pytest.mark.parametrize(
    ("text", "tier"),
    [
        ("720p", "720P"),
        ("1080P", "1080P"),
        ("1280*720", "720P"),
        ("832x480", "480P"),
        ("624*624", "480P"),
        ("960*960", "720P"),
        ("1440*1440", "1080P"),
        ("wide", None),
    ],
)
def test_resolution_tiers(text, tier):
    assert resolution_tier(text) == tier


def test_a_hosted_backend_prices_its_calls_with_the_config_files_table(config, monkeypatch):
    from director import registry
    from tests.test_openai_images import request

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    config.write_text('[prices."openai:gpt-image-1"]\nper_image = 0.5\n')
    assert registry.load("image", "openai:gpt-image-1").estimate(request()) == 0.5
    packaged = quote("openai", "gpt-image-1", "image", quality="medium", size="1536x1024")
    assert packaged.usd != 0.5  # the packaged price, which the config file's replaces
