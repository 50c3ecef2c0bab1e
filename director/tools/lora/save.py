"""A trained LoRA as one ``.safetensors`` file in the layout kohya's trainers write, which
ComfyUI's ``LoraLoader`` and diffusers' ``load_lora_weights`` both read.

Each adapted UNet layer, named by its diffusers module path with every ``.`` written ``_``
under the ``lora_unet_`` prefix (ComfyUI's ``comfy/lora.py`` maps exactly these names onto the
UNet through ``unet_to_diffusers``; diffusers' kohya conversion maps them back), has three
tensors:

- ``<name>.lora_down.weight``: peft's ``lora_A``, shape (rank, in features);
- ``<name>.lora_up.weight``: peft's ``lora_B``, shape (out features, rank);
- ``<name>.alpha``: a scalar; the loaders scale the product by alpha / rank.

The file's metadata says what the weights are: kohya's ``ss_*`` keys and the model-spec
``modelspec.*`` keys that model browsers show, and director's own ``director.*`` keys (base
model, dataset hash).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from director.files import atomic_file

PREFIX = "lora_unet_"
PEFT_PARTS = {"lora_A": "lora_down", "lora_B": "lora_up"}
ARCHITECTURE = "stable-diffusion-xl-v1-base/lora"


def kohya_name(module_path: str) -> str:
    """``down_blocks.1.attentions.0...attn1.to_q`` -> ``lora_unet_down_blocks_1_..._attn1_to_q``."""
    return PREFIX + module_path.replace(".", "_")


def kohya_state(peft_state: dict[str, Any], alpha: float, dtype: Any = None) -> dict[str, Any]:
    """The peft adapter's tensors (``<module>.lora_A.weight``, ``<module>.lora_B.weight``)
    renamed to the kohya layout, with one alpha per module."""
    import torch

    out: dict[str, Any] = {}
    for key, tensor in peft_state.items():
        module, part, _ = key.rsplit(".", 2)
        name = kohya_name(module)
        value = tensor.detach().to("cpu", dtype or tensor.dtype).contiguous()
        out[f"{name}.{PEFT_PARTS[part]}.weight"] = value
        out[f"{name}.alpha"] = torch.tensor(float(alpha), dtype=value.dtype)
    return out


def metadata(record: dict[str, Any]) -> dict[str, str]:
    """The file's metadata, strings only (safetensors keeps no other kind)."""
    res = record["resolution"]
    return {
        "ss_network_module": "networks.lora",
        "ss_network_dim": str(record["rank"]),
        "ss_network_alpha": str(record["alpha"]),
        "ss_base_model_version": "sdxl_base_v1-0",
        "ss_sd_model_name": Path(record["base"]).name,
        "ss_steps": str(record["steps"]),
        "ss_learning_rate": str(record["lr"]),
        "ss_resolution": f"({res}, {res})",
        "ss_num_train_images": str(record["images"]),
        "ss_seed": str(record["seed"]),
        "modelspec.sai_model_spec": "1.0.0",
        "modelspec.architecture": ARCHITECTURE,
        "modelspec.implementation": "diffusers",
        "modelspec.title": record["trigger"],
        "modelspec.trigger_phrase": record["trigger"],
        "modelspec.resolution": f"{res}x{res}",
        "director.base_model": record["base"],
        "director.trigger": record["trigger"],
        "director.dataset_sha256": record["dataset_sha256"],
        "director.training": json.dumps(
            {k: record[k] for k in ("rank", "alpha", "steps", "lr", "resolution", "seed")}
        ),
    }


def write_lora(path: Path, peft_state: dict[str, Any], record: dict[str, Any]) -> Path:
    """The weights (half precision, as kohya's trainers save them) and their metadata, written
    whole or not at all."""
    import torch
    from safetensors.torch import save

    tensors = kohya_state(peft_state, record["alpha"], torch.float16)
    data = save(tensors, metadata=metadata(record))
    with atomic_file(path) as fh:
        fh.write(data)
    return path


def read_metadata(path: Path) -> dict[str, str]:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as fh:
        return dict(fh.metadata() or {})
