"""Keyframes from OpenAI's GPT image models (``--image openai``, which is ``gpt-image-1.5``, or
``--image openai:MODEL``) through ``openai``.

A plain request is a generation; a request with reference images (the ladder's references
rung) or an image to repaint (its edit rung) goes to the edit endpoint, the image to repaint
first, with a mask that opens only the region to repaint. The models draw at a few fixed sizes:
the request is drawn at the nearest aspect and then scaled and centre-cropped to the size asked
for; an image to repaint is padded (not cropped) to the model's size so the region maps back
exactly, and only the region is taken from the result. Results come back base64-encoded.

The API is synchronous and has no task id: the image is in the answer to the call. So
``submit`` records the request and returns at once, and ``collect`` makes the call (and pays).
That keeps the graph's order (the job is logged before any wait) and keeps the Job small and
JSON-only. Collecting a job again makes a new image and pays again, so a resumed run never does
it for an image already in the run folder (the graph's job ledger takes the logged attempt);
only a call that a crash cut off, whose answer never reached the disk, is made again.

The API takes no seed: the request's seed is recorded, not sent, and two calls with one prompt
give two different images. It takes no negative prompt either: the negatives are appended to the
prompt as an instruction.
"""

from __future__ import annotations

import base64
import binascii
import io
import math
import uuid
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFilter, UnidentifiedImageError

from director.errors import BackendError, GenerationFailed, InputError, ProviderError
from director.tools.base import ImageBackend, ImageRequest, Job
from director.tools.image.previz import write_png
from director.tools.openai_client import (
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT_S,
    failure,
    make_client,
    openai_endpoint,
)
from director.tools.pricing import PriceTable, bill, charge
from director.tools.providers import ProviderSettings, settings

# OpenAI retired gpt-image-1 on 2026-10-23; it is still sent when named (--image
# openai:gpt-image-1), for servers that keep it.
MODEL = "gpt-image-1.5"
# The sizes GPT image models draw at (the API's "auto" picks one of these itself).
SIZES: tuple[tuple[int, int], ...] = ((1024, 1024), (1536, 1024), (1024, 1536))
QUALITIES = ("low", "medium", "high", "auto")
# Models that take input_fidelity high (how closely an edit keeps the input images' details);
# gpt-image-1-mini takes only low, which is the default, and gpt-image-2 none.
FIDELITY_MODELS = {"gpt-image-1", "gpt-image-1.5"}
HIGH_FIDELITY_FROM = 0.5
MAX_REFERENCES = 15  # the edit endpoint takes 16 images; the first may be the one to repaint
FEATHER = 0.04  # of the region's shorter side: the seam of a repaint, softened
SEED_NOTE = "not sent: the OpenAI images API takes no seed"


class OpenAIImage(ImageBackend):
    """Generates and edits keyframes with a GPT image model."""

    name = "openai"
    model = MODEL
    accepts_references = True
    edits = True

    def __init__(
        self,
        model: str = MODEL,
        *,
        quality: str = "medium",
        max_retries: int = DEFAULT_RETRIES,
        timeout: float = DEFAULT_TIMEOUT_S,
        provider_settings: ProviderSettings | None = None,
        prices: PriceTable | None = None,
    ) -> None:
        if quality not in QUALITIES:
            raise InputError(f"Unknown image quality {quality!r}.", f"Use one of: {QUALITIES}.")
        self.model = model
        self.quality = quality
        self.max_retries = max_retries
        # The run's price table (the config file's [prices] on the packaged one); none: packaged.
        self.prices = prices
        found = provider_settings or settings("openai")
        self.endpoint = openai_endpoint(found)
        self._client = make_client(self.endpoint, max_retries=max_retries, timeout=timeout)

    def estimate(self, request: ImageRequest) -> float:
        from director.tools.pricing import estimate

        size = _size_text(api_size(request.width, request.height))
        usd = estimate(
            "openai", self.model, "image", quality=self.quality, size=size, table=self.prices
        )
        return usd or 0.0

    def submit(self, request: ImageRequest) -> Job:
        if request.width <= 0 or request.height <= 0:
            raise InputError(
                f"Cannot draw a {request.width}x{request.height} image.",
                "Ask for a positive width and height.",
            )
        drawn = api_size(request.width, request.height)
        mode = "edit" if request.edit_source else "references" if request.references else "generate"
        params: dict[str, Any] = {
            "endpoint": "images/generations" if mode == "generate" else "images/edits",
            "mode": mode,
            "size": _size_text(drawn),
            "width": request.width,
            "height": request.height,
            "fit": "padded, region composited" if mode == "edit" else "scaled and centre-cropped",
            "quality": self.quality,
            "n": 1,
            "seed": request.seed,
            "seed_sent": False,
            "seed_note": SEED_NOTE,
        }
        if mode != "generate":
            params["references"] = len(request.references[:MAX_REFERENCES])
            params["mask"] = bool(request.edit_source and request.edit_region)
            if fidelity := self._fidelity(request):
                params["input_fidelity"] = fidelity
        return Job(
            id=f"openai-{uuid.uuid4().hex[:20]}",
            backend=self.name,
            model=self.model,
            kind="image",
            request=request.model_dump(mode="json"),
            params=params,
        )

    def collect(self, job: Job, dest: Path) -> None:
        if job.backend != self.name:
            raise BackendError(
                f"Job {job.id} belongs to the {job.backend!r} backend, not openai.",
                f"Collect it with the {job.backend!r} image backend.",
            )
        request = ImageRequest.model_validate(job.request)
        drawn = _parse_size(job.params["size"])
        refs = [_png(_load(p, "reference image")) for p in request.references[:MAX_REFERENCES]]
        if job.params["mode"] == "edit":
            source = _load(request.edit_source or "", "image to repaint")
            box = _contain(source.size, drawn)
            mask = _mask(source, box, drawn, request) if job.params.get("mask") else None
            response = self._call(job, request, [_png(_pad(source, drawn, box)), *refs], mask)
            image = _composite(source, self._image(response, job), box, request)
        else:
            response = self._call(job, request, refs, None)
            image = _cover(self._image(response, job), request.width, request.height)
        write_png(image, Path(dest))
        self._bill(job, response)

    # --- the call --------------------------------------------------------------------------

    def _call(
        self, job: Job, request: ImageRequest, images: list[bytes], mask: bytes | None
    ) -> Any:
        import openai

        common = {
            "model": job.model,
            "prompt": _prompt(request),
            "size": job.params["size"],
            "quality": job.params["quality"],
            "n": 1,
        }
        # The SDK's own retries would send a request again after its answer was lost, and
        # OpenAI's image API has no way to ask whether it was made: director retries only
        # what never reached the service, or what it refused.
        client = self._client.with_options(max_retries=0)
        try:
            if job.params["mode"] == "generate":
                return _sent_once(lambda: client.images.generate(**common), self.max_retries)
            extra: dict[str, Any] = {}
            if mask is not None:
                extra["mask"] = ("mask.png", mask, "image/png")
            if "input_fidelity" in job.params:
                extra["input_fidelity"] = job.params["input_fidelity"]
            files = [(f"image{i}.png", data, "image/png") for i, data in enumerate(images)]
            return _sent_once(
                lambda: client.images.edit(image=files, **common, **extra), self.max_retries
            )
        except _AnswerLost as lost:
            raise ProviderError(
                f"The answer to OpenAI's image request for job {job.id} was lost after it was "
                f"sent ({lost}): the image may have been made and billed, and OpenAI offers no "
                "way to look it up, so director does not send it again by itself.",
                "Resume the run (director resume RUN) to make the shot anew, or check the "
                "network first.",
            ) from None
        except openai.APIError as exc:
            raise failure(
                exc,
                self.endpoint,
                model=job.model,
                what="image request",
                spec=self.name,
                retries=self.max_retries,
                task_id=job.id,
            ) from None

    def _fidelity(self, request: ImageRequest) -> str | None:
        if self.model not in FIDELITY_MODELS or request.reference_strength is None:
            return None
        return "high" if request.reference_strength >= HIGH_FIDELITY_FROM else "low"

    def _image(self, response: Any, job: Job) -> Image.Image:
        data = getattr(response, "data", None) or []
        encoded = getattr(data[0], "b64_json", None) if data else None
        if not encoded:
            raise GenerationFailed(
                f"OpenAI returned no image for job {job.id}.",
                "The ladder tries again.",
                code="empty_result",
                task_id=job.id,
            )
        try:
            with Image.open(io.BytesIO(base64.b64decode(encoded, validate=True))) as img:
                return img.convert("RGB")
        except (binascii.Error, UnidentifiedImageError, OSError) as exc:
            raise GenerationFailed(
                f"OpenAI returned an image that cannot be read for job {job.id} ({exc}).",
                "The ladder tries again.",
                code="bad_image",
                task_id=job.id,
            ) from None

    def _bill(self, job: Job, response: Any) -> None:
        usage = getattr(response, "usage", None)
        details = getattr(usage, "input_tokens_details", None)
        billed = {
            "count": len(getattr(response, "data", None) or []),
            "quality": getattr(response, "quality", None) or job.params["quality"],
            "size": getattr(response, "size", None) or job.params["size"],
            "input_tokens_details": {
                "text_tokens": int(getattr(details, "text_tokens", 0) or 0),
                "image_tokens": int(getattr(details, "image_tokens", 0) or 0),
            },
        }
        charge(job, bill(self.name, job.model, billed, table=self.prices))
        if usage is not None:
            job.params["usage"] = {
                "input_tokens": int(getattr(usage, "input_tokens", 0) or 0),
                "output_tokens": int(getattr(usage, "output_tokens", 0) or 0),
            }


class _AnswerLost(Exception):
    """A request reached the service, and its answer did not come back."""


# httpx exceptions raised before a request could reach the service: safe to send again.
_NOT_SENT = ("ConnectError", "ConnectTimeout", "PoolTimeout", "WriteTimeout", "WriteError")


def _sent_once(call: Any, retries: int, sleep: Any = None) -> Any:
    """``call()``, tried again on throttling, server errors and connections that never
    reached the service; a request whose answer was lost raises _AnswerLost instead."""
    import time

    import openai

    for attempt in range(retries + 1):
        delay = min(8.0, 0.5 * 2**attempt)
        try:
            return call()
        except (openai.RateLimitError, openai.InternalServerError) as exc:
            if attempt == retries:
                raise
            delay = _retry_after(exc, delay)
        except openai.APIConnectionError as exc:  # APITimeoutError is one too
            cause = type(exc.__cause__).__name__ if exc.__cause__ else ""
            if cause not in _NOT_SENT:
                raise _AnswerLost(cause or type(exc).__name__) from exc
            if attempt == retries:
                raise
        (sleep or time.sleep)(delay)
    raise AssertionError("unreachable")


def _retry_after(exc: Any, default: float) -> float:
    """The wait the service asked for (Retry-After, in seconds, up to a minute)."""
    try:
        asked = float(exc.response.headers.get("retry-after"))
    except (AttributeError, TypeError, ValueError):
        return default
    return asked if 0 <= asked <= 60 else default


# --- sizes and fitting -------------------------------------------------------------------------


def api_size(width: int, height: int) -> tuple[int, int]:
    """The drawing size whose aspect is nearest the request's."""
    want = math.log(width / height)
    return min(SIZES, key=lambda s: (abs(math.log(s[0] / s[1]) - want), -s[0] * s[1]))


def _size_text(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


def _parse_size(text: str) -> tuple[int, int]:
    w, _, h = text.partition("x")
    return int(w), int(h)


def _cover(image: Image.Image, width: int, height: int) -> Image.Image:
    """Scaled to cover width x height, centre-cropped to it."""
    scale = max(width / image.width, height / image.height)
    size = (max(width, round(image.width * scale)), max(height, round(image.height * scale)))
    image = image.resize(size, Image.Resampling.LANCZOS)
    left, top = (size[0] - width) // 2, (size[1] - height) // 2
    return image.crop((left, top, left + width, top + height))


def _contain(source: tuple[int, int], canvas: tuple[int, int]) -> tuple[int, int, int, int]:
    """Where ``source`` sits inside ``canvas`` when scaled to fit whole: left, top, w, h."""
    scale = min(canvas[0] / source[0], canvas[1] / source[1])
    w, h = round(source[0] * scale), round(source[1] * scale)
    return (canvas[0] - w) // 2, (canvas[1] - h) // 2, w, h


def _pad(source: Image.Image, canvas: tuple[int, int], box) -> Image.Image:
    left, top, w, h = box
    # The padding takes the picture's mean colour, which the model reads as plain margin.
    mean = source.resize((1, 1), Image.Resampling.BOX).getpixel((0, 0))
    padded = Image.new("RGB", canvas, mean)
    padded.paste(source.resize((w, h), Image.Resampling.LANCZOS), (left, top))
    return padded


def _region(request: ImageRequest, source: Image.Image) -> tuple[float, float, float, float]:
    """The region to repaint in the source's pixels (the request gives it in frame pixels)."""
    left, top, right, bottom = request.edit_region or (0, 0, request.width, request.height)
    sx, sy = source.width / request.width, source.height / request.height
    return left * sx, top * sy, right * sx, bottom * sy


def _mask(source: Image.Image, box, canvas: tuple[int, int], request: ImageRequest) -> bytes:
    """OpenAI's mask: the model's size, opaque where the image stays, clear where it repaints."""
    left, top, w, _ = box
    scale = w / source.width
    x0, y0, x1, y1 = _region(request, source)
    mask = Image.new("RGBA", canvas, (0, 0, 0, 255))
    area = (left + x0 * scale, top + y0 * scale, left + x1 * scale, top + y1 * scale)
    ImageDraw.Draw(mask).rectangle(area, fill=(0, 0, 0, 0))
    return _png(mask)


def _composite(source: Image.Image, edited: Image.Image, box, request: ImageRequest):
    """The source with only the region taken from the edit, the seam feathered, at the
    request's size."""
    left, top, w, h = box
    content = edited.crop((left, top, left + w, top + h)).resize(
        source.size, Image.Resampling.LANCZOS
    )
    x0, y0, x1, y1 = _region(request, source)
    alpha = Image.new("L", source.size, 0)
    ImageDraw.Draw(alpha).rectangle((x0, y0, x1, y1), fill=255)
    radius = max(1.0, FEATHER * min(x1 - x0, y1 - y0))
    merged = Image.composite(content, source, alpha.filter(ImageFilter.GaussianBlur(radius)))
    if merged.size != (request.width, request.height):
        merged = _cover(merged, request.width, request.height)
    return merged


# --- files and prompts -------------------------------------------------------------------------


def _load(path: str, what: str) -> Image.Image:
    try:
        with Image.open(path) as img:
            return img.convert("RGB")
    except (FileNotFoundError, UnidentifiedImageError, OSError) as exc:
        raise InputError(
            f"Cannot read the {what} {path!r} ({type(exc).__name__}).",
            "Check that the file exists and is an image.",
        ) from None


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _prompt(request: ImageRequest) -> str:
    negative = request.negative_prompt.strip()
    return f"{request.prompt}\nAvoid: {negative}." if negative else request.prompt
