"""Tiny random-weight diffusers pipelines, built from components and saved like a download.

The component sizes are those of diffusers' own pipeline tests; the tokenizers are built here
from a small vocabulary instead of being fetched, so nothing touches the network.
"""

from __future__ import annotations

from pathlib import Path

import torch

WORDS = [
    "a",
    "woman",
    "man",
    "cat",
    "dog",
    "red",
    "blue",
    "green",
    "coat",
    "in",
    "the",
    "rain",
    "city",
    "garden",
    "night",
    "dawn",
    "portrait",
    "film",
    "still",
    "walks",
    "kneels",
]
LETTERS = "abcdefghijklmnopqrstuvwxyz"
CLIP_TEXT = dict(
    bos_token_id=0,
    eos_token_id=1,
    pad_token_id=1,
    hidden_size=32,
    intermediate_size=37,
    layer_norm_eps=1e-5,
    num_attention_heads=4,
    num_hidden_layers=5,
    vocab_size=1000,
    hidden_act="gelu",
    projection_dim=32,
)


def clip_tokenizer():
    """A byte-pair CLIP tokenizer whose merges spell out WORDS."""
    from transformers import CLIPTokenizer

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for c in LETTERS:
        vocab.setdefault(c, len(vocab))
        vocab.setdefault(c + "</w>", len(vocab))
    merges: list[tuple[str, str]] = []
    for word in WORDS:
        parts = [*word[:-1], word[-1] + "</w>"]
        while len(parts) > 1:
            merges.append((parts[0], parts[1]))
            parts = [parts[0] + parts[1], *parts[2:]]
            vocab.setdefault(parts[0], len(vocab))
    return CLIPTokenizer(vocab=vocab, merges=list(dict.fromkeys(merges)), model_max_length=77)


def t5_tokenizer():
    """A unigram T5 tokenizer over WORDS and single letters."""
    from transformers import T5Tokenizer

    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("\u2581", -2.0)]
    pieces += [("\u2581" + w, -1.0) for w in WORDS] + [(c, -5.0) for c in LETTERS]
    return T5Tokenizer(vocab=pieces, extra_ids=0)


def t5_config(cls):
    return cls(
        vocab_size=64,
        d_model=32,
        d_kv=8,
        d_ff=37,
        num_layers=2,
        num_heads=4,
        pad_token_id=0,
        eos_token_id=1,
        decoder_start_token_id=0,
    )


def sdxl(dest: Path) -> Path:
    from diffusers import (
        AutoencoderKL,
        EulerDiscreteScheduler,
        StableDiffusionXLPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(2, 4),
        layers_per_block=2,
        sample_size=32,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        transformer_layers_per_block=(1, 2),
        projection_class_embeddings_input_dim=80,
        cross_attention_dim=64,
        norm_num_groups=1,
    )
    vae = AutoencoderKL(
        block_out_channels=[32, 64],
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * 2,
        up_block_types=["UpDecoderBlock2D"] * 2,
        latent_channels=4,
        sample_size=128,
    )
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        steps_offset=1,
        beta_schedule="scaled_linear",
        timestep_spacing="leading",
    )
    pipe = StableDiffusionXLPipeline(
        vae=vae,
        text_encoder=CLIPTextModel(CLIPTextConfig(**CLIP_TEXT)),
        text_encoder_2=CLIPTextModelWithProjection(CLIPTextConfig(**CLIP_TEXT)),
        tokenizer=clip_tokenizer(),
        tokenizer_2=clip_tokenizer(),
        unet=unet,
        scheduler=scheduler,
    )
    pipe.save_pretrained(dest)
    return dest


def flux(dest: Path) -> Path:
    from diffusers import (
        AutoencoderKL,
        FlowMatchEulerDiscreteScheduler,
        FluxPipeline,
        FluxTransformer2DModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel

    torch.manual_seed(0)
    transformer = FluxTransformer2DModel(
        patch_size=1,
        in_channels=4,
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=32,
        pooled_projection_dim=32,
        axes_dims_rope=[4, 4, 8],
    )
    vae = AutoencoderKL(
        sample_size=32,
        in_channels=3,
        out_channels=3,
        block_out_channels=(4,),
        layers_per_block=1,
        latent_channels=1,
        norm_num_groups=1,
        use_quant_conv=False,
        use_post_quant_conv=False,
        shift_factor=0.0609,
        scaling_factor=1.5035,
    )
    pipe = FluxPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(),
        vae=vae,
        text_encoder=CLIPTextModel(CLIPTextConfig(**CLIP_TEXT)),
        tokenizer=clip_tokenizer(),
        text_encoder_2=T5EncoderModel(t5_config(T5Config)),
        tokenizer_2=t5_tokenizer(),
        transformer=transformer,
    )
    pipe.save_pretrained(dest)
    return dest


def wan(dest: Path, *, image_to_video: bool) -> Path:
    from diffusers import (
        AutoencoderKLWan,
        FlowMatchEulerDiscreteScheduler,
        WanImageToVideoPipeline,
        WanPipeline,
        WanTransformer3DModel,
    )
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        CLIPVisionModel,
        UMT5Config,
        UMT5EncoderModel,
    )

    torch.manual_seed(0)
    parts = dict(
        vae=AutoencoderKLWan(
            base_dim=3,
            z_dim=16,
            dim_mult=[1, 1, 1, 1],
            num_res_blocks=1,
            temperal_downsample=[False, True, True],
        ),
        text_encoder=UMT5EncoderModel(t5_config(UMT5Config)),
        tokenizer=t5_tokenizer(),
        scheduler=FlowMatchEulerDiscreteScheduler(shift=7.0),
        transformer=WanTransformer3DModel(
            patch_size=(1, 2, 2),
            num_attention_heads=2,
            attention_head_dim=12,
            in_channels=36 if image_to_video else 16,
            out_channels=16,
            text_dim=32,
            freq_dim=256,
            ffn_dim=32,
            num_layers=2,
            cross_attn_norm=True,
            qk_norm="rms_norm_across_heads",
            rope_max_seq_len=32,
            **({"image_dim": 4} if image_to_video else {}),
        ),
        transformer_2=None,
    )
    if image_to_video:
        vision = CLIPVisionConfig(
            hidden_size=4,
            projection_dim=4,
            num_hidden_layers=2,
            num_attention_heads=2,
            image_size=32,
            intermediate_size=16,
            patch_size=1,
        )
        parts["image_encoder"] = CLIPVisionModel(vision)
        parts["image_processor"] = CLIPImageProcessor(crop_size=32, size=32)
        WanImageToVideoPipeline(**parts).save_pretrained(dest)
    else:
        WanPipeline(**parts).save_pretrained(dest)
    return dest


def lora(pipe_class, model, dest: Path) -> Path:
    """A random (not zero-initialised) LoRA on ``model``'s attention, saved as the pipeline
    saves trained ones."""
    from peft import LoraConfig, get_peft_model_state_dict

    torch.manual_seed(1)
    config = LoraConfig(
        r=4,
        lora_alpha=64,
        target_modules=["to_q", "to_k", "to_v", "to_out.0"],
        init_lora_weights=False,
    )
    model.add_adapter(config)
    layers = get_peft_model_state_dict(model)
    key = "unet" if type(model).__name__.startswith("UNet") else "transformer"
    # The adapter's metadata carries lora_alpha; without it the loader assumes alpha = rank.
    pipe_class.save_lora_weights(
        dest,
        **{f"{key}_lora_layers": layers, f"{key}_lora_adapter_metadata": config.to_dict()},
    )
    return dest / "pytorch_lora_weights.safetensors"
