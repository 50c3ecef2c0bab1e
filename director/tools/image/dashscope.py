"""Wan keyframes on Alibaba DashScope: text-to-image, edits and reference-guided images.

The model decides the request's shape. With a Wan 2.1-2.5 text-to-image model
(``wan2.2-t2i-flash`` unless another is named) a plain request goes to that model, and the
ladder's stronger rungs go to the models made for them: a region to repaint to
``wanx2.1-imageedit`` (``description_edit_with_mask``, the mask drawn from the region), a
whole-image edit to its ``description_edit``, reference images to ``wan2.5-i2i-preview``.
A Wan 2.7 model (``wan2.7-image``, ``wan2.7-image-pro``) does all three itself through the
messages protocol: one text item and up to nine images, the image to edit first, then the
references; it takes no mask, so a region to repaint is said in words (``prompts/image``).
Every call asks for one image (the text-to-image API's documented default is four, each
billed), at a size the model accepts, with the run's seed, without a watermark, and with the
service's prompt rewriting off where the model has it, so that the prompt the critics judged
is the prompt that was used. Local images travel as ``data:`` URIs. The result is stored at the
requested size; when the service made another size, the picture is scaled and centre-cropped
to it, and the job's params say so.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

from director import prompts
from director.errors import GenerationFailed, InputError
from director.files import atomic_file
from director.tools import hosted
from director.tools.base import ImageBackend, ImageRequest, Job
from director.tools.dashscope_tasks import (
    DashScope,
    SizeRule,
    bill,
    dashscope_seed,
    inline_image,
)
from director.tools.pricing import PriceTable
from director.tools.providers import ProviderSettings

DEFAULT_MODEL = "wan2.2-t2i-flash"
REFERENCE_MODEL = "wan2.5-i2i-preview"
EDIT_MODEL = "wanx2.1-imageedit"
# wan2.5-i2i-preview takes one to three images (Alibaba "Wan2.5 - general image editing" API
# reference, alibabacloud.com/help/en/model-studio/wan2-5-image-edit-api-reference).
MAX_REFERENCES = 3
MAX_RESULT_BYTES = 40 * 1024 * 1024


# Output sizes per text-to-image model (DashScope's text-to-image V2 reference): each side
# 512-1440 for Wan 2.1/2.2, a total of 1280^2-1440^2 pixels for Wan 2.5.
WAN_SIDES = SizeRule(min_side=512, max_side=1440, max_pixels=1440 * 1440)
T2I_MODELS: dict[str, SizeRule] = {
    "wan2.2-t2i-flash": WAN_SIDES,
    "wan2.2-t2i-plus": WAN_SIDES,
    "wanx2.1-t2i-turbo": WAN_SIDES,
    "wanx2.1-t2i-plus": WAN_SIDES,
    "wan2.5-t2i-preview": SizeRule(min_pixels=1280 * 1280, max_pixels=1440 * 1440, max_aspect=4),
}
REFERENCE_SIZE = SizeRule(min_pixels=768 * 768, max_pixels=1280 * 1280, max_aspect=4)
# wanx2.1-imageedit returns the size of the image it edits; inputs are 512-4096 px a side.
EDIT_INPUT = SizeRule(min_side=512, max_side=4096, step=2)
# Reference images are only looked at: a long side of 1280 keeps the request small.
REFERENCE_INPUT = SizeRule(min_side=384, max_side=1280, step=2)

# Wan 2.7 images, DashScope's messages protocol (asynchronous endpoint
# image-generation/generation; Qwen Cloud API reference "Wan 2.7 - Generate or edit an image",
# docs.qwencloud.com/api-reference/image-generation/wan27-image-gen-edit/create-task): one text
# item and 0-9 images; size a preset, "1K" or "2K" ("4K" for wan2.7-image-pro without input
# images); input images 240-8000 px a side. A preset names the long side of the picture made.
MESSAGES_MODELS = ("wan2.7-image", "wan2.7-image-pro")
MAX_MESSAGE_IMAGES = 9
PRESETS = {"1K": 1024, "2K": 2048, "4K": 4096}
PRO_ONLY = {"4K"}  # and only for text-to-image
# The image to edit goes at up to 2048 px a side, the largest the edit makes; references, which
# are only looked at, as for the other models.
MESSAGE_EDIT_INPUT = SizeRule(min_side=240, max_side=2048, step=2)


class DashScopeImage(ImageBackend):
    """Keyframes from DashScope's Wan models, one asynchronous task per image."""

    name: ClassVar[str] = "dashscope"
    family: ClassVar[str] = (
        "Wan image models: Wan 2.1-2.5 text-to-image (edits on wanx2.1-imageedit, references on "
        "wan2.5-i2i-preview), or Wan 2.7 image, which does all three itself"
    )
    known_models: ClassVar[tuple[str, ...]] = (
        *T2I_MODELS,
        EDIT_MODEL,
        REFERENCE_MODEL,
        *MESSAGES_MODELS,
    )
    renders_faces: ClassVar[bool] = True
    accepts_references: ClassVar[bool] = True
    edits: ClassVar[bool] = True

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        reference_model: str = REFERENCE_MODEL,
        edit_model: str = EDIT_MODEL,
        retries: hosted.Retries | None = None,
        polling: hosted.Polling | None = None,
        request_timeout: float = 60.0,
        download_timeout: float = 120.0,
        max_result_bytes: int = MAX_RESULT_BYTES,
        provider_settings: ProviderSettings | None = None,
        prices: PriceTable | None = None,
        max_in_flight: int = 4,
    ) -> None:
        if max_in_flight < 1:
            raise InputError("max_in_flight must be at least 1.", "Allow one task or more.")
        if model not in T2I_MODELS and model not in MESSAGES_MODELS:
            raise InputError(
                f"The dashscope image backend has no text-to-image model {model!r}.",
                f"Use one of: {', '.join([*T2I_MODELS, *MESSAGES_MODELS])} (with a Wan 2.1-2.5 "
                f"model, edits and references use {EDIT_MODEL} and {REFERENCE_MODEL}; a Wan 2.7 "
                "model does them itself).",
            )
        self.model = model
        # Tasks the graph may have submitted at once: the first keyframes of later shots go
        # in while one shot is collected and judged.
        self.max_in_flight = max_in_flight
        self.reference_model = reference_model
        self.edit_model = edit_model
        self.max_result_bytes = max_result_bytes
        self.service = DashScope(
            setting="--image dashscope:MODEL",
            provider=provider_settings,
            prices=prices,
            retries=retries or hosted.Retries(),
            polling=polling or hosted.Polling(first=1.0, factor=1.1, most=10.0, timeout=900.0),
            request_timeout=request_timeout,
            download_timeout=download_timeout,
        )

    # --- submit -------------------------------------------------------------------------

    def estimate(self, request: ImageRequest) -> float | None:
        from director.tools.pricing import estimate

        return estimate(self.name, self._route(request)[0], "image", table=self.service.prices)

    def _route(self, request: ImageRequest) -> tuple[str, Callable]:
        """The model a request goes to, and the method that builds its arguments."""
        if self.model in MESSAGES_MODELS:
            return self.model, self._messages
        if request.edit_source and (request.edit_region or not request.references):
            return self.edit_model, self._edit
        if request.edit_source or request.references:
            # A whole-image edit that should follow references goes to the reference model,
            # with the image to edit first and the reference second.
            return self.reference_model, self._with_references
        return self.model, self._text_to_image

    def submit(self, request: ImageRequest) -> Job:
        model, build = self._route(request)
        call, params = build(request)
        faults: list[dict] = []
        task_id = self.service.submit(
            _api(model).async_call, model=model, what="image task", faults=faults, **call
        )
        if faults:
            params["faults"] = faults
        return Job(
            id=task_id,
            backend=self.name,
            model=model,
            kind="image",
            request=request.model_dump(mode="json"),
            params=params,
        )

    def _common(
        self, request: ImageRequest, *, negative: bool = True
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Arguments every call sends, and the params that record them; ``negative``: whether
        the model takes a negative prompt (the edit model and Wan 2.7 define none)."""
        call: dict[str, Any] = {"prompt": request.prompt, "n": 1}
        call.update(seed=dashscope_seed(request.seed), watermark=False)
        params = {
            "prompt": request.prompt,
            "negative_prompt": request.negative_prompt,
            "n": 1,
            "seed": call["seed"],
            "watermark": False,
            "requested_size": f"{request.width}*{request.height}",
        }
        if negative:
            call["negative_prompt"] = request.negative_prompt or None
        elif request.negative_prompt:
            params["negative_prompt_sent"] = "no: the model's API has no negative prompt"
        return call, params

    def _text_to_image(self, request: ImageRequest) -> tuple[dict, dict]:
        call, params = self._common(request)
        size = _size(T2I_MODELS[self.model], request, params)
        call.update(size=size, prompt_extend=False)
        params.update(mode="text-to-image", size=size, prompt_extend=False)
        return call, params

    def _with_references(self, request: ImageRequest) -> tuple[dict, dict]:
        call, params = self._common(request)
        images = [request.edit_source] if request.edit_source else []
        images = (images + list(request.references))[:MAX_REFERENCES]
        size = _size(REFERENCE_SIZE, request, params)
        call.update(images=[inline_image(p, REFERENCE_INPUT)[0] for p in images], size=size)
        # The reference documents prompt_extend for this model (its example sends true): off,
        # as for text-to-image, so the prompt judged is the prompt used.
        call["prompt_extend"] = False
        params.update(mode="references", size=size, images=images, prompt_extend=False)
        if request.reference_strength is not None:
            params["reference_strength"] = "not supported by the model; not sent"
        return call, params

    def _edit(self, request: ImageRequest) -> tuple[dict, dict]:
        # wanx2.1-imageedit defines function, prompt, base_image_url and mask_image_url in
        # input, no negative prompt (Alibaba "General image editing - Wan2.1" reference).
        call, params = self._common(request, negative=False)
        base, (bw, bh), source = inline_image(request.edit_source, EDIT_INPUT)
        call["base_image_url"] = base
        if request.edit_region:
            call["function"] = "description_edit_with_mask"
            call["mask_image_url"] = _mask(request.edit_region, source, (bw, bh))
            params["edit_region"] = list(request.edit_region)
        else:
            call["function"] = "description_edit"
        params.update(
            mode="edit",
            function=call["function"],
            edit_source=request.edit_source,
            size=f"{bw}*{bh}",
        )
        if request.references:
            params["references"] = "not used by a masked edit"
        return call, params

    def _messages(self, request: ImageRequest) -> tuple[dict, dict]:
        """A Wan 2.7 request: the prompt (worded for an edit or references) as the text item,
        then the image to edit and the references as image items, in that order."""
        call, params = self._common(request, negative=False)
        prompt = call.pop("prompt")
        edit = [request.edit_source] if request.edit_source else []
        references = list(request.references)[: MAX_MESSAGE_IMAGES - len(edit)]
        content: list[dict[str, str]] = [{"text": _wording(request, len(edit), len(references))}]
        if edit:
            content.append({"image": inline_image(edit[0], MESSAGE_EDIT_INPUT)[0]})
        content += [{"image": inline_image(p, REFERENCE_INPUT)[0]} for p in references]
        size = self._preset(request, images=bool(edit or references), params=params)
        call.update(messages=[{"role": "user", "content": content}], size=size)
        params.update(size=size, mode=_mode(request), images=[*edit, *references])
        params["references"] = references
        params["thinking_mode"] = "not sent: the service's default"
        if content[0]["text"] != prompt:
            params["text_sent"] = content[0]["text"]
        if len(references) < len(request.references):
            params["references_dropped"] = request.references[len(references) :]
        if request.edit_source:
            params["edit_source"] = request.edit_source
        if request.edit_region:
            params["edit_region"] = list(request.edit_region)
            params["mask"] = "not sent: the messages protocol takes none; the region is in words"
        if request.reference_strength is not None:
            params["reference_strength"] = "not supported by the model; not sent"
        return call, params

    def _preset(self, request: ImageRequest, *, images: bool, params: dict) -> str:
        """The smallest documented size whose long side covers the request's, else the
        largest the model makes for this call."""
        allowed = [
            name
            for name in PRESETS
            if name not in PRO_ONLY or (self.model == "wan2.7-image-pro" and not images)
        ]
        long_side = max(request.width, request.height)
        size = next((n for n in allowed if PRESETS[n] >= long_side), allowed[-1])
        params["size_note"] = (
            f"asked the model for {size} (a long side of {PRESETS[size]} px), the smallest "
            f"documented size that covers {request.width}*{request.height}; the result is "
            "scaled and cropped to the request"
        )
        return size

    # --- collect ------------------------------------------------------------------------

    def collect(self, job: Job, dest: Path) -> None:
        """Wait for the task, download its image and store it at the requested size. What
        came back (its size, the service's usage) is added to ``job.params``."""
        self.service.collect(job, Path(dest), self._fetch, backend=self.name, kind="image")

    def _fetch(self, job: Job, dest: Path, faults: list[dict]) -> None:
        rsp = self.service.wait(
            _api(job.model).fetch, job.id, model=job.model, what="image task", faults=faults
        )
        url = _result_url(self.service, rsp.output, job.id)
        request = ImageRequest.model_validate(job.request)
        dest.parent.mkdir(parents=True, exist_ok=True)
        raw = dest.with_name(f".{dest.name}.download")
        try:
            self.service.download(
                url, raw, max_bytes=self.max_result_bytes, what="image", faults=faults
            )
            delivered = _store(raw, dest, (request.width, request.height), job.id)
        finally:
            raw.unlink(missing_ok=True)
        job.params.update(_delivered(rsp, delivered, request))
        bill(job, dict(rsp.usage or {}), self.service.prices)


def _size(rule: SizeRule, request: ImageRequest, params: dict) -> str:
    w, h = rule.fit(request.width, request.height)
    if (w, h) != (request.width, request.height):
        params["size_note"] = (
            f"asked the model for {w}*{h}, the nearest size it makes to "
            f"{request.width}*{request.height}; the result is scaled and cropped to the request"
        )
    return f"{w}*{h}"


def _mask(region: list[int], source: tuple[int, int], sent: tuple[int, int]) -> str:
    """White where the model repaints, black where it keeps; the size of the image sent."""
    from PIL import Image, ImageDraw

    left, top, right, bottom = region
    sx, sy = sent[0] / source[0], sent[1] / source[1]
    box = (round(left * sx), round(top * sy), round(right * sx) - 1, round(bottom * sy) - 1)
    if box[2] < box[0] or box[3] < box[1]:
        raise InputError(f"Edit region {region} is empty.", "Give left, top, right, bottom.")
    mask = Image.new("RGB", sent, (0, 0, 0))
    ImageDraw.Draw(mask).rectangle(box, fill=(255, 255, 255))
    buffer = io.BytesIO()
    mask.save(buffer, format="PNG")
    return hosted.bytes_uri(buffer.getvalue(), "image/png")


def _api(model: str) -> Any:
    """The SDK class for a model's protocol: ImageGeneration (messages) for Wan 2.7,
    ImageSynthesis for the rest."""
    if model in MESSAGES_MODELS:
        from dashscope.aigc.image_generation import ImageGeneration

        return ImageGeneration
    from dashscope import ImageSynthesis

    return ImageSynthesis


def _mode(request: ImageRequest) -> str:
    if request.edit_region:
        return "region edit"
    if request.edit_source:
        return "edit"
    return "references" if request.references else "text-to-image"


def _wording(request: ImageRequest, edits: int, references: int) -> str:
    """The text item: the prompt, said as an edit of image 1 when there is one, and a line
    naming the reference images by their numbers."""
    from director.tools.llm.language import detect_language

    words = _templates()[detect_language(request.prompt)]
    text = request.prompt
    if request.edit_region and edits:
        text = words["region"].format(prompt=text, **_percent(request))
    elif edits:
        text = words["edit"].format(prompt=text)
    if references:
        first, last = edits + 1, edits + references
        which = (
            words["one"].format(n=first)
            if first == last
            else words["several"].format(first=first, last=last)
        )
        text += "\n" + words["references"].format(images=which)
    return text


def _percent(request: ImageRequest) -> dict[str, int]:
    """The region as whole percentages of the frame, which stay true however the image is
    scaled on the way."""
    left, top, right, bottom = request.edit_region
    w, h = request.width, request.height
    return {
        "left": int(100 * left / w),
        "top": int(100 * top / h),
        "right": min(100, -(-100 * right // w)),
        "bottom": min(100, -(-100 * bottom // h)),
    }


@cache
def _templates() -> dict[str, dict[str, str]]:
    return prompts.read_json("image", "wan27.json")


def _result_url(service: DashScope, output: Any, task_id: str) -> str:
    if output.get("choices") is not None:  # the messages protocol
        return _choice_url(service, output, task_id)
    results = output.get("results") or []
    first = results[0] if results else {}
    if first.get("url"):
        return str(first["url"])
    code = first.get("code") or "EmptyResult"
    raise service.task_failure(code, first.get("message") or "the task returned no image", task_id)


def _choice_url(service: DashScope, output: Any, task_id: str) -> str:
    """The first image of ``output.choices[].message.content[]``."""
    for choice in output.get("choices") or []:
        message = choice.get("message") or {}
        for item in message.get("content") or []:
            if isinstance(item, dict) and item.get("image"):
                return str(item["image"])
    code = output.get("code") or "EmptyResult"
    raise service.task_failure(code, output.get("message") or "the task returned no image", task_id)


def _store(raw: Path, dest: Path, size: tuple[int, int], task_id: str) -> tuple[int, int]:
    """The downloaded image as an RGB PNG of ``size`` at ``dest``; returns the size it had."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(raw) as img:
            delivered = img.size
            picture = img.convert("RGB")
    except (UnidentifiedImageError, OSError) as exc:
        raise GenerationFailed(
            f"DashScope task {task_id} returned a file that is not an image.",
            code="BadResult",
            task_id=task_id,
        ) from exc
    if delivered != size:
        picture = ImageOps.fit(picture, size, Image.Resampling.LANCZOS)
    with atomic_file(dest) as fh:
        picture.save(fh, format="PNG", compress_level=1)
    return delivered


def _delivered(rsp: Any, delivered: tuple[int, int], request: ImageRequest) -> dict:
    first = (rsp.output.get("results") or [{}])[0]
    found: dict[str, Any] = {"delivered_size": f"{delivered[0]}*{delivered[1]}"}
    if delivered != (request.width, request.height):
        found["resized_to"] = f"{request.width}*{request.height}"
    if first.get("actual_prompt") and first.get("actual_prompt") != request.prompt:
        found["actual_prompt"] = first["actual_prompt"]
    if rsp.usage:
        found["usage"] = dict(rsp.usage)
    return found
