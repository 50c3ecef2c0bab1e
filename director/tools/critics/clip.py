"""Prompt adherence and style consistency with CLIP (open_clip).

``prompt`` is the CLIPScore of the frame against its rendered prompt, with the score of each
content slot (subject, action, environment, camera) in ``details`` so the escalation ladder can
repair the weakest one. ``style`` is the cosine similarity of the frame's CLIP image embedding
to the style anchors' (the film's accepted look).

The model is loaded once per process for each architecture, weights file and device; text
embeddings are kept per string and anchor embeddings per file, and ``check_batch`` scores many
frames in one forward pass, their preprocessing spread over the CPU's cores. On a GPU the model
runs in half precision (bfloat16, else float16) with its layer norms in float32, as open_clip's
"bf16" precision and OpenAI's own CLIP do. Without weights (see ``clip_weights``) both checks
are reported as not run, naming where the weights were looked for; torch is then never
imported.
"""

from __future__ import annotations

import logging
import os
import warnings
import zipfile
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np

from director.errors import InputError, ToolMissing
from director.records import CheckResult, Shot
from director.text import is_chinese
from director.tools.base import Critic, CriticContext
from director.tools.critics.clip_weights import DEFAULT_MODEL, INSTALL, ClipSource, locate
from director.tools.critics.imaging import as_rgb, open_rgb, rgb
from director.tools.critics.registered import CriticSetup

DEFAULTS: dict[str, float] = {
    # CLIPScore = 2.5 * max(cos(image, text), 0) (Hessel et al. 2021, "CLIPScore"; the factor
    # 2.5 spreads OpenAI ViT-B/32's cosines over roughly 0-1). Images that match their text
    # measure cosines of about 0.25-0.35 with ViT-B/32 (DreamBooth's CLIP-T, Ruiz et al. 2023,
    # is 0.305: a CLIPScore of 0.76); the line is the low end, cosine 0.25. Not yet calibrated
    # on director's own frames.
    "min_clipscore": 0.625,
    # Mean cosine between CLIP image embeddings of the frame and each style anchor: DreamBooth's
    # CLIP-I (Ruiz et al. 2023), where photos of one subject score 0.885 and generated images of
    # it 0.78-0.81. A film's frames share a look rather than a subject, so the line sits below.
    "min_style": 0.70,
}

# CLIPScore's weight (Hessel et al. 2021, clipscore.py: w=2.5).
CLIPSCORE_W = 2.5
# The content slots scored one by one; the style slot is the same in every shot of a film.
SLOTS = ("subject", "action", "environment", "camera")
# Keys OpenAI's TorchScript checkpoints carry that are not weights.
TORCHSCRIPT_EXTRAS = ("input_resolution", "context_length", "vocab_size", "attn_mask")


def clip_score(cosine: float) -> float:
    return CLIPSCORE_W * max(float(cosine), 0.0)


@dataclass
class _Model:
    net: Any
    preprocess: Any
    tokenizer: Any
    device: str
    english_only: bool
    dtype: Any = None  # of the pixels the image tower takes: its weights'


class ClipCritic(Critic):
    name = "clip"
    checks = ("prompt", "style")
    defaults = DEFAULTS
    judges = ("keyframe",)
    model = DEFAULT_MODEL

    def __init__(
        self,
        model: str | None = None,
        weights: str | None = None,
        *,
        device: str | None = None,
        batch_size: int = 32,
        **thresholds: float,
    ) -> None:
        unknown = set(thresholds) - set(DEFAULTS)
        if unknown:
            raise TypeError(f"unknown thresholds {sorted(unknown)}; known: {sorted(DEFAULTS)}")
        self.thresholds = {**DEFAULTS, **thresholds}
        self.batch_size = max(1, batch_size)
        self.source = locate(model, weights)
        self.model = self.source.label
        self.unavailable = self._unavailable()
        # Loading here, not at the first frame, so a broken weights file stops a run up front.
        self._model = None if self.unavailable else load_model(self.source, device)
        self._texts: dict[str, np.ndarray] = {}
        self._anchors: dict[tuple[str, int, int], np.ndarray | None] = {}

    @classmethod
    def for_run(cls, setup: CriticSetup) -> ClipCritic:
        return cls(setup.clip_model, setup.clip_weights, **setup.thresholds_of(cls))

    def _unavailable(self) -> str | None:
        if self.source.weights is None:
            return self.source.missing()
        try:
            import open_clip  # noqa: F401
            import torch  # noqa: F401
        except ImportError as exc:
            if self.source.explicit:
                raise ToolMissing("The CLIP critic needs open_clip and torch.", INSTALL) from exc
            return f"CLIP weights found ({self.source.weights}) but open_clip is not installed"
        return None

    def check(self, image: Any, shot: Shot, context: CriticContext) -> list[CheckResult]:
        return self.check_batch([image], [shot], context)[0]

    def check_batch(
        self, images: Sequence[Any], shots: Sequence[Shot], context: CriticContext
    ) -> list[list[CheckResult]]:
        """The checks of every image against its shot: one forward pass for all the images,
        the texts and anchors not seen before."""
        if len(images) != len(shots):
            raise ValueError(f"{len(images)} images for {len(shots)} shots")
        if self._model is None or not images:
            return [self.not_run(f"not run: {self.unavailable}") for _ in images]
        frames = self.embed_images([as_rgb(image) for image in images])
        texts = self.embed_texts([t for s in shots for t in self._texts_of(s)])
        anchors = self._anchor_matrix(context.style_anchors)
        return [
            [self._prompt(frame, shot, texts), self._style(frame, context.style_anchors, anchors)]
            for frame, shot in zip(frames, shots, strict=True)
        ]

    # --- embeddings -----------------------------------------------------------------------

    def embed_images(self, images: Sequence[Any]) -> np.ndarray:
        """Unit-length CLIP embeddings of RGB images, one row each."""
        import torch

        m = self._loaded()
        rows = []
        with torch.inference_mode():
            # Every image is being preprocessed from here on: each forward pass starts as soon
            # as its images are ready, and runs on the GPU while the next ones are prepared.
            for batch in _batched(_preprocessed(m.preprocess, images), self.batch_size):
                pixels = torch.stack(batch).to(m.device, dtype=m.dtype)
                rows.append(m.net.encode_image(pixels).float())  # left on the device till all ran
        return _unit(torch.cat(rows).cpu().numpy())

    def embed_texts(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Unit-length CLIP embeddings of texts, computed once per string."""
        import torch

        m = self._loaded()
        new = [t for t in dict.fromkeys(texts) if t not in self._texts]
        with torch.inference_mode():
            for batch in _chunks(new, self.batch_size):
                tokens = m.tokenizer(batch).to(m.device)
                rows = _unit(m.net.encode_text(tokens).float().cpu().numpy())
                self._texts.update(zip(batch, rows, strict=True))
        return {t: self._texts[t] for t in texts}

    def _anchor_matrix(self, paths: Sequence[str]) -> np.ndarray | None:
        """Embeddings of the readable anchors, in order; unreadable ones are left out."""
        keys = [_file_key(p) for p in paths]
        todo = {k: open_rgb(k[0]) for k in dict.fromkeys(keys) if k not in self._anchors}
        readable = [k for k, im in todo.items() if im is not None]
        if readable:
            rows = self.embed_images([todo[k] for k in readable])
            self._anchors.update(zip(readable, rows, strict=True))
        self._anchors.update({k: None for k, im in todo.items() if im is None})
        found = [self._anchors[k] for k in keys if self._anchors[k] is not None]
        return np.stack(found) if found else None

    def _loaded(self) -> _Model:
        if self._model is None:
            raise ToolMissing(f"The CLIP critic cannot score: {self.unavailable}.", INSTALL)
        return self._model

    # --- checks ---------------------------------------------------------------------------

    def _texts_of(self, shot: Shot) -> list[str]:
        if self._skip_prompt(shot):
            return []
        slots = shot.prompt.slots()
        return [shot.prompt.render(), *(slots[s] for s in SLOTS if slots[s].strip())]

    def _skip_prompt(self, shot: Shot) -> str | None:
        if not shot.prompt.render().strip():
            return "not run: the shot has no prompt"
        if self._loaded().english_only and is_chinese(shot.prompt.subject + shot.prompt.action):
            return f"not run: the prompt is Chinese and {self.model} reads English only"
        return None

    def _prompt(self, frame: np.ndarray, shot: Shot, texts: dict[str, np.ndarray]) -> CheckResult:
        skipped = self._skip_prompt(shot)
        if skipped:
            return CheckResult.not_run("prompt", skipped)
        cosine = float(frame @ texts[shot.prompt.render()])
        slots = shot.prompt.slots()
        scores = {
            s: round(clip_score(frame @ texts[slots[s]]), 4) for s in SLOTS if slots[s].strip()
        }
        weakest = min(scores, key=scores.__getitem__) if scores else None
        value, limit = clip_score(cosine), self.thresholds["min_clipscore"]
        slot_note = f"; weakest slot {weakest} {scores[weakest]:.3f}" if weakest else ""
        return CheckResult.measured(
            "prompt",
            value,
            limit,
            f"CLIPScore {value:.3f} against the prompt (min {limit:.3f}, {self.model}){slot_note}",
            details={"cosine": round(cosine, 4), "slots": scores, "weakest": weakest},
        )

    def _style(
        self, frame: np.ndarray, paths: Sequence[str], anchors: np.ndarray | None
    ) -> CheckResult:
        if not paths:
            return CheckResult.not_run("style", "not run: no style anchor yet")
        if anchors is None:
            return CheckResult.not_run(
                "style", f"not run: none of the {len(paths)} anchors could be read"
            )
        similarity = anchors @ frame
        mean, best = float(similarity.mean()), float(similarity.max())
        limit = self.thresholds["min_style"]
        return CheckResult.measured(
            "style",
            mean,
            limit,
            f"CLIP image similarity to {len(similarity)} style anchor(s): mean {mean:.3f}, "
            f"best {best:.3f} (min {limit:.2f} on the mean, {self.model})",
            details={"mean": round(mean, 4), "best": round(best, 4), "anchors": len(similarity)},
        )


# --- loading ------------------------------------------------------------------------------


@lru_cache(maxsize=4)
def load_model(source: ClipSource, device: str | None = None) -> _Model:
    """Build the architecture, load the weights and move it to ``device`` (CUDA when there is
    one, else the CPU): in float32 on the CPU, in half precision on a GPU, where float32 would
    run the matrix units at a fraction of their rate. Once per process for each source and
    device."""
    torch, open_clip = _imports()
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    precision = _precision(torch, device)
    with _quiet():
        net = _build(open_clip, source, precision)
        _load_weights(torch, open_clip, net, source)
        tokenizer = open_clip.get_tokenizer(source.arch)
    from open_clip.model import get_input_dtype
    from open_clip.transform import PreprocessCfg, image_transform_v2

    preprocess = image_transform_v2(PreprocessCfg(**net.visual.preprocess_cfg), is_train=False)
    english = isinstance(tokenizer, open_clip.SimpleTokenizer)
    dtype = get_input_dtype(precision) or torch.float32
    return _Model(net.to(device).eval(), preprocess, tokenizer, device, english, dtype)


def _precision(torch: Any, device: str) -> str:
    """open_clip's name for the precision to run in on ``device``."""
    if not device.startswith("cuda"):
        return "fp32"
    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


def _imports():
    # director never downloads weights: whatever open_clip asks the Hub for comes from the cache.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import open_clip
        import torch
    except ImportError as exc:
        raise ToolMissing("The CLIP critic needs open_clip and torch.", INSTALL) from exc
    return torch, open_clip


def _build(open_clip: Any, source: ClipSource, precision: str = "fp32") -> Any:
    if source.config:
        # Registered again before each build: of two configs with one name, the last one wins.
        open_clip.add_model_config(source.config)
    try:
        return open_clip.create_model(
            source.arch,
            pretrained=None,
            load_weights=False,
            pretrained_text=False,
            force_quick_gelu=source.quick_gelu,
            force_preprocess_cfg=dict(source.preprocess) or None,
            precision=precision,
        )
    except Exception as exc:  # open_clip raises RuntimeError, ValueError, KeyError, OSError
        raise InputError(
            f"The CLIP model {source.label} cannot be built: {_summary(exc)}.",
            "Pass an open_clip architecture name or model config with --clip-model.",
        ) from exc


def _load_weights(torch: Any, open_clip: Any, net: Any, source: ClipSource) -> None:
    path = str(source.weights)
    try:
        if _is_torchscript(path):
            net.load_state_dict(_torchscript_state(torch, path, net), strict=True)
        else:
            open_clip.load_checkpoint(net, path, strict=True, weights_only=True)
    except Exception as exc:  # a corrupt or mismatched file fails in many ways
        message = f"The CLIP weights {path} cannot be loaded into {source.label}: {_summary(exc)}."
        if source.explicit:
            raise InputError(
                message, "Pass an open_clip weights file made for the --clip-model architecture."
            ) from exc
        raise ToolMissing(
            message, "The cached file may be incomplete: delete it, or pass --clip-weights."
        ) from exc


def _is_torchscript(path: str) -> bool:
    """OpenAI's own checkpoints (open_clip's ~/.cache/clip) are TorchScript archives."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(n.endswith("constants.pkl") or "/code/" in n for n in archive.namelist())


def _torchscript_state(torch: Any, path: str, net: Any) -> dict[str, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        state = torch.jit.load(path, map_location="cpu").state_dict()
    wanted = set(net.state_dict())
    return {k: v for k, v in state.items() if k in wanted or k not in TORCHSCRIPT_EXTRAS}


@contextmanager
def _quiet() -> Iterator[None]:
    """open_clip narrates through the root logger and would configure it on first use."""
    handlers, disabled = list(logging.root.handlers), logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(disabled)
        logging.root.handlers[:] = handlers


# --- helpers ------------------------------------------------------------------------------


def _preprocessed(preprocess: Any, images: Sequence[Any]) -> Iterator[Any]:
    """Each image resized, cropped and normalised, in order; several at once on the CPU's
    cores (PIL and torch release the interpreter lock while they work), all started at once."""
    if len(images) < 2:
        return iter([preprocess(rgb(im)) for im in images])
    return _pool().map(lambda im: preprocess(rgb(im)), images)


def _batched(items: Iterator[Any], size: int) -> Iterator[list[Any]]:
    while batch := list(islice(items, size)):
        yield batch


@lru_cache(maxsize=1)
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=min(16, os.cpu_count() or 1), thread_name_prefix="clip")


def _unit(rows: np.ndarray) -> np.ndarray:
    rows = rows.astype(np.float64)
    return rows / np.maximum(np.linalg.norm(rows, axis=-1, keepdims=True), 1e-12)


def _chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _file_key(path: str) -> tuple[str, int, int]:
    """An anchor is embedded again only when its file changes."""
    try:
        stat = Path(path).stat()
    except OSError:
        return (path, 0, -1)
    return (path, stat.st_mtime_ns, stat.st_size)


def _summary(exc: Exception, limit: int = 240) -> str:
    """An exception's message in whole sentences, at most ``limit`` characters, no final stop."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    # torch's refusal to unpickle anything but tensors is a page long; its cause is one line.
    _, marker, cause = text.partition("WeightsUnpickler error:")
    if marker:
        cause = cause.split(" Check the documentation")[0].strip()
        text = f"torch does not read it as plain weights ({cause})"
    sentences = text.split(". ")
    kept = sentences[0][:limit]
    for sentence in sentences[1:]:
        if len(kept) + len(sentence) + 2 > limit:
            break
        kept = f"{kept}. {sentence}"
    return kept.rstrip(".!")
