"""Models at their published sizes with random weights, for timing director's local paths.

Nothing is downloaded. Each builder makes the real architecture (layer counts, widths, vocabulary
sizes) with random weights, so every matrix product, attention and convolution costs what it
costs with trained weights; only the pictures are noise. The tokenizers are the test suite's
small local ones (tests/diffusers_tiny.py): their ids index the real-size embedding tables, and
prompts are padded to the model's full length as with the real tokenizers.

- Stable Diffusion XL base (UNet 2.6 B parameters, CLIP ViT-L and OpenCLIP ViT-bigG text
  encoders, VAE), saved as a pipeline folder.
- Wan 2.1 text-to-video 1.3 B (transformer 1.4 B, UMT5-XXL text encoder 5.7 B, Wan VAE), saved
  as a pipeline folder.
- FLUX.1-dev (transformer 11.9 B, T5-XXL 4.8 B, CLIP ViT-L text, 16-channel VAE), built in
  memory only: its 33 GB would take longer to write and read back than to measure.
- CLIP ViT-L/14 (open_clip's ViT-L-14), saved as a weights file for the CLIP critic.
- A face pack for the insightface backend: ArcFace's IResNet-50 recogniser and a detector of
  SCRFD-10G's layout and size (ResNet backbone, PAFPN neck, three-convolution heads at strides
  8, 16 and 32, two anchors, keypoints), exported to ONNX. Random weights find no faces, so the
  detector's outputs are its computed ones times zero plus one fixed face: every image has one
  face at the same place, and detection, alignment and recognition all run as for a real one.

``scale`` makes the same builders small enough for a CPU (``bench/gpu.py --tiny``).
"""

from __future__ import annotations

import gc
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from tests.diffusers_tiny import clip_tokenizer, t5_tokenizer

# --- Stable Diffusion XL base -------------------------------------------------------------

UNET = dict(
    sample_size=128,
    in_channels=4,
    out_channels=4,
    layers_per_block=2,
    block_out_channels=(320, 640, 1280),
    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
    up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
    attention_head_dim=(5, 10, 20),
    transformer_layers_per_block=(1, 2, 10),
    cross_attention_dim=2048,
    use_linear_projection=True,
    addition_embed_type="text_time",
    addition_time_embed_dim=256,
    projection_class_embeddings_input_dim=2816,
    norm_num_groups=32,
)
VAE = dict(
    in_channels=3,
    out_channels=3,
    down_block_types=["DownEncoderBlock2D"] * 4,
    up_block_types=["UpDecoderBlock2D"] * 4,
    block_out_channels=[128, 256, 512, 512],
    layers_per_block=2,
    latent_channels=4,
    sample_size=1024,
    scaling_factor=0.13025,
    force_upcast=True,
)
# CLIP ViT-L/14 and OpenCLIP ViT-bigG/14 text towers; token ids come from the small tokenizer.
TEXT_COMMON = dict(vocab_size=49408, max_position_embeddings=77, bos_token_id=0, eos_token_id=1)
TEXT_L = dict(
    hidden_size=768,
    intermediate_size=3072,
    num_hidden_layers=12,
    num_attention_heads=12,
    hidden_act="quick_gelu",
    projection_dim=768,
)
TEXT_G = dict(
    hidden_size=1280,
    intermediate_size=5120,
    num_hidden_layers=32,
    num_attention_heads=20,
    hidden_act="gelu",
    projection_dim=1280,
)


def build_sdxl(folder: Path, dtype: torch.dtype, device: str = "cuda") -> dict[str, float]:
    """Random-weight SDXL base saved as a pipeline folder; returns parameter counts (billions)."""
    from diffusers import (
        AutoencoderKL,
        EulerDiscreteScheduler,
        StableDiffusionXLPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    torch.manual_seed(0)
    with torch.device(device):
        parts = dict(
            unet=UNet2DConditionModel(**UNET),
            vae=AutoencoderKL(**VAE),
            text_encoder=CLIPTextModel(CLIPTextConfig(**TEXT_COMMON, **TEXT_L)),
            text_encoder_2=CLIPTextModelWithProjection(CLIPTextConfig(**TEXT_COMMON, **TEXT_G)),
        )
    counts = billions(parts)
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        steps_offset=1,
        timestep_spacing="leading",
    )
    pipe = StableDiffusionXLPipeline(
        **parts, tokenizer=clip_tokenizer(), tokenizer_2=clip_tokenizer(), scheduler=scheduler
    )
    pipe.to(dtype)
    pipe.save_pretrained(folder)
    del pipe, parts
    release()
    return counts


# --- Wan 2.1 text-to-video 1.3B -----------------------------------------------------------

WAN_TRANSFORMER = dict(
    patch_size=(1, 2, 2),
    num_attention_heads=12,
    attention_head_dim=128,
    in_channels=16,
    out_channels=16,
    text_dim=4096,
    freq_dim=256,
    ffn_dim=8960,
    num_layers=30,
    cross_attn_norm=True,
    qk_norm="rms_norm_across_heads",
    eps=1e-6,
    rope_max_seq_len=1024,
)
# google/umt5-xxl's encoder: 24 layers of width 4096, a 256k-token vocabulary.
UMT5_XXL = dict(
    vocab_size=256384,
    d_model=4096,
    d_kv=64,
    d_ff=10240,
    num_layers=24,
    num_heads=64,
    relative_attention_num_buckets=32,
    relative_attention_max_distance=128,
    feed_forward_proj="gated-gelu",
    layer_norm_epsilon=1e-6,
    tie_word_embeddings=False,
    pad_token_id=0,
    eos_token_id=1,
    decoder_start_token_id=0,
)


def build_wan(folder: Path, dtype: torch.dtype, device: str = "cuda") -> dict[str, float]:
    """Random-weight Wan 2.1 T2V 1.3B saved as a pipeline folder (the VAE, which the backend
    loads in float32, is saved in ``dtype`` like the rest, as downloads are)."""
    from diffusers import (
        AutoencoderKLWan,
        UniPCMultistepScheduler,
        WanPipeline,
        WanTransformer3DModel,
    )
    from transformers import UMT5Config, UMT5EncoderModel

    torch.manual_seed(0)
    with torch.device(device):
        parts = dict(
            transformer=WanTransformer3DModel(**WAN_TRANSFORMER),
            text_encoder=UMT5EncoderModel(UMT5Config(**UMT5_XXL)),
            vae=AutoencoderKLWan(),
        )
    counts = billions(parts)
    for model in parts.values():
        model.to(dtype)
    # Wan 2.1's own scheduler and shift for 480p.
    scheduler = UniPCMultistepScheduler(
        prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0
    )
    WanPipeline(tokenizer=t5_tokenizer(), scheduler=scheduler, **parts).save_pretrained(folder)
    del parts
    release()
    return counts


# --- FLUX.1-dev ---------------------------------------------------------------------------

FLUX_TRANSFORMER = dict(
    patch_size=1,
    in_channels=64,
    num_layers=19,
    num_single_layers=38,
    attention_head_dim=128,
    num_attention_heads=24,
    joint_attention_dim=4096,
    pooled_projection_dim=768,
    guidance_embeds=True,
    axes_dims_rope=(16, 56, 56),
)
FLUX_VAE = dict(
    in_channels=3,
    out_channels=3,
    down_block_types=["DownEncoderBlock2D"] * 4,
    up_block_types=["UpDecoderBlock2D"] * 4,
    block_out_channels=[128, 256, 512, 512],
    layers_per_block=2,
    latent_channels=16,
    sample_size=1024,
    scaling_factor=0.3611,
    shift_factor=0.1159,
    use_quant_conv=False,
    use_post_quant_conv=False,
)
# google/t5-v1_1-xxl's encoder.
T5_XXL = dict(
    vocab_size=32128,
    d_model=4096,
    d_kv=64,
    d_ff=10240,
    num_layers=24,
    num_heads=64,
    feed_forward_proj="gated-gelu",
    layer_norm_epsilon=1e-6,
    tie_word_embeddings=False,
    pad_token_id=0,
    eos_token_id=1,
    decoder_start_token_id=0,
)


def flux_pipeline(dtype: torch.dtype, device: str = "cuda") -> tuple[Any, dict[str, float]]:
    """Random-weight FLUX.1-dev, built on the device directly in ``dtype`` (in float32 it would
    need 67 GB on the way)."""
    from diffusers import (
        AutoencoderKL,
        FlowMatchEulerDiscreteScheduler,
        FluxPipeline,
        FluxTransformer2DModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel

    torch.manual_seed(0)
    before = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            parts = dict(
                transformer=FluxTransformer2DModel(**FLUX_TRANSFORMER),
                text_encoder_2=T5EncoderModel(T5Config(**T5_XXL)),
                text_encoder=CLIPTextModel(CLIPTextConfig(**TEXT_COMMON, **TEXT_L)),
                vae=AutoencoderKL(**FLUX_VAE),
            )
    finally:
        torch.set_default_dtype(before)
    scheduler = FlowMatchEulerDiscreteScheduler(
        shift=3.0,
        use_dynamic_shifting=True,
        base_shift=0.5,
        max_shift=1.15,
        base_image_seq_len=256,
        max_image_seq_len=4096,
    )
    pipe = FluxPipeline(
        scheduler=scheduler, tokenizer=clip_tokenizer(), tokenizer_2=t5_tokenizer(), **parts
    )
    return pipe, billions(parts)


def save_index(pipe: Any, folder: Path) -> Path:
    """A folder holding only the pipeline's model_index.json: what a backend reads to know the
    pipeline's class before it loads anything."""
    folder.mkdir(parents=True, exist_ok=True)
    pipe.save_config(folder)
    return folder


# --- CLIP ViT-L/14 ------------------------------------------------------------------------

# The test suite's tiny open_clip model, for --tiny.
TINY_CLIP = {
    "embed_dim": 32,
    "quick_gelu": False,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 64, "head_width": 32, "patch_size": 8},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


def clip_model(folder: Path, tiny: bool = False) -> tuple[str, Path]:
    """(architecture for --clip-model, random weights file): open_clip's ViT-L-14, or a tiny
    model config written beside its weights."""
    import open_clip
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    arch = "ViT-L-14"
    if tiny:
        config = folder / "tiny-clip.json"
        config.write_text(json.dumps(TINY_CLIP))
        open_clip.add_model_config(config)
        arch = "tiny-clip"
    torch.manual_seed(0)
    state = open_clip.create_model(arch).state_dict()
    weights = folder / f"{arch}.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, weights)
    return (str(folder / "tiny-clip.json") if tiny else arch), weights


# --- the face pack ------------------------------------------------------------------------

# insightface's ArcFace template: eyes, nose tip, mouth corners in a 112 px crop.
ARCFACE = np.array(
    [[38.29, 51.70], [73.53, 51.50], [56.03, 71.74], [41.55, 92.37], [70.73, 92.20]],
    dtype=np.float32,
)
DETECTOR_SIDE = 640  # FaceAnalysis's default detection size
STRIDES = (8, 16, 32)
ANCHORS = 2
FACE = 128  # the fixed face's side in detector pixels
FACE_CELL = (10, 5)  # (column, row) of the stride-32 cell it sits on


def _conv(cin: int, cout: int, k: int = 3, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, stride, k // 2, bias=False)


def _wide(n: int, scale: float) -> int:
    return max(4, int(round(n * scale)))


class _IBlock(nn.Module):
    """insightface's IResNet block: BN, conv, BN, PReLU, conv (strided), BN, plus shortcut."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.BatchNorm2d(cin),
            _conv(cin, cout),
            nn.BatchNorm2d(cout),
            nn.PReLU(cout),
            _conv(cout, cout, stride=stride),
            nn.BatchNorm2d(cout),
        )
        same = stride == 1 and cin == cout
        self.short = (
            nn.Identity()
            if same
            else nn.Sequential(_conv(cin, cout, 1, stride), nn.BatchNorm2d(cout))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.short(x)


class IResNet(nn.Module):
    """ArcFace's recogniser (w600k_r50 is IResNet-50): 112x112 aligned crop -> 512-d embedding."""

    def __init__(self, scale: float = 1.0, layers=(3, 4, 14, 3)) -> None:
        super().__init__()
        widths = [_wide(w, scale) for w in (64, 128, 256, 512)]
        self.stem = nn.Sequential(_conv(3, widths[0]), nn.BatchNorm2d(widths[0]), nn.PReLU())
        blocks, cin = [], widths[0]
        for width, count in zip(widths, layers, strict=True):
            for i in range(count):
                blocks.append(_IBlock(cin, width, 2 if i == 0 else 1))
                cin = width
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Sequential(
            nn.BatchNorm2d(cin), nn.Flatten(), nn.Linear(cin * 7 * 7, 512), nn.BatchNorm1d(512)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)))


class _Basic(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _conv(cin, cout, stride=stride),
            nn.BatchNorm2d(cout),
            nn.ReLU(),
            _conv(cout, cout),
            nn.BatchNorm2d(cout),
        )
        same = stride == 1 and cin == cout
        self.short = (
            nn.Identity()
            if same
            else nn.Sequential(_conv(cin, cout, 1, stride), nn.BatchNorm2d(cout))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.short(x))


def _cbr(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(_conv(cin, cout, stride=stride), nn.BatchNorm2d(cout), nn.ReLU())


class ScrfdLike(nn.Module):
    """SCRFD-10G's layout: a ResNet-v1e backbone (stage blocks 3, 4, 2, 3; widths 56, 88, 88,
    224), a PAFPN neck of width 56 and per-level heads of three 80-wide convolutions, scoring
    two anchors per cell with boxes and five keypoints at strides 8, 16 and 32. Outputs are in
    the order and shapes insightface's SCRFD reads: nine (rows, n) tensors."""

    def __init__(self, scale: float = 1.0) -> None:
        super().__init__()
        w = [_wide(c, scale) for c in (28, 56, 88, 88, 224)]
        neck, feat = _wide(56, scale), _wide(80, scale)
        self.stem = nn.Sequential(
            _cbr(3, w[0], 2), _cbr(w[0], w[0]), _cbr(w[0], w[1]), nn.MaxPool2d(3, 2, 1)
        )
        self.stages = nn.ModuleList()
        cin = w[1]
        for width, count, stride in zip(w[1:], (3, 4, 2, 3), (1, 2, 2, 2), strict=True):
            blocks = [
                _Basic(cin if i == 0 else width, width, stride if i == 0 else 1)
                for i in range(count)
            ]
            self.stages.append(nn.Sequential(*blocks))
            cin = width
        self.lateral = nn.ModuleList(nn.Conv2d(c, neck, 1) for c in w[2:])
        self.smooth = nn.ModuleList(_cbr(neck, neck) for _ in STRIDES)
        self.down = nn.ModuleList(_cbr(neck, neck, 2) for _ in STRIDES[1:])
        self.out = nn.ModuleList(_cbr(neck, neck) for _ in STRIDES)
        self.heads = nn.ModuleList(
            nn.Sequential(_cbr(neck, feat), _cbr(feat, feat), _cbr(feat, feat)) for _ in STRIDES
        )
        self.score = nn.ModuleList(nn.Conv2d(feat, ANCHORS, 3, 1, 1) for _ in STRIDES)
        self.box = nn.ModuleList(nn.Conv2d(feat, ANCHORS * 4, 3, 1, 1) for _ in STRIDES)
        self.kps = nn.ModuleList(nn.Conv2d(feat, ANCHORS * 10, 3, 1, 1) for _ in STRIDES)
        for name, value in _fixed_face().items():
            self.register_buffer(name, value)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        features, h = [], self.stem(x)
        for i, stage in enumerate(self.stages):
            h = stage(h)
            if i >= 1:
                features.append(h)  # strides 8, 16, 32
        lat = [conv(f) for conv, f in zip(self.lateral, features, strict=True)]
        for i in (1, 0):  # top-down
            lat[i] = lat[i] + nn.functional.interpolate(lat[i + 1], size=lat[i].shape[-2:])
        td = [conv(f) for conv, f in zip(self.smooth, lat, strict=True)]
        bu = [td[0]]
        for i in (1, 2):  # bottom-up
            bu.append(td[i] + self.down[i - 1](bu[-1]))
        levels = [conv(f) for conv, f in zip(self.out, bu, strict=True)]
        scores, boxes, points = [], [], []
        for i, level in enumerate(levels):
            h = self.heads[i](level)
            s = torch.sigmoid(_rows(self.score[i](h), 1)) * 0  # random weights: no face found
            scores.append(s + getattr(self, f"score{STRIDES[i]}"))
            boxes.append(_rows(self.box[i](h), 4) * 0 + self.fixed_box)
            points.append(_rows(self.kps[i](h), 10) * 0 + self.fixed_kps)
        return (*scores, *boxes, *points)


def _rows(x: torch.Tensor, width: int) -> torch.Tensor:
    """(1, anchors * width, H, W) -> (H * W * anchors, width): rows by cell, then anchor."""
    return x.permute(0, 2, 3, 1).reshape(-1, width)


def _fixed_face() -> dict[str, torch.Tensor]:
    """One face on the stride-32 cell FACE_CELL: its score, and box and keypoint distances (in
    units of the stride, from each cell's top-left corner, as SCRFD predicts them)."""
    found = {}
    for stride in STRIDES:
        side = DETECTOR_SIDE // stride
        score = torch.zeros(side * side * ANCHORS, 1)
        if stride == 32:
            col, row = FACE_CELL
            score[(row * side + col) * ANCHORS] = 1.0
        found[f"score{stride}"] = score
    half, centre, stride = FACE / 2, 16.0, 32
    box = np.array([half - centre, half - centre, half + centre, half + centre]) / stride
    kps = (ARCFACE * FACE / 112 - half + centre).reshape(-1) / stride
    found["fixed_box"] = torch.tensor(box, dtype=torch.float32)[None]
    found["fixed_kps"] = torch.tensor(kps, dtype=torch.float32)[None]
    return found


def face_nets(scale: float = 1.0) -> tuple[nn.Module, nn.Module]:
    """(detector, recogniser), in eval mode with random weights."""
    torch.manual_seed(0)
    layers = (3, 4, 14, 3) if scale >= 1 else (1, 1, 1, 1)
    return ScrfdLike(scale).eval(), IResNet(scale, layers).eval()


def face_pack(root: Path, pack: str = "buffalo_l", scale: float = 1.0) -> dict[str, float]:
    """The two networks exported to ONNX in ``root/models/pack``; returns their GFLOPs (one
    640x640 detection, one 112x112 recognition)."""
    folder = root / "models" / pack
    folder.mkdir(parents=True, exist_ok=True)
    detector, recogniser = face_nets(scale)
    image = torch.rand(1, 3, DETECTOR_SIDE, DETECTOR_SIDE)
    crop = torch.rand(1, 3, 112, 112)
    names = [f"{kind}_{s}" for kind in ("score", "bbox", "kps") for s in STRIDES]
    with torch.no_grad():
        torch.onnx.export(
            detector, (image,), str(folder / "det_10g.onnx"), input_names=["input.1"],
            output_names=names, opset_version=17, dynamo=False,
        )  # fmt: skip
        torch.onnx.export(
            recogniser, (crop,), str(folder / "w600k_r50.onnx"), input_names=["data"],
            output_names=["fc1"], dynamic_axes={"data": {0: "N"}, "fc1": {0: "N"}},
            opset_version=17, dynamo=False,
        )  # fmt: skip
    return {
        "detector_gflops": gflops(detector, image),
        "recogniser_gflops": gflops(recogniser, crop),
    }


def gflops(model: nn.Module, x: torch.Tensor) -> float:
    """Multiply-adds of the convolutions and linear layers, times two."""
    total = [0]

    def count(module, _inputs, output):
        if isinstance(module, nn.Conv2d):
            k = module.kernel_size[0] * module.kernel_size[1] * module.in_channels
            total[0] += output.numel() * k // module.groups
        elif isinstance(module, nn.Linear):
            total[0] += output.numel() * module.in_features

    hooks = [m.register_forward_hook(count) for m in model.modules()]
    with torch.no_grad():
        model(x)
    for hook in hooks:
        hook.remove()
    return round(2 * total[0] / 1e9, 2)


# --- helpers ------------------------------------------------------------------------------


def billions(parts: dict[str, nn.Module]) -> dict[str, float]:
    return {k: round(sum(p.numel() for p in m.parameters()) / 1e9, 3) for k, m in parts.items()}


def release() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
