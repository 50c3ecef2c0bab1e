"""SDXL prompts longer than its text encoders' 77-token window, encoded whole.

diffusers cuts an SDXL prompt at 77 tokens (75 of text between the start and end tokens), and a
five-slot shot prompt runs to 150: the environment's end, the camera and the style slot would
never reach the model. Here a prompt that does not fit is split at its phrases (after commas)
into windows of at most 75 tokens, each window is encoded as diffusers encodes a short prompt,
and the windows' embeddings are joined along the sequence, which the UNet's cross-attention
reads at any length. The pooled embedding is the first window's, the one that holds the subject
(and a LoRA's trigger word, which leads the prompt). A prompt that fits is encoded exactly as
diffusers encodes it. Used for keyframes (``director.tools.image.diffusers_image``) and for the
captions and samples of LoRA training (``director.tools.lora.train``), so both read a prompt
alike.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

# Text tokens in one CLIP window, between its start and end tokens.
WINDOW = 75
# Where a long prompt may be split: after a comma, a Chinese comma or stop, or a semicolon.
PHRASE_END = re.compile(r"(?<=[,，、。;；])\s*")


def encode(pipe: Any, prompt: str, negative: str, guidance: float) -> dict[str, Any]:
    """The pipeline's embedding arguments for one image of ``prompt``. Without a negative prompt
    the negative embeddings are zeros (SDXL's force_zeros_for_empty_prompt); a negative prompt
    shorter than the prompt is padded with empty windows."""
    import torch

    parts = windows(pipe, prompt)
    if len(parts) == 1:
        return _encode(pipe, prompt, negative or None, guidance)
    negatives: list[str | None] = list(windows(pipe, negative)) if negative else []
    count = max(len(parts), len(negatives))
    parts += [""] * (count - len(parts))
    negatives += ["" if negative else None] * (count - len(negatives))
    encoded = [_encode(pipe, p, n, guidance) for p, n in zip(parts, negatives, strict=True)]
    joined = {
        key: torch.cat([e[key] for e in encoded], dim=1)
        for key in ("prompt_embeds", "negative_prompt_embeds")
        if encoded[0][key] is not None
    }
    return {**encoded[0], **joined}


def _encode(pipe: Any, prompt: str, negative: str | None, guidance: float) -> dict[str, Any]:
    pos, neg, pooled, neg_pooled = pipe.encode_prompt(
        prompt=prompt,
        device=pipe._execution_device,
        num_images_per_prompt=1,
        do_classifier_free_guidance=guidance > 1.0,
        negative_prompt=negative,
    )
    return {
        "prompt_embeds": pos,
        "negative_prompt_embeds": neg,
        "pooled_prompt_embeds": pooled,
        "negative_pooled_prompt_embeds": neg_pooled,
    }


def tokens(pipe: Any, text: str) -> int:
    """Text tokens of ``text``, by whichever of the two tokenizers reads more."""
    tokenizers = [t for t in (pipe.tokenizer, pipe.tokenizer_2) if t is not None]
    return max(len(t(text, add_special_tokens=False, verbose=False).input_ids) for t in tokenizers)


def windows(pipe: Any, prompt: str) -> list[str]:
    """The prompt as it is encoded: whole when it fits one window, else split at phrases."""
    count = lambda text: tokens(pipe, text)  # noqa: E731
    return [prompt] if count(prompt) <= WINDOW else split_prompt(prompt, count, WINDOW)


def split_prompt(text: str, tokens: Callable[[str], int], limit: int) -> list[str]:
    """``text`` in consecutive pieces of at most ``limit`` tokens, each as many whole phrases as
    fit; a phrase longer than the limit is split between words (a single word longer than it is
    left whole for the tokenizer to cut)."""
    pieces: list[str] = []
    for phrase in (p for p in PHRASE_END.split(text.strip()) if p):
        pieces += _pack(phrase.split(), tokens, limit) if tokens(phrase) > limit else [phrase]
    return _pack(pieces, tokens, limit)


def _pack(units: list[str], tokens: Callable[[str], int], limit: int) -> list[str]:
    """Consecutive units joined by spaces into as few strings of at most ``limit`` as they go."""
    packed: list[str] = []
    for unit in units:
        joined = f"{packed[-1]} {unit}" if packed else unit
        if packed and tokens(joined) <= limit:
            packed[-1] = joined
        else:
            packed.append(unit)
    return packed
