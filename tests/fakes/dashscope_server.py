"""A fake DashScope on 127.0.0.1 for the real ``dashscope`` SDK: the Wan async task protocol,
strict about requests the way the published API reference is.

Submit (``POST /api/v1/services/aigc/<task>/<function>`` with ``X-DashScope-Async: enable`` and
a Bearer key) answers a task id; ``GET /api/v1/tasks/{id}`` walks the task through PENDING and
RUNNING to SUCCEEDED (or FAILED, which is HTTP 200 with ``output.code``) once ``latency``
seconds have passed; the results are real files served by the fake (a PNG of the size asked
for, an MP4 of the resolution and length asked for, made once per shape with the ffmpeg that
ships with imageio-ffmpeg). Knobs inject what the real service does on a bad day, counters say
how often it was asked, and ``requests`` keeps every request as it arrived. ``interrupt``
cuts a connection at a chosen request, as a client killed mid-call would: the crash tests use
it to kill the run at that very moment.

Every submission is held against ``API``: per model family, the fields of ``input`` and
``parameters`` that Alibaba's published reference and examples define (nesting, JSON types,
enums, ranges), each table citing its source. A field the table does not know, a value outside
its enum or range, or a model sent to another family's endpoint answers 400
``InvalidParameter`` with a message naming the field, as DashScope does. Fields the
``dashscope`` SDK 2.0.2 adds by itself are known, and marked so. Each such refusal is also kept
in ``violations``, and leaving the ``with`` block with one there fails the test: a renamed
field cannot hide behind the ladder's retries. A test that sends bad requests on purpose takes
them with ``take_violations()``.

    with FakeDashScope(latency=0.05) as fake:
        fake.throttle_first = 2
        os.environ["DASHSCOPE_HTTP_BASE_URL"] = fake.base_url
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import math
import re
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from PIL import Image

DEFAULT_KEY = "sk-fake-dashscope-5e1f0c3a9b"
SERVICES = "/api/v1/services/aigc/"
COMPATIBLE = "/compatible-mode/"  # DashScope's OpenAI-compatible mode, on the same host
# Submit path -> what the task makes. Paths: SDK dashscope/aigc/image_synthesis.py,
# video_synthesis.py, image_generation.py (task groups) + api_entities/api_request_factory.py.
PATHS = {
    "text2image/image-synthesis": "t2i",
    "image2image/image-synthesis": "i2i",
    "video-generation/video-synthesis": "video",
    "image2video/video-synthesis": "kf2v",
    # The messages protocol's asynchronous endpoint (Wan 2.7 images).
    "image-generation/generation": "generation",
}
TIER_SIZES = {"480P": (832, 480), "720P": (1280, 720), "1080P": (1920, 1080)}
# Return-status-code table ([P] https://help.aliyun.com/zh/dashscope/return-status-code-description):
# 403 AccessDenied.Unpurchased for a model the account has not activated.
UNPURCHASED = (
    403,
    "AccessDenied.Unpurchased",
    "Access to model denied. Please make sure you are eligible for using the model.",
)
SEED_MAX = 2147483647


# --- the published request shapes -------------------------------------------------------
#
# Sources, as cited in the tables below. [P]: Alibaba Cloud Model Studio docs; [Q]: the Qwen
# Cloud API reference (docs.qwencloud.com / platform.qianwenai.com, dashscope endpoints);
# [SDK]: the dashscope 2.0.2 package; [3rd]: third-party copies of the official tables, used
# only for limits no primary page shows (marked UNVERIFIED).


@dataclass(frozen=True)
class Field:
    """One request field as published: its JSON type, the values it may take, its contents."""

    type: str  # "str", "int", "number", "bool", "list", "object"
    enum: frozenset | None = None
    low: float | None = None  # a number's least value, a list's least length
    high: float | None = None  # a number's greatest value, a list's greatest length
    items: Field | None = None  # a list's items
    fields: Mapping[str, Field] | None = None  # an object's keys; any other key is refused
    required: bool = False


def text(*, required: bool = False) -> Field:
    return Field("str", required=required)


def one_of(*values: str, required: bool = False) -> Field:
    return Field("str", enum=frozenset(values), required=required)


def integer(low: float | None = None, high: float | None = None, *, values=None) -> Field:
    return Field("int", low=low, high=high, enum=frozenset(values) if values else None)


def number(low: float, high: float) -> Field:
    return Field("number", low=low, high=high)


def flag() -> Field:
    return Field("bool")


def listing(item: Field, low: int | None = None, high: int | None = None, **kw) -> Field:
    return Field("list", items=item, low=low, high=high, **kw)


def obj(required: bool = False, **fields: Field) -> Field:
    return Field("object", fields=fields, required=required)


SEED = integer(0, SEED_MAX)
N = integer(1, 4)
SIZE = Field("str")  # "W*H"; the family's rules check the numbers
# Added by the SDK itself: VideoSynthesis always puts the deprecated ``extend_prompt`` (default
# True) and ``function`` = its module name into ``input`` ([SDK] dashscope/aigc/
# video_synthesis.py, ``_get_input`` and ``_get_task_group_and_task(__name__)``).
SDK_VIDEO_INPUT = {"extend_prompt": flag(), "function": one_of("video-synthesis")}
# ImageGeneration.async_call sets ``is_async`` in its kwargs, which the SDK then leaves in
# ``parameters`` ([SDK] dashscope/aigc/image_generation.py, ``async_call``).
SDK_ASYNC_PARAMETER = {"is_async": flag()}
WAN27_RATIOS = ("16:9", "9:16", "1:1", "4:3", "3:4")
WAN27_TIERS = ("720P", "1080P")


def _no_rules(model: str, inputs: dict, params: dict) -> None:
    return None


@dataclass(frozen=True)
class Api:
    """A model family's request as published: its endpoint, the fields of ``input`` and
    ``parameters``, and the rules that tie fields together."""

    kind: str  # the endpoint, as a PATHS value
    input: Mapping[str, Field]
    parameters: Mapping[str, Field]
    rules: Callable[[str, dict, dict], None] = _no_rules
    shape: str = ""  # what the result looks like: "image", "video", "video27", "choices"


# Text-to-image V2, text2image/image-synthesis.
# [P] https://www.alibabacloud.com/help/en/model-studio/text-to-image-v2-api-reference (input
#     prompt, negative_prompt; parameters size "W*H", n 1-4, seed, prompt_extend, watermark);
# [P] published curl, https://www.alibabacloud.com/help/en/model-studio/image-faq:
#     {"model": "wanx2.1-t2i-turbo", "input": {"prompt"}, "parameters": {"size": "1024*1024",
#     "n": 1}};
# [Q] https://docs.qwencloud.com/api-reference/image-generation/wan-text-to-image-v2/create-task
#     (model table: sides 512-1440 for 2.1/2.2, total 1280*1280-1440*1440 for 2.5).
def _t2i_rules(model: str, inputs: dict, params: dict) -> None:
    w, h = _parse_size(params.get("size", "1024*1024"), "parameters.size")
    if model.startswith("wan2.5"):
        if not 768 * 768 <= w * h <= 1440 * 1440 or max(w / h, h / w) > 4:
            raise _bad(f"parameters.size {w}*{h}: total pixels 768*768 to 1440*1440, 1:4 to 4:1")
    elif not (512 <= w <= 1440 and 512 <= h <= 1440):
        raise _bad(f"parameters.size {w}*{h}: each side must be in [512, 1440]")


T2I = Api(
    "t2i",
    input={"prompt": text(required=True), "negative_prompt": text()},
    parameters={
        "size": SIZE,
        "n": N,
        "seed": SEED,
        "prompt_extend": flag(),
        "watermark": flag(),
    },
    rules=_t2i_rules,
    shape="image",
)


# General image editing, wanx2.1-imageedit, image2image/image-synthesis.
# [P] https://www.alibabacloud.com/help/en/model-studio/wanx-image-edit (Mar 15 2026): curl
#     {"input": {"function": "description_edit_with_mask", "prompt", "base_image_url",
#     "mask_image_url"}, "parameters": {"n": 1}}; input images 512-4096 px a side; the mask the
#     base image's size, white repainted. The function list: [SDK] ImageSynthesis.call
#     docstring and the reference's function table (as copied by [3rd]); that table has no
#     negative_prompt. The per-function parameters (strength, the expand scales,
#     upscale_factor, is_sketch) are UNVERIFIED: not in the copies read, allowed so that a
#     request using them is not refused for the wrong reason.
EDIT_FUNCTIONS = (
    "stylization_all",
    "stylization_local",
    "description_edit",
    "description_edit_with_mask",
    "remove_watermark",
    "expand",
    "super_resolution",
    "colorization",
    "doodle",
    "control_cartoon_feature",
)


def _edit_rules(model: str, inputs: dict, params: dict) -> None:
    base = _decode_image(inputs["base_image_url"], "input.base_image_url")
    _check_sides(base, 512, 4096, "input.base_image_url")
    if inputs["function"] == "description_edit_with_mask":
        mask = _decode_image(_need(inputs, "mask_image_url"), "input.mask_image_url")
        if mask.size != base.size:
            raise _bad("input.mask_image_url: mask and base image sizes differ")
    elif "mask_image_url" in inputs:
        raise _bad(f"input.mask_image_url: not used by function {inputs['function']}")


IMAGE_EDIT = Api(
    "i2i",
    input={
        "function": one_of(*EDIT_FUNCTIONS, required=True),
        "prompt": text(required=True),
        "base_image_url": text(required=True),
        "mask_image_url": text(),
    },
    parameters={
        "n": N,
        "seed": SEED,
        "watermark": flag(),
        "strength": number(0.0, 1.0),
        "top_scale": number(1.0, 2.0),
        "bottom_scale": number(1.0, 2.0),
        "left_scale": number(1.0, 2.0),
        "right_scale": number(1.0, 2.0),
        "upscale_factor": integer(1, 4),
        "is_sketch": flag(),
    },
    rules=_edit_rules,
    shape="image",
)


# wan2.5-i2i-preview, image2image/image-synthesis.
# [P] https://www.alibabacloud.com/help/en/model-studio/wan2-5-image-edit-api-reference ("up to
#     three reference images"); [Q] https://docs.qwencloud.com/api-reference/image-generation/
#     wan25-general-image-editing/create-task: curl {"model": "wan2.5-i2i-preview", "input":
#     {"prompt", "images": ["https://..."]}, "parameters": {"prompt_extend": true, "n": 1}}.
#     The reference's table (as copied by [3rd] vtrix / seaart): input negative_prompt; images
#     1-3, 384-5000 px a side; parameters size (total 768*768-1280*1280, 1:4-4:1), n, seed,
#     prompt_extend, watermark.
def _i2i_rules(model: str, inputs: dict, params: dict) -> None:
    for i, image in enumerate(inputs["images"]):
        _check_sides(_decode_image(image, f"input.images[{i}]"), 384, 5000, f"input.images[{i}]")
    w, h = _parse_size(params.get("size", "1280*1280"), "parameters.size")
    if not 768 * 768 <= w * h <= 1280 * 1280 or max(w / h, h / w) > 4:
        raise _bad(f"parameters.size {w}*{h}: total pixels 768*768 to 1280*1280, 1:4 to 4:1")


I2I = Api(
    "i2i",
    input={
        "prompt": text(required=True),
        "negative_prompt": text(),
        "images": listing(text(), 1, 3, required=True),
    },
    parameters={
        "size": SIZE,
        "n": N,
        "seed": SEED,
        "prompt_extend": flag(),
        "watermark": flag(),
    },
    rules=_i2i_rules,
    shape="image",
)


# Image-to-video from a first frame, Wan 2.1-2.5, video-generation/video-synthesis.
# [P] https://www.alibabacloud.com/help/en/model-studio/legacy-image-to-video-api-reference
#     ("Wan - image to video - first frame (2.1-2.6)"): input prompt, negative_prompt, img_url
#     (URL or data URI, 360-2000 px a side), audio_url (wan2.5+); parameters resolution, duration,
#     prompt_extend, seed, watermark, audio (wan2.5+). Per-model tiers and lengths: the model
#     table as summarised in INTEGRATIONS.md 1.3 (third-party copies, UNVERIFIED in detail;
#     older copies give wan2.2-i2v-flash 480P and 720P only, the 2026 guide 480P-1080P).
def _i2v(tiers: tuple[str, ...], durations: tuple[int, ...], *, audio: bool = False) -> Api:
    inputs = {"prompt": text(), "negative_prompt": text(), "img_url": text(required=True)}
    params = {
        "resolution": one_of(*tiers),
        "duration": integer(values=durations),
        "prompt_extend": flag(),
        "seed": SEED,
        "watermark": flag(),
    }
    if audio:
        inputs["audio_url"] = text()
        params["audio"] = flag()
    return Api("video", {**inputs, **SDK_VIDEO_INPUT}, params, _i2v_rules, "video")


def _i2v_rules(model: str, inputs: dict, params: dict) -> None:
    _check_sides(_decode_image(inputs["img_url"], "input.img_url"), 360, 2000, "input.img_url")


# First and last frame (kf2v), image2video/video-synthesis.
# [Q] https://docs.qwencloud.com/api-reference/video-generation/wan-image-to-video-first-last-
#     frames/create-task: curl {"model": "wan2.2-kf2v-flash", "input": {"first_frame_url",
#     "last_frame_url", "prompt"}, "parameters": {"resolution": "480P", "prompt_extend": true}};
# [P] https://www.alibabacloud.com/help/en/model-studio/image-to-video-by-first-and-last-frame-api-reference
#     (negative_prompt, duration fixed 5, seed, watermark; 360-2000 px frames).
def _kf2v(tiers: tuple[str, ...]) -> Api:
    inputs = {
        "prompt": text(),
        "negative_prompt": text(),
        "first_frame_url": text(required=True),
        "last_frame_url": text(),
    }
    params = {
        "resolution": one_of(*tiers),
        "duration": integer(values=(5,)),
        "prompt_extend": flag(),
        "seed": SEED,
        "watermark": flag(),
    }
    return Api("kf2v", {**inputs, **SDK_VIDEO_INPUT}, params, _kf2v_rules, "video")


def _kf2v_rules(model: str, inputs: dict, params: dict) -> None:
    for name in ("first_frame_url", "last_frame_url"):
        if name in inputs:
            path = f"input.{name}"
            _check_sides(_decode_image(inputs[name], path), 360, 2000, path)


# Text-to-video, Wan 2.1-2.5, video-generation/video-synthesis: a pixel ``size`` per tier.
# [P] https://help.aliyun.com/zh/model-studio/text-to-video-api-reference (the size table:
#     480P 832*480, 480*832, 624*624; 720P 1280*720, 720*1280, 960*960, 1088*832, 832*1088;
#     1080P 1920*1080, 1080*1920, 1440*1440, 1632*1248, 1248*1632); input prompt,
#     negative_prompt, audio_url (wan2.5); per-model tiers and lengths as for i2v.
T2V_SIZES = {
    "480P": ("832*480", "480*832", "624*624"),
    "720P": ("1280*720", "720*1280", "960*960", "1088*832", "832*1088"),
    "1080P": ("1920*1080", "1080*1920", "1440*1440", "1632*1248", "1248*1632"),
}


def _t2v(tiers: tuple[str, ...], durations: tuple[int, ...], *, audio: bool = False) -> Api:
    inputs = {"prompt": text(required=True), "negative_prompt": text()}
    params = {
        "size": one_of(*(s for t in tiers for s in T2V_SIZES[t])),
        "duration": integer(values=durations),
        "prompt_extend": flag(),
        "seed": SEED,
        "watermark": flag(),
    }
    if audio:
        inputs["audio_url"] = text()
        params["audio"] = flag()
    return Api("video", {**inputs, **SDK_VIDEO_INPUT}, params, shape="video")


# Wan 2.7 video, video-generation/video-synthesis: media items, a resolution tier, no pixel
# size; negative prompt in input; the 2.2-style fields (img_url, first_frame_url, size, ...)
# are not fields of these models.
# wan2.7-i2v: [P] https://www.alibabacloud.com/help/en/model-studio/image-to-video-general-api-reference
#     ("Wan 2.7 - image-to-video API"); [Q] https://platform.qianwenai.com/docs/api-reference/
#     video-generation/wan27-image-to-video/create-task: {"model": "wan2.7-i2v", "input":
#     {"prompt", "media": [{"type": "first_frame", "url"}, {"type": "driving_audio", "url"}]},
#     "parameters": {"resolution": "720P", "duration": 10, "prompt_extend": true,
#     "watermark": true}}; duration 2-15 s ([P] wan-image-to-video-guide).
# wan2.7-t2v: [Q] .../wan27-text-to-video/create-task: {"input": {"prompt"}, "parameters":
#     {"resolution": "720P", "ratio": "16:9", "prompt_extend": true, "watermark": true,
#     "duration": 15}}; negative_prompt in input; [P] alibabacloud.com/help/es/model-studio/
#     text-to-video-api-reference. Ratio values: 16:9, 9:16, 1:1, 4:3, 3:4 ([Q] lists
#     "16:9, 9:16 ..."; the five from [3rd]).
# wan2.7-r2v: [Q] https://docs.platform.qianwenai.com/api-reference/video-generation/
#     wan27-reference-to-video/create-task: media [{reference_video}, {reference_video},
#     {reference_image}], parameters {resolution, duration, prompt_extend, watermark}; up to 5
#     reference images and videos, an optional first frame; [P] alibabacloud.com/help/es/
#     model-studio/wan-video-to-video-api-reference. ``reference_voice`` on an item: [SDK]
#     VideoSynthesis uploads media[i]["reference_voice"].
# Media types: [SDK] VideoSynthesis.MediaType; the valid i2v combinations are [3rd] (UNVERIFIED).
def _wan27(types: tuple[str, ...] | None, *, ratio: bool, prompt: bool, voice: bool = False) -> Api:
    inputs: dict[str, Field] = {"prompt": text(required=prompt), "negative_prompt": text()}
    if types is not None:
        item = {"type": one_of(*types, required=True), "url": text(required=True)}
        if voice:
            item["reference_voice"] = text()
        inputs["media"] = listing(obj(**item), 1, None, required=True)
    params = {
        "resolution": one_of(*WAN27_TIERS),
        "duration": integer(2, 15),
        "prompt_extend": flag(),
        "watermark": flag(),
        "seed": SEED,
    }
    if ratio:
        params["ratio"] = one_of(*WAN27_RATIOS)
    return Api("video", {**inputs, **SDK_VIDEO_INPUT}, params, _wan27_rules, "video27")


I2V27_SETS = (  # [3rd] powertokens / evolink / powower tables, consistent with each other
    {"first_frame"},
    {"first_frame", "driving_audio"},
    {"first_frame", "last_frame"},
    {"first_frame", "last_frame", "driving_audio"},
    {"first_clip"},
    {"first_clip", "last_frame"},
)
MEDIA_KIND = {
    "first_frame": "image",
    "last_frame": "image",
    "reference_image": "image",
    "reference_video": "video",
    "first_clip": "video",
    "driving_audio": "audio",
}


def _wan27_rules(model: str, inputs: dict, params: dict) -> None:
    media = inputs.get("media") or []
    for i, item in enumerate(media):
        _check_media(item, f"input.media[{i}]")
    kinds = Counter(item["type"] for item in media)
    if model == "wan2.7-i2v":
        if any(n > 1 for n in kinds.values()) or set(kinds) not in I2V27_SETS:
            raise _bad(
                f"input.media: {sorted(kinds.elements())} is not a wan2.7-i2v task; use "
                "first_frame (+ last_frame, + driving_audio) or first_clip (+ last_frame)"
            )
    elif model == "wan2.7-r2v":
        references = kinds["reference_image"] + kinds["reference_video"]
        if not 1 <= references <= 5 or kinds["first_frame"] > 1:
            raise _bad("input.media: 1 to 5 reference images and videos, at most 1 first_frame")
        if kinds["reference_video"] and int(params.get("duration", 5)) > 10:
            raise _bad("parameters.duration: at most 10 s with a reference video")


# Wan 2.7 images, the messages protocol; asynchronous at image-generation/generation.
# [Q] https://docs.qwencloud.com/api-reference/image-generation/wan27-image-gen-edit/create-task:
#     {"model": "wan2.7-image-pro", "input": {"messages": [{"role": "user", "content":
#     [{"text": "..."}]}]}, "parameters": {"n": 1, "size": "2K", "watermark": false,
#     "thinking_mode": true}}, header X-DashScope-Async: enable; the model enum
#     wan2.7-image-pro, wan2.7-image; content: one text and 0-9 images (URL or data URI),
#     single turn, role user, prompt up to 5,000 characters (.../synchronous).
# [P] https://www.alibabacloud.com/help/en/model-studio/wan-image-edit-2-5: ImageGeneration
#     with content [{"text"}, {"image"}, {"image"}], watermark, n, size "2K".
# [P] https://www.alibabacloud.com/help/en/model-studio/wan-image-generation-and-editing-api-reference.
# size: "1K", "2K", "4K" (wan2.7-image-pro, text-to-image only) or "W*H" with 768*768-2048*2048
# pixels; seed, enable_sequential (n up to 12), color_palette, bbox_list: [3rd] (UNVERIFIED).
WAN27_IMAGE_SIZES = {"1K": 1024, "2K": 2048, "4K": 4096}


def _wan27_image_rules(model: str, inputs: dict, params: dict) -> None:
    content = inputs["messages"][0]["content"]
    for i, item in enumerate(content):
        if len(item) != 1:
            raise _bad(f"input.messages[0].content[{i}]: one of text or image per item")
    texts = [item["text"] for item in content if "text" in item]
    images = [item["image"] for item in content if "image" in item]
    if len(texts) != 1:
        raise _bad("input.messages[0].content: exactly one text item")
    if len(texts[0]) > 5000:
        raise _bad("input.messages[0].content.text: at most 5000 characters")
    if len(images) > 9:
        raise _bad("input.messages[0].content: at most 9 images")
    for i, image in enumerate(images):
        if not image.startswith(("http://", "https://")):
            _check_sides(_decode_image(image, f"image {i + 1}"), 240, 8000, f"image {i + 1}")
    limit = 12 if params.get("enable_sequential") else 4
    if int(params.get("n", 1)) > limit:
        raise _bad(f"parameters.n: at most {limit}")
    size = str(params.get("size", "2K"))
    if size in WAN27_IMAGE_SIZES:
        if size == "4K" and (model != "wan2.7-image-pro" or images):
            raise _bad("parameters.size 4K: wan2.7-image-pro text-to-image only")
        return
    w, h = _parse_size(size, "parameters.size")
    if not 768 * 768 <= w * h <= 2048 * 2048 or max(w / h, h / w) > 8:
        raise _bad(f"parameters.size {size}: 1K, 2K, 4K or W*H of 768*768 to 2048*2048 pixels")


CONTENT_ITEM = obj(text=text(), image=text())
WAN27_IMAGE = Api(
    "generation",
    input={
        "messages": listing(
            obj(
                role=one_of("user", required=True),
                content=listing(CONTENT_ITEM, 1, 10, required=True),
            ),
            1,
            1,
            required=True,
        )
    },
    parameters={
        "n": integer(1, 12),
        "size": SIZE,
        "watermark": flag(),
        "seed": SEED,
        "thinking_mode": flag(),
        "enable_sequential": flag(),
        "color_palette": listing(Field("object", fields=None)),
        "bbox_list": listing(Field("list")),
        **SDK_ASYNC_PARAMETER,
    },
    rules=_wan27_image_rules,
    shape="choices",
)


# Model -> its published request. What the fake serves; ``FakeDashScope.models`` says what
# the account may use.
API: dict[str, Api] = {
    "wan2.5-t2i-preview": T2I,
    "wan2.2-t2i-flash": T2I,
    "wan2.2-t2i-plus": T2I,
    "wanx2.1-t2i-turbo": T2I,
    "wanx2.1-t2i-plus": T2I,
    "wanx2.1-imageedit": IMAGE_EDIT,
    "wan2.5-i2i-preview": I2I,
    "wan2.2-i2v-flash": _i2v(("480P", "720P", "1080P"), (5,)),
    "wan2.2-i2v-plus": _i2v(("480P", "1080P"), (5,)),
    "wan2.5-i2v-preview": _i2v(("480P", "720P", "1080P"), (5, 10), audio=True),
    "wanx2.1-i2v-turbo": _i2v(("480P", "720P"), (3, 4, 5)),
    "wanx2.1-i2v-plus": _i2v(("720P",), (5,)),
    "wan2.2-kf2v-flash": _kf2v(("480P", "720P", "1080P")),
    "wanx2.1-kf2v-plus": _kf2v(("720P",)),
    "wan2.2-t2v-plus": _t2v(("480P", "1080P"), (5,)),
    "wan2.5-t2v-preview": _t2v(("480P", "720P", "1080P"), (5, 10), audio=True),
    "wanx2.1-t2v-turbo": _t2v(("480P", "720P"), (5,)),
    "wanx2.1-t2v-plus": _t2v(("720P",), (5,)),
    "wan2.7-i2v": _wan27(
        ("first_frame", "last_frame", "driving_audio", "first_clip"), ratio=False, prompt=False
    ),
    "wan2.7-r2v": _wan27(
        ("reference_image", "reference_video", "first_frame"), ratio=True, prompt=True, voice=True
    ),
    "wan2.7-t2v": _wan27(None, ratio=True, prompt=True),
    "wan2.7-image": WAN27_IMAGE,
    "wan2.7-image-pro": WAN27_IMAGE,
}
BODY_KEYS = {"model", "input", "parameters", "resources"}  # [SDK] api_request_data.py


@dataclass
class Task:
    id: str
    kind: str
    model: str
    body: dict[str, Any]
    created: float
    latency: float
    failure: tuple[str, str] | None = None
    output: dict[str, Any] = field(default_factory=dict)
    usage: dict[str, Any] = field(default_factory=dict)
    created_ms: int = field(default_factory=lambda: int(time.time() * 1000))
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))


class Refusal(Exception):
    """An error answer: status, DashScope code and message, extra headers."""

    def __init__(self, status: int, code: str, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}


class FakeDashScope:
    def __init__(self, *, api_key: str = DEFAULT_KEY, latency: float = 0.0) -> None:
        self.api_key = api_key
        self.latency = latency  # seconds from submission to the task's end
        # What the key may use: a model the fake serves but the account may not use answers
        # ``denied_model`` (403 AccessDenied.Unpurchased, as the real service does); a model
        # the fake does not serve at all answers ``unknown_model``.
        self.models: set[str] = set(API)
        self.denied_model: tuple[int, str, str] = UNPURCHASED
        self.unknown_model = (404, "ModelNotFound")
        self.throttle_first = 0  # the first k submissions answer 429 Throttling.RateQuota
        self.retry_after: float | None = 1.0  # their Retry-After header (None: no header)
        self.submit_errors: deque[tuple[int, str, str]] = deque()  # next submissions, one each
        self.poll_errors: deque[tuple[int, str, str]] = deque()  # next polls, one each
        self.fail_next: deque[tuple[str, str]] = deque()  # next tasks end FAILED (code, message)
        self.blocked_words: set[str] = set()  # in a prompt: submission refused (moderation)
        self.unsafe_words: set[str] = set()  # in a prompt: the task ends FAILED (moderation)
        self.image_size: tuple[int, int] | None = None  # deliver this size whatever was asked
        self.video_fps = 16
        self.result_base: str | None = None  # where result URLs point (default: this server)
        # A FakeOpenAI that answers the OpenAI-compatible mode on this host
        # (``/compatible-mode/v1/...``, where ``--llm dashscope:MODEL`` sends its chat calls),
        # with this fake's key; None: those paths are unknown APIs (404).
        self.compatible: Any = None
        self.file_delay = 0.0  # seconds between chunks of a served file
        self.file_chunk = 16 * 1024  # bytes per chunk of a served file
        # Called as interrupt(step, kind) when a submission ("submit", kind "t2i", "i2i",
        # "video", "kf2v" or "generation"), a poll ("poll", the task's kind) or a result
        # download ("download", "image" or "video", after its first chunk) arrives. True cuts
        # the connection there, unanswered: a cut submission is not accepted (no task, no
        # charge), a cut download stops part-way. ``cut`` counts the cuts per step.
        self.interrupt: Callable[[str, str], bool] | None = None
        self.cut: Counter[str] = Counter()
        self.submissions = 0
        self.polls = 0
        self.downloads = 0
        self.listings = 0  # task listings (GET /api/v1/tasks): how a lost answer is reconciled
        self.ranges = True  # answer "Range: bytes=N-" on result files with 206
        self.ranged = 0  # result downloads resumed with a range
        self.submit_times: list[float] = []
        self.requests: list[dict[str, Any]] = []
        self.refusals: list[tuple[int, str, str]] = []  # every error answered to a submission
        # Submissions refused for breaking the published request (path, model, message, body).
        self.violations: list[dict[str, Any]] = []
        self.tasks: dict[str, Task] = {}
        self._lock = threading.Lock()
        self._files = Path(tempfile.mkdtemp(prefix="fake-dashscope-"))
        self._made: dict[tuple, str] = {}
        self._server: ThreadingHTTPServer | None = None

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> FakeDashScope:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        # A short poll interval: shutdown() waits for the loop to notice, once per test.
        loop = self._server.serve_forever
        threading.Thread(target=loop, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeDashScope:
        return self.start()

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.stop()
        shutil.rmtree(self._files, ignore_errors=True)  # the result files it made
        if exc_type is None and self.violations:
            found = "\n".join(f"  {v['model']}: {v['message']}" for v in self.violations)
            raise AssertionError(f"Requests that break the published DashScope API:\n{found}")

    def take_violations(self) -> list[dict[str, Any]]:
        """The submissions refused for breaking the published request so far, forgotten: for a
        test that sends them on purpose."""
        with self._lock:
            taken, self.violations = self.violations, []
        return taken

    @property
    def origin(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def base_url(self) -> str:
        """The value for DASHSCOPE_HTTP_BASE_URL."""
        return f"{self.origin}/api/v1"

    def url(self, path: str) -> str:
        return f"{self.origin}{path}"

    # --- reading back -------------------------------------------------------------------

    def bodies(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Bodies of the submissions (all, or of one kind: "t2i", "i2i", "video", "kf2v",
        "generation")."""
        return [
            r["body"]
            for r in self.requests
            if r["method"] == "POST" and (kind is None or r.get("kind") == kind)
        ]

    def paths(self) -> list[str]:
        return [r["path"] for r in self.requests]

    def accepted(self) -> list[str]:
        """A fingerprint of each accepted submission's body (the work the account pays for),
        in the order the tasks were created."""
        tasks = sorted(self.tasks.values(), key=lambda t: t.created)
        return [fingerprint(t.body) for t in tasks]

    def duplicates(self) -> int:
        """Accepted submissions whose body the fake had already accepted: work paid twice."""
        return sum(n - 1 for n in Counter(self.accepted()).values())

    def cuts(self, step: str, kind: str) -> bool:
        """Whether ``interrupt`` cuts this request (counted in ``cut``)."""
        if self.interrupt is None or not self.interrupt(step, kind):
            return False
        with self._lock:
            self.cut[step] += 1
        return True

    # --- the protocol -------------------------------------------------------------------

    def submit(self, kind: str, headers: dict[str, str], body: dict[str, Any]) -> dict:
        with self._lock:
            self.submissions += 1
            self.submit_times.append(time.monotonic())
            if self.throttle_first >= self.submissions:
                extra = {} if self.retry_after is None else {"Retry-After": f"{self.retry_after:g}"}
                raise Refusal(429, "Throttling.RateQuota", "Requests rate limit exceeded.", extra)
            if self.submit_errors:
                raise Refusal(*self.submit_errors.popleft())
        if headers.get("x-dashscope-async") != "enable":
            raise Refusal(
                403, "AccessDenied", "current user api does not support synchronous calls"
            )
        if not isinstance(body, dict):
            raise _bad("the request body must be a JSON object")
        model = body.get("model") or ""
        api = API.get(model)
        if api is None:
            status, code = self.unknown_model
            raise Refusal(status, code, f"Model not exist: {model}")
        if model not in self.models:
            raise Refusal(*self.denied_model)
        prompt = _prompt_of(body)
        if any(w in prompt for w in self.blocked_words):
            raise Refusal(
                400, "DataInspectionFailed", "Input data may contain inappropriate content."
            )
        try:
            validate(kind, body)
        except Refusal as refusal:
            entry = {"path": _path_of(kind), "model": model, "message": refusal.message}
            with self._lock:
                self.violations.append({**entry, "body": body})
            raise
        return self._create(kind, model, body, prompt)

    def _create(self, kind: str, model: str, body: dict, prompt: str) -> dict:
        task = Task(str(uuid.uuid4()), kind, model, body, time.monotonic(), self.latency)
        with self._lock:
            if self.fail_next:
                task.failure = self.fail_next.popleft()
        if task.failure is None and any(w in prompt for w in self.unsafe_words):
            task.failure = (
                "DataInspectionFailed",
                "Output data may contain inappropriate content.",
            )
        self.tasks[task.id] = task
        return {
            "request_id": task.request_id,
            "output": {"task_id": task.id, "task_status": "PENDING"},
        }

    def list_tasks(self, query: dict[str, list[str]]) -> dict:
        """``GET /api/v1/tasks``: the account's tasks by time window, model and status, as the
        published "batch query of asynchronous tasks" answers (Alibaba Model Studio, 批量查询异步
        任务状态: start_time/end_time YYYYMMDDhhmmss, at most 24 hours apart, default the last
        24 hours; model_name, status, page_no, page_size; data[] with task_id, status,
        model_name, gmt_create in ms, request_id, region, user_api_unique_key). The fake reads
        the times as Beijing time (UTC+8), which the page leaves unsaid."""
        one = {k: v[-1] for k, v in query.items()}
        known = {"task_id", "start_time", "end_time", "model_name", "status", "page_no"}
        unknown = sorted(set(one) - known - {"page_size", "api_key_id", "region"})
        if unknown:
            raise _bad(f"unknown query parameter {unknown[0]}")
        start, end = _window(one.get("start_time"), one.get("end_time"))
        with self._lock:
            self.listings += 1
            tasks = sorted(self.tasks.values(), key=lambda t: t.created_ms, reverse=True)
        found = [
            t
            for t in tasks
            if start <= t.created_ms <= end
            and one.get("model_name", t.model) == t.model
            and one.get("task_id", t.id) == t.id
            and one.get("status", self._status(t)) == self._status(t)
        ]
        page, size = int(one.get("page_no", 1)), int(one.get("page_size", 10))
        shown = found[(page - 1) * size : page * size]
        return {
            "request_id": str(uuid.uuid4()),
            "total": len(found),
            "total_page": max(1, -(-len(found) // size)),
            "page_no": page,
            "page_size": size,
            "data": [self._listed(t) for t in shown],
        }

    def _status(self, task: Task) -> str:
        if time.monotonic() - task.created < task.latency:
            return "RUNNING"
        return "FAILED" if task.failure else "SUCCEEDED"

    def _listed(self, task: Task) -> dict:
        path = _path_of(task.kind).replace("/", ":")
        return {
            "api_key_id": "15xxxx",
            "caller_parent_id": "1000000000",
            "caller_uid": "1000000000",
            "gmt_create": task.created_ms,
            "start_time": task.created_ms,
            "model_name": task.model,
            "region": "cn-beijing",
            "request_id": task.request_id,
            "status": self._status(task),
            "task_id": task.id,
            "user_api_unique_key": f"apikey:v1:aigc:{path}:{task.model}",
        }

    def poll(self, task_id: str) -> dict:
        with self._lock:
            self.polls += 1
            if self.poll_errors:
                raise Refusal(*self.poll_errors.popleft())
        task = self.tasks.get(task_id)
        if task is None:
            return {
                "request_id": str(uuid.uuid4()),
                "output": {"task_id": task_id, "task_status": "UNKNOWN"},
            }
        elapsed = time.monotonic() - task.created
        if elapsed < task.latency:
            status = "PENDING" if elapsed < task.latency / 4 else "RUNNING"
            return {
                "request_id": str(uuid.uuid4()),
                "output": {"task_id": task.id, "task_status": status},
            }
        return self._finished(task)

    def _finished(self, task: Task) -> dict:
        if task.failure is not None:
            code, message = task.failure
            output = {"task_id": task.id, "task_status": "FAILED", "code": code, "message": message}
            return {"request_id": str(uuid.uuid4()), "output": output}
        if not task.output:
            make = {
                "image": self._image_result,
                "choices": self._choices_result,
                "video": self._video_result,
                "video27": self._video27_result,
            }[API[task.model].shape]
            task.output, task.usage = make(task)
        output = {"task_id": task.id, "task_status": "SUCCEEDED", **task.output}
        return {"request_id": str(uuid.uuid4()), "output": output, "usage": task.usage}

    def _image_result(self, task: Task) -> tuple[dict, dict]:
        params = task.body.get("parameters") or {}
        inputs = task.body.get("input") or {}
        if task.model == "wanx2.1-imageedit":
            size = _decode_image(inputs["base_image_url"], "input.base_image_url").size
        else:
            default = "1280*1280" if task.kind == "i2i" else "1024*1024"
            size = _parse_size(params.get("size", default), "parameters.size")
        size = self.image_size or size
        n = int(params.get("n", 4 if task.kind == "t2i" else 1))
        url = self._result_url(self._png(size))
        results = [{"url": url, "orig_prompt": inputs.get("prompt", "")} for _ in range(n)]
        output = {
            "results": results,
            "task_metrics": {"TOTAL": n, "SUCCEEDED": n, "FAILED": 0},
        }
        return output, {"image_count": n}

    def _choices_result(self, task: Task) -> tuple[dict, dict]:
        """The messages protocol's answer ([Q] wan27-image-gen-edit/synchronous: output.choices
        [].message.content[].image, usage image_count and size); the asynchronous result is
        taken to have the same shape (UNVERIFIED)."""
        params = task.body.get("parameters") or {}
        content = task.body["input"]["messages"][0]["content"]
        images = [item["image"] for item in content if "image" in item]
        size = self.image_size or _wan27_image_size(str(params.get("size", "2K")), images)
        n = int(params.get("n", 1))
        url = self._result_url(self._png(size))
        choices = [
            {
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": [{"image": url, "type": "image"}]},
            }
            for _ in range(n)
        ]
        usage = {"image_count": n, "size": f"{size[0]}*{size[1]}"}
        return {"choices": choices, "finished": True}, usage

    def _video_result(self, task: Task) -> tuple[dict, dict]:
        params = task.body.get("parameters") or {}
        inputs = task.body.get("input") or {}
        if "size" in params:
            size = _parse_size(params["size"], "parameters.size")
        else:
            w, h = TIER_SIZES[params.get("resolution", "1080P")]
            first = inputs.get("img_url") or inputs.get("first_frame_url")
            fw, fh = _decode_image(first, "first frame").size
            size = (w, h) if fw >= fh else (h, w)
        seconds = int(params.get("duration", 5))
        url = self._result_url(self._mp4(size, seconds, self.video_fps))
        output = {"video_url": url, "orig_prompt": inputs.get("prompt", "")}
        usage = {"video_count": 1, "video_duration": seconds, "video_ratio": f"{size[0]}*{size[1]}"}
        return output, usage

    def _video27_result(self, task: Task) -> tuple[dict, dict]:
        """A Wan 2.7 clip: the tier's pixels at the ratio asked for (t2v, r2v) or at the first
        frame's aspect (i2v); usage as the published query result ([Q] wan27-image-to-video/
        query-result: duration, input_video_duration, output_video_duration, video_count, SR)."""
        params = task.body.get("parameters") or {}
        inputs = task.body.get("input") or {}
        tier = params.get("resolution", "1080P")
        media = {item["type"]: item for item in reversed(inputs.get("media") or [])}
        frame = media.get("first_frame") or media.get("last_frame")
        if task.model == "wan2.7-i2v" and frame and not frame["url"].startswith("http"):
            aspect = _decode_image(frame["url"], "first_frame").size
            size = _at_area(TIER_SIZES[tier], aspect[0] / aspect[1])
        else:
            size = _ratio_size(tier, params.get("ratio", "16:9"))
        seconds = int(params.get("duration", 5))
        url = self._result_url(self._mp4(size, seconds, self.video_fps))
        took = sum(
            _media_seconds(item["url"])
            for item in inputs.get("media") or []
            if MEDIA_KIND.get(item["type"]) == "video"
        )
        output = {"video_url": url, "orig_prompt": inputs.get("prompt", "")}
        usage = {
            "duration": round(took + seconds, 3),
            "input_video_duration": round(took, 3),
            "output_video_duration": seconds,
            "video_count": 1,
            "SR": int(tier.removesuffix("P")),
        }
        return output, usage

    def _result_url(self, name: str) -> str:
        base = self.result_base or self.origin
        return f"{base}/files/{name}?Expires=1700000000&Signature=fake"

    # --- result files -------------------------------------------------------------------

    def _png(self, size: tuple[int, int]) -> str:
        key = ("png", size)
        if key not in self._made:
            w, h = size
            img = Image.linear_gradient("L").resize((w, h)).convert("RGB")
            name = f"img-{w}x{h}.png"
            img.save(self._files / name)
            self._made[key] = name
        return self._made[key]

    def _mp4(self, size: tuple[int, int], seconds: int, fps: int) -> str:
        key = ("mp4", size, seconds, fps)
        if key not in self._made:
            from imageio_ffmpeg import get_ffmpeg_exe

            w, h = size
            name = f"clip-{w}x{h}-{seconds}s-{fps}.mp4"
            source = f"testsrc2=size={w}x{h}:rate={fps}:duration={seconds}"
            argv = [get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi"]
            argv += ["-i", source, "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt"]
            argv += ["yuv420p", str(self._files / name)]
            subprocess.run(argv, check=True, capture_output=True, timeout=120)
            self._made[key] = name
        return self._made[key]

    def file(self, name: str) -> Path | None:
        path = self._files / Path(name).name
        return path if path.is_file() else None


def fingerprint(body: Any) -> str:
    """A submission body's digest, keys sorted: equal bodies, equal fingerprints. Nothing in
    a Wan request varies between two sends of the same work (no timestamps, no nonces)."""
    text = json.dumps(body, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --- request validation, as the service does it ----------------------------------------


def validate(kind: str, body: dict) -> None:
    """Refuse (400 InvalidParameter, naming the field) a body that is not the published
    request of its model: wrong endpoint, unknown or missing field, wrong type, a value
    outside its enum or range, or a broken cross-field rule."""
    model = body.get("model") or ""
    api = API[model]
    if api.kind != kind:
        raise _bad(f"Model {model} is not served by this API ({_path_of(kind)})")
    extra = sorted(set(body) - BODY_KEYS)
    if extra:
        raise _bad(f"Unknown field: {extra[0]} (the request has model, input and parameters)")
    inputs = body.get("input")
    params = body.get("parameters") or {}
    _check(inputs, obj(required=True, **api.input), "input", model)
    _check(params, obj(**api.parameters), "parameters", model)
    api.rules(model, inputs, params)


def _check(value: Any, spec: Field, path: str, model: str) -> None:
    if not _typed(value, spec.type):
        raise _bad(f"{path} must be {_A[spec.type]}, got {type(value).__name__}: {value!r:.40}")
    if spec.enum is not None and value not in spec.enum:
        allowed = ", ".join(sorted(map(str, spec.enum)))
        raise _bad(f"{path}: {value!r} is not one of {allowed}")
    size = len(value) if spec.type == "list" else value if spec.type in ("int", "number") else 0
    if spec.low is not None and size < spec.low or spec.high is not None and size > spec.high:
        what = "items" if spec.type == "list" else "the value"
        raise _bad(f"{path}: {what} must be in [{_num(spec.low)}, {_num(spec.high)}]")
    if spec.type == "list" and spec.items is not None:
        for i, item in enumerate(value):
            _check(item, spec.items, f"{path}[{i}]", model)
    if spec.type == "object" and spec.fields is not None:
        _check_object(value, spec.fields, path, model)


def _check_object(value: dict, fields: Mapping[str, Field], path: str, model: str) -> None:
    unknown = sorted(key for key in value if key not in fields)
    if unknown:
        named = ", ".join(f"{path}.{key}" for key in unknown)
        legacy = model.startswith("wan2.7") and LEGACY_FIELDS.intersection(unknown)
        hint = LEGACY_HINT if legacy else ""
        raise _bad(f"Unknown field {named}: {model} takes no such field{hint}")
    for key, spec in fields.items():
        if value.get(key) is not None:  # a JSON null is an absent field
            _check(value[key], spec, f"{path}.{key}", model)
        elif spec.required:
            raise _bad(f"Field required: {path}.{key}")


# The 2.2/2.5 names of what Wan 2.7 video takes as media items, or as resolution + ratio
# ([Q] wan27-text-to-video "differences from wan2.6"; INTEGRATIONS.md 10): they fail there.
LEGACY_FIELDS = {
    "img_url",
    "first_frame_url",
    "last_frame_url",
    "audio_url",
    "reference_url",
    "reference_urls",
    "reference_video_urls",
    "size",
}
LEGACY_HINT = " (Wan 2.7 takes images, videos and audio as input.media items, and a resolution)"

_A = {
    "str": "a string",
    "int": "an integer",
    "number": "a number",
    "bool": "a boolean",
    "list": "an array",
    "object": "an object",
}


def _typed(value: Any, kind: str) -> bool:
    if isinstance(value, bool):
        return kind == "bool"
    return isinstance(
        value,
        {
            "str": str,
            "int": int,
            "number": (int, float),
            "bool": bool,
            "list": list,
            "object": dict,
        }[kind],
    )


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def _bad(message: str) -> Refusal:
    return Refusal(400, "InvalidParameter", message)


def _path_of(kind: str) -> str:
    return next(p for p, k in PATHS.items() if k == kind)


def _prompt_of(body: Any) -> str:
    """The words a content check reads: input.prompt, or the messages' text items."""
    inputs = body.get("input") if isinstance(body, dict) else None
    if not isinstance(inputs, dict):
        return ""
    if isinstance(inputs.get("messages"), list):
        messages = [m for m in inputs["messages"] if isinstance(m, dict)]
        items = [i for m in messages if isinstance(m.get("content"), list) for i in m["content"]]
        return "\n".join(str(i["text"]) for i in items if isinstance(i, dict) and "text" in i)
    return str(inputs.get("prompt") or "")


def _need(inputs: dict, name: str) -> Any:
    value = inputs.get(name)
    if not value:
        raise _bad(f"Field required: input.{name}")
    return value


def _check_sides(img: Image.Image, low: int, high: int, what: str) -> None:
    if not all(low <= side <= high for side in img.size):
        raise _bad(f"{what}: each side must be in [{low}, {high}], got {img.size[0]}*{img.size[1]}")


def _check_media(item: dict, path: str) -> None:
    """A media item's url holds what its type says: an image for frames and reference images
    (a data: URI, decoded here), a video or an audio file (a data: URI of that type, or an
    http(s) URL, which the fake does not fetch)."""
    kind = MEDIA_KIND[item["type"]]
    url = item["url"]
    if kind == "image":
        _check_sides(_decode_image(url, f"{path}.url"), 240, 8000, f"{path}.url")
    elif not (url.startswith(f"data:{kind}/") or url.startswith(("http://", "https://"))):
        raise _bad(f"{path}.url: a {item['type']} takes a {kind} file, got {url!r:.40}")


def _media_seconds(url: str) -> float:
    """A data: URI video's length (0 for a URL the fake does not fetch)."""
    if not url.startswith("data:"):
        return 0.0
    from imageio_ffmpeg import count_frames_and_secs

    with tempfile.NamedTemporaryFile(suffix=".mp4") as fh:
        fh.write(base64.b64decode(url.split(",", 1)[1]))
        fh.flush()
        return float(count_frames_and_secs(fh.name)[1])


def _ratio_size(tier: str, ratio: str) -> tuple[int, int]:
    """The pixel size of a tier at a ratio: the text-to-video reference's size table (the
    Wan 2.7 pages replace size with resolution + ratio; the table is taken to still hold)."""
    w, h = (int(v) for v in ratio.split(":"))
    sizes = [_parse_size(s, "size") for s in T2V_SIZES[tier]]
    return min(sizes, key=lambda s: abs(math.log((s[0] / s[1]) / (w / h))))


def _at_area(base: tuple[int, int], aspect: float) -> tuple[int, int]:
    area = base[0] * base[1]
    w = math.sqrt(area * aspect)
    return 2 * round(w / 2), 2 * round(area / w / 2)


def _wan27_image_size(size: str, images: list[str]) -> tuple[int, int]:
    """What a Wan 2.7 image task makes: a preset's square, or its pixels at the aspect of the
    first input image when there is one (UNVERIFIED: the pages do not say); W*H as asked."""
    if size not in WAN27_IMAGE_SIZES:
        return _parse_size(size, "parameters.size")
    side = WAN27_IMAGE_SIZES[size]
    local = [i for i in images if i.startswith("data:")]
    if not local:
        return side, side
    w, h = _decode_image(local[0], "image 1").size
    return _at_area((side, side), w / h)


def _parse_size(size: Any, what: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d+)\*(\d+)", str(size))
    if not match:
        raise _bad(f"{what} {size!r} is not W*H")
    return int(match[1]), int(match[2])


def _decode_image(value: Any, what: str = "image") -> Image.Image:
    """A data: URI's image; anything else (a local path, an oss:// upload) is refused here,
    where a real service would fetch an http(s) URL."""
    if not isinstance(value, str) or not value.startswith("data:") or ";base64," not in value:
        raise _bad(f"{what}: url error, the fake takes data: URIs: {value!r:.60}")
    try:
        img = Image.open(io.BytesIO(base64.b64decode(value.split(",", 1)[1], validate=True)))
        img.load()
    except (binascii.Error, OSError) as exc:
        raise _bad(f"{what}: image cannot be read: {exc}") from None
    return img


# --- HTTP -------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    fake: FakeDashScope
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        if path.startswith(COMPATIBLE) and self.fake.compatible is not None:
            return self._compatible()
        body = self._body()
        kind = PATHS.get(path.removeprefix(SERVICES)) if path.startswith(SERVICES) else None
        self._record("POST", body, kind)
        if kind is None:
            return self._error(Refusal(404, "NotFound", f"no such API: {path}"))
        if self.fake.cuts("submit", kind):
            self.close_connection = True
            return
        self._answer(lambda: self.fake.submit(kind, self._headers(), body), auth=True)

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        self._record("GET", None, None)
        if path.rstrip("/") == "/api/v1/tasks":
            query = parse_qs(urlsplit(self.path).query)
            return self._answer(lambda: self.fake.list_tasks(query), auth=True)
        if path.startswith("/api/v1/tasks/"):
            task_id = path.rsplit("/", 1)[-1]
            task = self.fake.tasks.get(task_id)
            if self.fake.cuts("poll", task.kind if task else ""):
                self.close_connection = True
                return
            return self._answer(lambda: self.fake.poll(task_id), auth=True)
        if path.startswith("/files/"):
            return self._file(path.removeprefix("/files/"))
        if path == "/blob":
            return self._blob(parse_qs(urlsplit(self.path).query))
        self._error(Refusal(404, "NotFound", f"no such path: {path}"))

    def _compatible(self) -> None:
        """Hand a compatible-mode request to the FakeOpenAI in ``compatible``, as it arrived."""
        from tests.fakes.openai_server import Request, _multipart

        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers = self._headers()
        request = Request("POST", urlsplit(self.path).path, headers, raw)
        content_type = headers.get("content-type", "")
        if content_type.startswith("application/json"):
            request.json = json.loads(raw or b"{}")
        elif content_type.startswith("multipart/form-data"):
            request.parts = _multipart(content_type, raw)
        reply = self.fake.compatible.answer(request)
        data = json.dumps(reply.body if reply.body is not None else {}).encode()
        self._send(reply.status, data, "application/json", reply.headers)

    # --- pieces -------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        return {k.lower(): v for k, v in self.headers.items()}

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw or b"null")
        except ValueError:
            return {"_raw": raw.decode("utf-8", "replace")}

    def _record(self, method: str, body: Any, kind: str | None) -> None:
        headers = {k: v for k, v in self._headers().items() if k != "authorization"}
        entry = {"method": method, "path": self.path, "headers": headers, "body": body}
        if kind:
            entry["kind"] = kind
        with self.fake._lock:
            self.fake.requests.append(entry)

    def _answer(self, work, *, auth: bool) -> None:
        if auth and self._headers().get("authorization") != f"Bearer {self.fake.api_key}":
            return self._error(Refusal(401, "InvalidApiKey", "Invalid API-key provided."))
        try:
            payload = work()
        except Refusal as refusal:
            return self._error(refusal)
        self._send(200, json.dumps(payload).encode(), "application/json")

    def _error(self, refusal: Refusal) -> None:
        with self.fake._lock:
            self.fake.refusals.append((refusal.status, refusal.code, refusal.message))
        body = {"request_id": str(uuid.uuid4()), "code": refusal.code, "message": refusal.message}
        self._send(refusal.status, json.dumps(body).encode(), "application/json", refusal.headers)

    def _send(self, status: int, data: bytes, mime: str, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", mime)
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        try:
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client went away (killed)
            self.close_connection = True

    def _file(self, name: str) -> None:
        path = self.fake.file(name)
        if path is None:
            return self._error(Refusal(404, "NotFound", "the result has expired"))
        with self.fake._lock:
            self.fake.downloads += 1
        mime = "video/mp4" if path.suffix == ".mp4" else "image/png"
        kind = "video" if path.suffix == ".mp4" else "image"
        data, start = path.read_bytes(), _range_start(self.headers.get("Range"))
        if start and self.fake.ranges and start < len(data):
            self.fake.ranged += 1
            tail = f"bytes {start}-{len(data) - 1}/{len(data)}"
            return self._drip(data[start:], mime, self.fake.file_delay, cut=kind, range_=tail)
        self._drip(data, mime, self.fake.file_delay, cut=kind)

    def _blob(self, query: dict[str, list[str]]) -> None:
        """``/blob?bytes=N&delay=S[&length=no]``: N bytes, S seconds between chunks, with or
        without a Content-Length, for the download limits."""
        size = int(query.get("bytes", ["1024"])[0])
        delay = float(query.get("delay", ["0"])[0])
        declared = query.get("length", ["yes"])[0] != "no"
        self._drip(b"\0" * size, "application/octet-stream", delay, declared=declared)

    def _drip(
        self,
        data: bytes,
        mime: str,
        delay: float,
        *,
        declared: bool = True,
        cut: str = "",
        range_: str = "",
    ) -> None:
        self.send_response(206 if range_ else 200)
        self.send_header("Content-Type", mime)
        if range_:
            self.send_header("Content-Range", range_)
        if declared:
            self.send_header("Content-Length", str(len(data)))
        else:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        chunk = self.fake.file_chunk
        try:
            for start in range(0, len(data), chunk):
                if delay:
                    time.sleep(delay)
                self.wfile.write(data[start : start + chunk])
                self.wfile.flush()
                if start == 0 and cut and self.fake.cuts("download", cut):
                    self.close_connection = True
                    return
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


def _range_start(header: str | None) -> int:
    """The first byte of a ``Range: bytes=N-`` request, 0 for none or another form."""
    if not header or not header.startswith("bytes=") or not header.endswith("-"):
        return 0
    value = header.removeprefix("bytes=").removesuffix("-")
    return int(value) if value.isdigit() else 0


BEIJING = 8 * 3600  # seconds east of UTC


def _window(start: str | None, end: str | None) -> tuple[int, int]:
    """The listing's time window in ms since the epoch, checked as the service does."""
    now = int(time.time() * 1000)
    lo = _stamp(start) if start else None
    hi = _stamp(end) if end else None
    if lo is None and hi is None:
        lo, hi = now - 86_400_000, now
    elif lo is None:
        lo = hi - 86_400_000
    elif hi is None:
        hi = lo + 86_400_000
    if hi - lo > 86_400_000 or hi < lo:
        raise _bad("the time range must be at most 24 hours, start before end")
    return lo, hi


def _stamp(text: str) -> int:
    import calendar

    try:
        parsed = time.strptime(text, "%Y%m%d%H%M%S")
    except ValueError:
        raise _bad(f"time {text!r} is not YYYYMMDDhhmmss") from None
    return (calendar.timegm(parsed) - BEIJING) * 1000


def serve(monkeypatch):
    """A running fake, with director's DashScope settings (key and host) pointing at it; for
    a fixture to ``yield from``."""
    with FakeDashScope() as fake:
        monkeypatch.setenv("DASHSCOPE_API_KEY", fake.api_key)
        monkeypatch.setenv("DASHSCOPE_HTTP_BASE_URL", fake.base_url)
        monkeypatch.delenv("DIRECTOR_DASHSCOPE_REGION", raising=False)
        yield fake


@pytest.fixture
def dashscope_fake(monkeypatch):
    yield from serve(monkeypatch)
