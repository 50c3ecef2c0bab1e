"""One LoRA training step of an SDXL UNet written with diffusers and peft alone, as their own
examples write it (train_text_to_image_lora_sdxl.py): no director code, the yardstick that
bench/lora_step.py holds director's step against.

Frozen UNet in bfloat16, LoRA weights in float32 on the attention projections, bfloat16
autocast, noise and timesteps drawn on the device, MSE on the noise, AdamW (bitsandbytes'
8-bit AdamW where it is installed, as director picks).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F


def setup(unet: Any, rank: int, lr: float, checkpointing: bool) -> tuple[Any, Any, str]:
    from peft import LoraConfig

    unet.requires_grad_(False)
    unet.add_adapter(
        LoraConfig(
            r=rank,
            lora_alpha=rank,
            init_lora_weights="gaussian",
            target_modules=["to_k", "to_q", "to_v", "to_out.0"],
        )
    )
    params = [p for p in unet.parameters() if p.requires_grad]
    for p in params:
        p.data = p.data.float()
    if checkpointing:
        unet.enable_gradient_checkpointing()
    unet.train()
    try:
        import bitsandbytes as bnb

        if not next(unet.parameters()).is_cuda:
            raise ImportError
        return unet, bnb.optim.AdamW8bit(params, lr=lr, weight_decay=1e-2), "AdamW 8-bit"
    except ImportError:
        return unet, torch.optim.AdamW(params, lr=lr, weight_decay=1e-2), "AdamW"


def step(unet: Any, optimizer: Any, scheduler: Any, inputs: dict[str, Any]) -> float:
    latents = inputs["latents"]
    noise = torch.randn_like(latents)
    t = torch.randint(0, scheduler.config.num_train_timesteps, (1,), device=latents.device)
    noisy = scheduler.add_noise(latents, noise, t)
    on_cuda = latents.is_cuda
    with torch.autocast(latents.device.type, torch.bfloat16, enabled=on_cuda):
        pred = unet(
            noisy,
            t,
            encoder_hidden_states=inputs["embeds"],
            added_cond_kwargs={"text_embeds": inputs["pooled"], "time_ids": inputs["time_ids"]},
            return_dict=False,
        )[0]
    loss = F.mse_loss(pred.float(), noise.float())
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return loss.item()
