"""Where director's values go in ComfyUI workflows: the built-in workflows, hand-built user
graphs in API format the way ComfyUI exports them, ``director:<role>`` titles, the style LoRA,
loading workflow files, and what a server lacks (against the fake ComfyUI's node schemas)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from director.errors import InputError, ProviderError
from director.tools.comfyui import graph as graphs
from director.tools.comfyui import workflow as workflows
from director.tools.comfyui.graph import Slot
from director.tools.comfyui.ui_format import API_HINT
from tests.fakes.comfyui_server import FakeComfyUI

Graph = dict[str, dict[str, Any]]


def node(class_type: str, title: str = "", **inputs: Any) -> dict[str, Any]:
    """One API-format node; a link is written ``("id", index)`` and stored as a JSON list."""
    values = {k: list(v) if isinstance(v, tuple) else v for k, v in inputs.items()}
    return {"inputs": values, "class_type": class_type, "_meta": {"title": title or class_type}}


def roles_of(graph: Graph) -> graphs.Roles:
    graphs.check_api_format(graph, "test.json")
    return graphs.find_roles(graph, "test.json")


def builtin(name: str) -> workflows.Workflow:
    return workflows.load(name, workflows.BUILTINS[name])


def sampler(seed_link: Any = 0, **links: Any) -> dict[str, Any]:
    return node(
        "KSampler",
        seed=seed_link,
        steps=25,
        cfg=6.5,
        sampler_name="euler_ancestral",
        scheduler="normal",
        denoise=1.0,
        **links,
    )


def sd_graph(**extra: dict[str, Any]) -> Graph:
    """A plain text-to-image graph: checkpoint, two prompts, empty latent, sampler, save."""
    graph = {
        "1": node("CheckpointLoaderSimple", ckpt_name="sd_xl_base_1.0.safetensors"),
        "2": node("CLIPTextEncode", text="a red fox", clip=("1", 1)),
        "3": node("CLIPTextEncode", text="blurry", clip=("1", 1)),
        "4": node("EmptyLatentImage", width=896, height=1152, batch_size=1),
        "5": sampler(model=("1", 0), positive=("2", 0), negative=("3", 0), latent_image=("4", 0)),
        "6": node("VAEDecode", samples=("5", 0), vae=("1", 2)),
        "7": node("SaveImage", filename_prefix="fox", images=("6", 0)),
    }
    graph.update(extra)
    return graph


# --- the built-in workflows ------------------------------------------------------------------


def test_sdxl_builtin_roles() -> None:
    roles = builtin("sdxl").roles
    assert roles.positive == [Slot("6", "text")]
    assert roles.negative == [Slot("7", "text")]
    assert roles.seed == [Slot("3", "seed")]
    assert (roles.size, roles.batch, roles.frames, roles.fps) == (
        "5",
        Slot("5", "batch_size"),
        None,
        None,
    )
    assert (roles.samplers, roles.checkpoints, roles.loras) == (["3"], ["4"], [])
    assert (roles.images, roles.outputs) == ({}, ["9"])


def test_flux_builtin_finds_the_prompt_through_flux_guidance() -> None:
    roles = builtin("flux").roles
    assert roles.positive == [Slot("6", "text")]
    assert roles.negative == [Slot("33", "text")]
    assert roles.seed == [Slot("31", "seed")]
    assert (roles.size, roles.batch) == ("5", Slot("5", "batch_size"))
    assert (roles.samplers, roles.checkpoints, roles.outputs) == (["31"], ["4"], ["9"])


def test_inpaint_builtin_has_a_source_and_a_mask() -> None:
    roles = builtin("inpaint").roles
    assert roles.positive == [Slot("6", "text")]
    assert roles.negative == [Slot("7", "text")]
    assert roles.seed == [Slot("3", "seed")]
    assert roles.images == {"source": ["10"], "mask": ["11"]}
    assert roles.size is None  # the picture keeps the source's size
    assert (roles.samplers, roles.checkpoints, roles.outputs) == (["3"], ["4"], ["9"])


def test_wan_i2v_builtin_roles() -> None:
    roles = builtin("wan2.2-i2v").roles
    assert roles.positive == [Slot("6", "text")]
    assert roles.negative == [Slot("7", "text")]
    # Both samplers of the two-stage chain get the seed; the low-noise one is nearest the output.
    assert roles.seed == [Slot("58", "noise_seed"), Slot("57", "noise_seed")]
    assert roles.samplers == ["58", "57"]
    assert roles.size == "63"
    assert (roles.frames, roles.batch) == (Slot("63", "length"), Slot("63", "batch_size"))
    assert roles.fps == Slot("60", "fps")
    assert roles.checkpoints == ["37", "56"]
    assert (roles.images, roles.outputs) == ({"first_frame": ["62"]}, ["61"])


def test_wan_t2v_builtin_roles() -> None:
    roles = builtin("wan2.2-t2v").roles
    assert (roles.positive, roles.negative) == ([Slot("6", "text")], [Slot("7", "text")])
    assert roles.seed == [Slot("58", "noise_seed"), Slot("57", "noise_seed")]
    assert (roles.size, roles.frames, roles.fps) == ("61", Slot("61", "length"), Slot("60", "fps"))
    assert (roles.checkpoints, roles.images, roles.outputs) == (["37", "56"], {}, ["64"])


KEY_PARAMETERS = {
    "sdxl": {
        "checkpoint": "sd_xl_base_1.0.safetensors",
        "sampler_name": "dpmpp_2m",
        "scheduler": "karras",
        "steps": 30,
        "cfg": 7.0,
        "denoise": 1.0,
        "seed": 0,
        "size": "1024x1024",
    },
    "flux": {
        "checkpoint": "flux1-dev-fp8.safetensors",
        "sampler_name": "euler",
        "scheduler": "simple",
        "steps": 20,
        "cfg": 1.0,
        "denoise": 1.0,
        "seed": 0,
        "size": "1024x1024",
    },
    "inpaint": {
        "checkpoint": "sd_xl_base_1.0.safetensors",
        "sampler_name": "dpmpp_2m",
        "scheduler": "karras",
        "steps": 30,
        "cfg": 7.0,
        "denoise": 0.75,
        "seed": 0,
    },
    "wan2.2-i2v": {
        "checkpoint": "wan2.2_i2v_high_noise_14B_fp8_scaled.safetensors, "
        "wan2.2_i2v_low_noise_14B_fp8_scaled.safetensors",
        "sampler_name": "euler",
        "scheduler": "simple",
        "steps": 20,
        "cfg": 3.5,
        "seed": 0,
        "size": "832x480",
        "frames": 81,
        "fps": 16.0,
    },
    "wan2.2-t2v": {
        "checkpoint": "wan2.2_t2v_high_noise_14B_fp8_scaled.safetensors, "
        "wan2.2_t2v_low_noise_14B_fp8_scaled.safetensors",
        "sampler_name": "euler",
        "scheduler": "simple",
        "steps": 20,
        "cfg": 3.5,
        "seed": 0,
        "size": "832x480",
        "frames": 81,
        "fps": 16.0,
    },
}


@pytest.mark.parametrize("name", sorted(workflows.BUILTINS))
def test_key_parameters_of_each_builtin(name: str) -> None:
    wf = builtin(name)
    assert graphs.key_parameters(wf.graph, wf.roles) == KEY_PARAMETERS[name]


def test_key_parameters_follow_the_filled_values() -> None:
    wf = builtin("sdxl")
    roles = wf.roles
    values = {roles.seed[0]: 1234, Slot(roles.size, "width"): 1344, Slot(roles.size, "height"): 768}
    params = graphs.key_parameters(graphs.filled(wf.graph, values), roles)
    assert (params["seed"], params["size"]) == (1234, "1344x768")


def test_filled_sets_every_slot_and_leaves_the_original_alone() -> None:
    wf = builtin("wan2.2-i2v")
    roles = wf.roles
    values: dict[Slot, Any] = {s: 77 for s in roles.seed}
    values[roles.positive[0]] = "a gull lifts off"
    values[roles.frames] = 49
    out = graphs.filled(wf.graph, values)
    assert out["57"]["inputs"]["noise_seed"] == out["58"]["inputs"]["noise_seed"] == 77
    assert (out["6"]["inputs"]["text"], out["63"]["inputs"]["length"]) == ("a gull lifts off", 49)
    assert wf.graph["6"]["inputs"]["text"] == "the keeper turns toward the sea"
    assert wf.graph["57"]["inputs"]["noise_seed"] == 0


# --- user graphs -------------------------------------------------------------------------------


def test_sdxl_text_encoder_gives_both_text_inputs() -> None:
    size = {"width": 4096, "height": 4096, "crop_w": 0, "crop_h": 0}
    size |= {"target_width": 4096, "target_height": 4096}
    graph = sd_graph(
        **{
            "2": node("CLIPTextEncodeSDXL", text_g="a fox", text_l="a fox", clip=("1", 1), **size),
            "3": node("CLIPTextEncodeSDXL", text_g="ugly", text_l="ugly", clip=("1", 1), **size),
        }
    )
    roles = roles_of(graph)
    assert roles.positive == [Slot("2", "text_g"), Slot("2", "text_l")]
    assert roles.negative == [Slot("3", "text_g"), Slot("3", "text_l")]
    # The encoder's conditioning size is not the picture's: the latent's is.
    assert roles.size == "4"


def test_seed_and_text_from_primitive_nodes_are_set_on_the_primitives() -> None:
    graph = sd_graph(
        **{
            "5": sampler(
                ("20", 0),
                model=("1", 0),
                positive=("2", 0),
                negative=("3", 0),
                latent_image=("4", 0),
            ),
            "20": node("PrimitiveInt", "Seed", value=123456),
            "2": node("CLIPTextEncode", text=("21", 0), clip=("1", 1)),
            "21": node("PrimitiveStringMultiline", "Prompt", value="a red fox"),
        }
    )
    roles = roles_of(graph)
    assert roles.seed == [Slot("20", "value")]
    assert roles.positive == [Slot("21", "value")]
    assert graphs.key_parameters(graph, roles)["seed"] == 123456


def test_one_primitive_seed_shared_by_two_samplers_is_one_slot() -> None:
    graph = copy.deepcopy(builtin("wan2.2-t2v").graph)
    graph["90"] = node("PrimitiveInt", value=5)
    for sampler_id in ("57", "58"):
        graph[sampler_id]["inputs"]["noise_seed"] = ["90", 0]
    assert roles_of(graph).seed == [Slot("90", "value")]


def custom_sampler_graph() -> Graph:
    return {
        "1": node("CheckpointLoaderSimple", ckpt_name="sd_xl_base_1.0.safetensors"),
        "2": node("CLIPTextEncode", text="a lighthouse", clip=("1", 1)),
        "3": node("CLIPTextEncode", text="fog", clip=("1", 1)),
        "4": node("EmptyLatentImage", width=1024, height=768, batch_size=2),
        "10": node("CFGGuider", model=("1", 0), positive=("2", 0), negative=("3", 0), cfg=4.5),
        "11": node("RandomNoise", noise_seed=99),
        "12": node("BasicScheduler", model=("1", 0), scheduler="karras", steps=28, denoise=1.0),
        "13": node("KSamplerSelect", sampler_name="dpmpp_2m"),
        "14": node(
            "SamplerCustomAdvanced",
            noise=("11", 0),
            guider=("10", 0),
            sampler=("13", 0),
            sigmas=("12", 0),
            latent_image=("4", 0),
        ),
        "15": node("VAEDecode", samples=("14", 0), vae=("1", 2)),
        "16": node("SaveImage", filename_prefix="x", images=("15", 0)),
    }


def test_custom_sampler_graph_roles() -> None:
    roles = roles_of(custom_sampler_graph())
    assert roles.positive == [Slot("2", "text")]
    assert roles.negative == [Slot("3", "text")]
    assert roles.seed == [Slot("11", "noise_seed")]
    # The latent hangs off SamplerCustomAdvanced, not off the guider that holds the prompts.
    assert (roles.size, roles.batch) == ("4", Slot("4", "batch_size"))
    graphs.require(roles, "image", "test.json")


def test_custom_sampler_key_parameters_come_from_its_parts() -> None:
    graph = custom_sampler_graph()
    params = graphs.key_parameters(graph, roles_of(graph))
    assert params["cfg"] == 4.5
    assert (params["sampler_name"], params["scheduler"], params["steps"]) == (
        "dpmpp_2m",
        "karras",
        28,
    )
    assert (params["seed"], params["size"]) == (99, "1024x768")


def wan_14b_i2v_graph() -> Graph:
    """Wan 2.2 14B image-to-video as users build it: two experts, each with its own
    LoRA (lightning), a resized start image, and a shared seed on the high-noise stage only."""
    return {
        "1": node("UNETLoader", unet_name="wan2.2_i2v_high_noise_14B_fp8_scaled.safetensors"),
        "2": node("UNETLoader", unet_name="wan2.2_i2v_low_noise_14B_fp8_scaled.safetensors"),
        "3": node(
            "LoraLoaderModelOnly",
            lora_name="lightx2v_high.safetensors",
            strength_model=1.0,
            model=("1", 0),
        ),
        "4": node(
            "LoraLoaderModelOnly",
            lora_name="lightx2v_low.safetensors",
            strength_model=1.0,
            model=("2", 0),
        ),
        "5": node("ModelSamplingSD3", shift=5.0, model=("3", 0)),
        "6": node("ModelSamplingSD3", shift=5.0, model=("4", 0)),
        "7": node("CLIPLoader", clip_name="umt5_xxl_fp8_e4m3fn_scaled.safetensors", type="wan"),
        "8": node("VAELoader", vae_name="wan_2.1_vae.safetensors"),
        "9": node("CLIPTextEncode", text="she waves", clip=("7", 0)),
        "10": node("CLIPTextEncode", text="static", clip=("7", 0)),
        "11": node("LoadImage", image="keyframe.png"),
        "12": node(
            "ImageScale",
            upscale_method="lanczos",
            width=640,
            height=640,
            crop="center",
            image=("11", 0),
        ),
        "13": node(
            "WanImageToVideo",
            width=640,
            height=640,
            length=33,
            batch_size=1,
            positive=("9", 0),
            negative=("10", 0),
            vae=("8", 0),
            start_image=("12", 0),
        ),
        "14": node(
            "KSamplerAdvanced",
            add_noise="enable",
            noise_seed=42,
            steps=4,
            cfg=1.0,
            sampler_name="euler",
            scheduler="simple",
            start_at_step=0,
            end_at_step=2,
            return_with_leftover_noise="enable",
            model=("5", 0),
            positive=("13", 0),
            negative=("13", 1),
            latent_image=("13", 2),
        ),
        "15": node(
            "KSamplerAdvanced",
            add_noise="disable",
            noise_seed=42,
            steps=4,
            cfg=1.0,
            sampler_name="euler",
            scheduler="simple",
            start_at_step=2,
            end_at_step=10000,
            return_with_leftover_noise="disable",
            model=("6", 0),
            positive=("13", 0),
            negative=("13", 1),
            latent_image=("14", 0),
        ),
        "16": node("VAEDecode", samples=("15", 0), vae=("8", 0)),
        "17": node(
            "VHS_VideoCombine",
            frame_rate=16,
            loop_count=0,
            filename_prefix="wan",
            format="video/h264-mp4",
            pingpong=False,
            save_output=True,
            images=("16", 0),
        ),
    }


def test_wan_two_sampler_i2v_graph() -> None:
    graph = wan_14b_i2v_graph()
    roles = roles_of(graph)
    assert (roles.positive, roles.negative) == ([Slot("9", "text")], [Slot("10", "text")])
    assert roles.seed == [Slot("15", "noise_seed"), Slot("14", "noise_seed")]
    assert (roles.size, roles.frames) == ("13", Slot("13", "length"))
    assert roles.images == {"first_frame": ["11"]}  # seen through the ImageScale
    assert roles.fps == Slot("17", "frame_rate")  # VHS_VideoCombine's frame rate
    assert roles.outputs == ["17"]
    assert roles.loras == ["3", "4"]
    params = graphs.key_parameters(graph, roles)
    assert params["lora"] == "lightx2v_high.safetensors @ 1.0, lightx2v_low.safetensors @ 1.0"
    assert (params["steps"], params["frames"], params["fps"]) == (4, 33, 16)
    graphs.require(roles, "video", "test.json")


def test_first_last_frame_graph() -> None:
    graph = wan_14b_i2v_graph()
    graph["18"] = node("LoadImage", image="last.png")
    graph["19"] = node("CLIPVisionLoader", clip_name="clip_vision_h.safetensors")
    graph["20"] = node("CLIPVisionEncode", crop="none", clip_vision=("19", 0), image=("11", 0))
    graph["13"] = node(
        "WanFirstLastFrameToVideo",
        width=832,
        height=480,
        length=81,
        batch_size=1,
        positive=("9", 0),
        negative=("10", 0),
        vae=("8", 0),
        clip_vision_start_image=("20", 0),
        start_image=("11", 0),
        end_image=("18", 0),
    )
    roles = roles_of(graph)
    assert roles.images == {"first_frame": ["11"], "last_frame": ["18"]}
    assert (roles.positive, roles.negative) == ([Slot("9", "text")], [Slot("10", "text")])
    assert (roles.size, roles.frames) == ("13", Slot("13", "length"))


def test_img2img_graph_finds_the_source_through_a_resize() -> None:
    graph = sd_graph(
        **{
            "10": node("LoadImage", image="photo.png"),
            "11": node(
                "ImageScale",
                upscale_method="bilinear",
                width=1024,
                height=1024,
                crop="disabled",
                image=("10", 0),
            ),
            "12": node("VAEEncode", pixels=("11", 0), vae=("1", 2)),
        }
    )
    del graph["4"]
    graph["5"]["inputs"]["latent_image"] = ["12", 0]
    graph["5"]["inputs"]["denoise"] = 0.6
    roles = roles_of(graph)
    assert roles.images == {"source": ["10"]}
    graphs.require(roles, "edit", "test.json")
    assert graphs.key_parameters(graph, roles)["denoise"] == 0.6


def controlnet_graph() -> Graph:
    return sd_graph(
        **{
            "10": node("ControlNetLoader", control_net_name="canny_xl.safetensors"),
            "11": node("LoadImage", image="edges.png"),
            # Written negative-first in the file: only the link indices tell the sides apart.
            "12": node(
                "ControlNetApplyAdvanced",
                strength=0.8,
                start_percent=0.0,
                end_percent=1.0,
                negative=("3", 0),
                positive=("2", 0),
                control_net=("10", 0),
                image=("11", 0),
            ),
            "5": sampler(
                model=("1", 0), negative=("12", 1), positive=("12", 0), latent_image=("4", 0)
            ),
        }
    )


def test_controlnet_pair_node_keeps_the_prompt_on_its_side() -> None:
    roles = roles_of(controlnet_graph())
    assert roles.positive == [Slot("2", "text")]
    assert roles.negative == [Slot("3", "text")]
    assert roles.samplers == ["5"]  # the pair node only hands the conditioning on
    # the edge picture is the workflow's own: no role, so no reference photo replaces it
    assert roles.images == {} and not roles.has("reference")


def test_two_chained_controlnets_swapped_sides() -> None:
    graph = controlnet_graph()
    graph["13"] = node(
        "ControlNetApplyAdvanced",
        strength=0.5,
        start_percent=0.0,
        end_percent=1.0,
        positive=("12", 0),
        negative=("12", 1),
        control_net=("10", 0),
        image=("11", 0),
    )
    graph["5"]["inputs"].update(positive=["13", 0], negative=["13", 1])
    roles = roles_of(graph)
    assert (roles.positive, roles.negative) == ([Slot("2", "text")], [Slot("3", "text")])


def test_negative_made_from_the_positive_is_not_a_second_prompt() -> None:
    # Flux and SD3 graphs zero the positive for the negative: filling the "negative" slot
    # would overwrite the prompt itself.
    graph = sd_graph(**{"3": node("ConditioningZeroOut", conditioning=("2", 0))})
    roles = roles_of(graph)
    assert roles.positive == [Slot("2", "text")]
    assert roles.negative == []


def test_ipadapter_image_is_a_reference() -> None:
    graph = sd_graph(
        **{
            "10": node("IPAdapterUnifiedLoader", preset="PLUS (high strength)", model=("1", 0)),
            "11": node("LoadImage", image="face.png"),
            "12": node(
                "IPAdapterAdvanced",
                weight=0.8,
                weight_type="linear",
                start_at=0.0,
                end_at=1.0,
                model=("10", 0),
                ipadapter=("10", 1),
                image=("11", 0),
            ),
        }
    )
    graph["5"]["inputs"]["model"] = ["12", 0]
    roles = roles_of(graph)
    assert roles.images == {"reference": ["11"]}
    assert roles.has("reference") and not roles.has("source")


def test_image_loader_outside_the_output_chain_is_ignored() -> None:
    graph = sd_graph(**{"30": node("LoadImage", image="unused.png")})
    assert roles_of(graph).images == {}


def test_preview_only_graph_uses_the_preview_as_output() -> None:
    graph = sd_graph(**{"7": node("PreviewImage", images=("6", 0))})
    assert roles_of(graph).outputs == ["7"]
    with_save = sd_graph(**{"8": node("PreviewImage", images=("6", 0))})
    assert roles_of(with_save).outputs == ["7"]  # a saving node wins over a preview


# --- titles ------------------------------------------------------------------------------------


def style_concat_graph() -> Graph:
    """The prompt concatenated after a house-style text: the guess takes the style text."""
    return sd_graph(
        **{
            "20": node("CLIPTextEncode", "House style", text="35mm film, grain", clip=("1", 1)),
            "21": node("ConditioningConcat", conditioning_to=("20", 0), conditioning_from=("2", 0)),
            "5": sampler(
                model=("1", 0), positive=("21", 0), negative=("3", 0), latent_image=("4", 0)
            ),
        }
    )


def test_titled_positive_overrides_the_guess() -> None:
    graph = style_concat_graph()
    assert roles_of(graph).positive == [Slot("20", "text")]  # the wrong guess
    graph["2"]["_meta"]["title"] = "director:positive"
    roles = roles_of(graph)
    assert roles.positive == [Slot("2", "text")]
    assert roles.negative == [Slot("3", "text")]


def test_titles_are_read_loosely_and_override_images_and_seed() -> None:
    graph = sd_graph(
        **{
            "10": node("LoadImage", " Director: First-Frame ", image="a.png"),
            "11": node("VAEEncode", pixels=("10", 0), vae=("1", 2)),
            "20": node("PrimitiveInt", "director:seed", value=3),
        }
    )
    graph["5"]["inputs"]["latent_image"] = ["11", 0]
    roles = roles_of(graph)
    assert roles.images == {"first_frame": ["10"]}  # not "source", though it feeds pixels
    assert roles.seed == [Slot("20", "value")]  # the title wins over the sampler's own seed


def test_titled_size_and_sampler() -> None:
    graph = custom_sampler_graph()
    graph["4"]["_meta"]["title"] = "director:size"
    graph["10"]["_meta"]["title"] = "director:sampler"
    roles = roles_of(graph)
    assert (roles.size, roles.samplers) == ("4", ["10"])


def test_unknown_title_is_refused_naming_the_roles() -> None:
    graph = sd_graph()
    graph["2"]["_meta"]["title"] = "director:prompt"
    with pytest.raises(InputError) as caught:
        roles_of(graph)
    text = str(caught.value)
    assert "'director:prompt'" in text and "node 2" in text.lower()
    for role in graphs.ROLES:
        assert f"director:{role}" in text


# --- require ------------------------------------------------------------------------------------


def test_require_names_the_missing_role_and_the_title() -> None:
    graph = {
        "1": node("LoadImage", image="a.png"),
        "2": node("SaveImage", filename_prefix="x", images=("1", 0)),
    }
    with pytest.raises(InputError) as caught:
        graphs.require(roles_of(graph), "image", "mine.json")
    text = str(caught.value)
    assert "mine.json" in text and "'positive'" in text and "'director:positive'" in text


def test_require_source_for_edits() -> None:
    with pytest.raises(InputError) as caught:
        graphs.require(roles_of(sd_graph()), "edit", "mine.json")
    assert "'source'" in str(caught.value) and "director:source" in str(caught.value)
    graphs.require(roles_of(sd_graph()), "image", "mine.json")


def test_require_extra_needs() -> None:
    roles = builtin("wan2.2-t2v").roles
    with pytest.raises(InputError, match="director:first_frame"):
        graphs.require(roles, "video", "built-in wan2.2-t2v", needs=("first_frame",))


def test_graph_without_output_is_refused() -> None:
    graph = sd_graph()
    del graph["7"]
    with pytest.raises(InputError, match="director:output"):
        graphs.require(roles_of(graph), "image", "mine.json")


def test_check_api_format_refusals() -> None:
    with pytest.raises(InputError, match="no class_type"):
        graphs.check_api_format({"1": {"inputs": {}}}, "x.json")
    with pytest.raises(InputError, match="not a map"):
        graphs.check_api_format({"1": {"class_type": "A", "inputs": []}}, "x.json")
    with pytest.raises(InputError, match="node 9"):
        graphs.check_api_format({"1": node("A", x=("9", 0))}, "x.json")


# --- the style LoRA ---------------------------------------------------------------------------


def test_lora_goes_between_the_checkpoint_and_all_its_model_and_clip_consumers() -> None:
    graph = sd_graph(
        **{
            "10": node(
                "LoraLoader",
                lora_name="film_grain.safetensors",
                strength_model=0.5,
                strength_clip=0.5,
                model=("1", 0),
                clip=("1", 1),
            ),
            "2": node("CLIPTextEncode", text="a red fox", clip=("10", 1)),
            "3": node("CLIPTextEncode", text="blurry", clip=("1", 1)),
        }
    )
    graph["5"]["inputs"]["model"] = ["10", 0]
    roles = roles_of(graph)
    out = graphs.with_lora(graph, roles, "storyboard_sketch_xl.safetensors", 0.7)
    new = set(out) - set(graph)
    assert len(new) == 1
    (lora_id,) = new
    lora = out[lora_id]
    assert lora["class_type"] == "LoraLoader"
    assert lora["inputs"] == {
        "lora_name": "storyboard_sketch_xl.safetensors",
        "strength_model": 0.7,
        "strength_clip": 0.7,
        "model": ["1", 0],
        "clip": ["1", 1],
    }
    # The user's LoRA now loads on top of the style LoRA; every other consumer moved too.
    assert out["10"]["inputs"]["model"] == [lora_id, 0]
    assert out["10"]["inputs"]["clip"] == [lora_id, 1]
    assert out["10"]["inputs"]["lora_name"] == "film_grain.safetensors"
    assert out["3"]["inputs"]["clip"] == [lora_id, 1]
    assert out["6"]["inputs"]["vae"] == ["1", 2]  # the VAE does not pass through a LoRA
    assert graph["10"]["inputs"]["model"] == ["1", 0]  # the original is untouched
    # Nothing but the new LoRA reads the checkpoint's model or clip any more.
    assert {(n, k) for n, k in graphs.consumers(out, "1") if k != "vae"} == {
        (lora_id, "model"),
        (lora_id, "clip"),
    }
    again = roles_of(out)
    assert sorted(again.loras) == sorted([lora_id, "10"])
    assert "storyboard_sketch_xl.safetensors @ 0.7" in graphs.key_parameters(out, again)["lora"]


def test_lora_for_diffusion_model_loaders_is_model_only_and_ids_do_not_collide() -> None:
    wf = builtin("wan2.2-i2v")
    out = graphs.with_lora(wf.graph, wf.roles, "motion.safetensors", 0.8)
    new = sorted(set(out) - set(wf.graph))
    assert len(new) == 2 and len(set(new)) == 2
    by_source = {out[n]["inputs"]["model"][0]: n for n in new}
    assert set(by_source) == {"37", "56"}
    for loader, lora_id in by_source.items():
        assert out[lora_id]["class_type"] == "LoraLoaderModelOnly"
        assert out[lora_id]["inputs"] == {
            "lora_name": "motion.safetensors",
            "strength_model": 0.8,
            "model": [loader, 0],
        }
    assert out["54"]["inputs"]["model"] == [by_source["37"], 0]
    assert out["55"]["inputs"]["model"] == [by_source["56"], 0]
    graphs.check_api_format(out, "styled")


def test_lora_ids_skip_every_existing_numeric_id() -> None:
    graph = sd_graph(
        **{
            "300": node("PreviewImage", images=("6", 0)),
            "abc": node("SaveImage", filename_prefix="y", images=("6", 0)),
        }
    )
    out = graphs.with_lora(graph, roles_of(graph), "x.safetensors", 1.0)
    (new,) = set(out) - set(graph)
    assert new.isdigit() and new not in graph


def test_lora_titled_nodes_are_set_not_added() -> None:
    graph = sd_graph(
        **{
            "10": node(
                "LoraLoader",
                "director:lora",
                lora_name="placeholder.safetensors",
                strength_model=1.0,
                strength_clip=1.0,
                model=("1", 0),
                clip=("1", 1),
            ),
        }
    )
    graph["5"]["inputs"]["model"] = ["10", 0]
    graph["2"]["inputs"]["clip"] = ["10", 1]
    out = graphs.with_lora(graph, roles_of(graph), "film_grain.safetensors", 0.4)
    assert set(out) == set(graph)
    assert out["10"]["inputs"]["lora_name"] == "film_grain.safetensors"
    assert out["10"]["inputs"]["strength_model"] == out["10"]["inputs"]["strength_clip"] == 0.4


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name.safetensors", ("name.safetensors", 1.0)),
        ("name.safetensors:0.6", ("name.safetensors", 0.6)),
        ("dir/name.safetensors:1", ("dir/name.safetensors", 1.0)),
        ("dir/name.safetensors:-0.5", ("dir/name.safetensors", -0.5)),
        (" name.safetensors : 0.6 ", ("name.safetensors", 0.6)),
    ],
)
def test_parse_lora(text: str, expected: tuple[str, float]) -> None:
    assert graphs.parse_lora(text) == expected


@pytest.mark.parametrize(
    "text", ["name.safetensors:strong", "name.safetensors:", "name.safetensors:nan", ":0.6", ""]
)
def test_parse_lora_refuses_bad_strengths(text: str) -> None:
    with pytest.raises(InputError, match="NAME:STRENGTH|LoRA"):
        graphs.parse_lora(text)


# --- loading workflows ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(workflows.BUILTINS))
def test_each_builtin_loads_for_its_use(name: str) -> None:
    wf = workflows.load(name, workflows.BUILTINS[name])
    assert (wf.name, wf.source) == (name, f"built-in {name}")


def test_empty_spec_loads_the_default() -> None:
    assert workflows.load("", "video").name == "wan2.2-i2v"
    assert workflows.load("", "edit").name == "inpaint"


@pytest.mark.parametrize(
    ("name", "use", "hint"),
    [
        ("sdxl", "video", "wan2.2-i2v, wan2.2-t2v"),
        ("wan2.2-i2v", "image", "sdxl, flux"),
        ("sdxl", "edit", "inpaint"),
    ],
)
def test_builtin_for_the_wrong_use_is_refused_with_the_right_ones(
    name: str, use: str, hint: str
) -> None:
    with pytest.raises(InputError) as caught:
        workflows.load(name, use)
    assert f"not {use}s" in caught.value.message
    assert hint in caught.value.hint


def test_missing_file_names_the_builtins(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        workflows.load(str(tmp_path / "nope.json"), "image")
    assert "nope.json" in caught.value.message
    for name in workflows.BUILTINS:
        assert name in caught.value.hint


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("{not json", "not valid JSON"),
        ("", "not valid JSON"),
        ("[1, 2]", "not an object"),
        ("{}", "no nodes"),
    ],
)
def test_unusable_files_are_refused_with_the_export_hint(
    tmp_path: Path, content: str, says: str
) -> None:
    path = tmp_path / "wf.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError) as caught:
        workflows.load(str(path), "image")
    assert says in caught.value.message
    assert "Export (API)" in caught.value.hint


def test_api_format_file(tmp_path: Path) -> None:
    path = tmp_path / "fox.json"
    path.write_text(json.dumps(sd_graph()), encoding="utf-8")
    wf = workflows.load(str(path), "image")
    assert (wf.source, wf.roles.positive) == (str(path), [Slot("2", "text")])


def test_saved_prompt_body(tmp_path: Path) -> None:
    body = {"client_id": "abc", "prompt": sd_graph(), "extra_data": {"extra_pnginfo": {}}}
    path = tmp_path / "body.json"
    path.write_text(json.dumps(body), encoding="utf-8")
    wf = workflows.load(str(path), "image")
    assert set(wf.graph) == set(sd_graph())
    assert wf.roles.seed == [Slot("5", "seed")]


def test_a_file_that_cannot_serve_the_use_names_the_role(tmp_path: Path) -> None:
    path = tmp_path / "fox.json"
    path.write_text(json.dumps(sd_graph()), encoding="utf-8")
    with pytest.raises(InputError, match="director:source"):
        workflows.load(str(path), "edit")


def ui_document() -> dict[str, Any]:
    """A text-to-image workflow the way ComfyUI's Save writes it."""

    def ui_node(nid: int, kind: str, widgets: list, inputs=(), outputs=(), title=None) -> dict:
        entry = {
            "id": nid,
            "type": kind,
            "mode": 0,
            "inputs": [{"name": n, "type": t, "link": link} for n, t, link in inputs],
            "outputs": [{"name": t, "type": t, "links": []} for t in outputs],
            "widgets_values": widgets,
        }
        if title:
            entry["title"] = title
        return entry

    nodes = [
        ui_node(
            4,
            "CheckpointLoaderSimple",
            ["sd_xl_base_1.0.safetensors"],
            outputs=("MODEL", "CLIP", "VAE"),
        ),
        ui_node(
            6,
            "CLIPTextEncode",
            ["a fox"],
            [("clip", "CLIP", 3)],
            ("CONDITIONING",),
            "director:positive",
        ),
        ui_node(7, "CLIPTextEncode", ["blurry"], [("clip", "CLIP", 5)], ("CONDITIONING",)),
        ui_node(5, "EmptyLatentImage", [512, 512, 1], outputs=("LATENT",)),
        ui_node(
            3,
            "KSampler",
            [8, "fixed", 20, 7.0, "euler", "normal", 1.0],
            [
                ("model", "MODEL", 1),
                ("positive", "CONDITIONING", 4),
                ("negative", "CONDITIONING", 6),
                ("latent_image", "LATENT", 2),
            ],
            ("LATENT",),
        ),
        ui_node(8, "VAEDecode", [], [("samples", "LATENT", 7), ("vae", "VAE", 8)], ("IMAGE",)),
        ui_node(9, "SaveImage", ["ui"], [("images", "IMAGE", 9)]),
    ]
    links = [
        [1, 4, 0, 3, 0, "MODEL"],
        [2, 5, 0, 3, 3, "LATENT"],
        [3, 4, 1, 6, 0, "CLIP"],
        [4, 6, 0, 3, 1, "CONDITIONING"],
        [5, 4, 1, 7, 0, "CLIP"],
        [6, 7, 0, 3, 2, "CONDITIONING"],
        [7, 3, 0, 8, 0, "LATENT"],
        [8, 4, 2, 8, 1, "VAE"],
        [9, 8, 0, 9, 0, "IMAGE"],
    ]
    return {"last_node_id": 9, "last_link_id": 9, "nodes": nodes, "links": links, "version": 0.4}


@pytest.fixture
def fake(tmp_path: Path) -> FakeComfyUI:
    """The fake server's node schemas; it is never started, so nothing listens."""
    return FakeComfyUI(root=tmp_path / "comfy")


def test_ui_format_file_is_converted_with_the_servers_schemas(
    tmp_path: Path, fake: FakeComfyUI
) -> None:
    path = tmp_path / "saved.json"
    path.write_text(json.dumps(ui_document()), encoding="utf-8")
    wf = workflows.load(str(path), "image", object_info=fake.object_info)
    assert wf.graph["3"]["inputs"]["seed"] == 8
    assert wf.roles.positive == [Slot("6", "text")]
    assert wf.roles.negative == [Slot("7", "text")]
    assert (wf.roles.size, wf.roles.outputs) == ("5", ["9"])
    assert workflows.missing_on_server(wf.graph, fake.object_info()) == []


def test_ui_format_without_a_server_is_refused_with_the_export_hint(tmp_path: Path) -> None:
    path = tmp_path / "saved.json"
    path.write_text(json.dumps(ui_document()), encoding="utf-8")
    with pytest.raises(InputError) as caught:
        workflows.load(str(path), "image", object_info=None)
    assert "UI format" in caught.value.message and caught.value.hint == API_HINT

    def down() -> dict:
        raise ProviderError("ComfyUI at http://127.0.0.1:9 does not answer.", "Start it.")

    with pytest.raises(InputError) as caught:
        workflows.load(str(path), "image", object_info=down)
    assert "does not answer" in caught.value.message and caught.value.hint == API_HINT


def test_api_format_file_never_asks_the_server(tmp_path: Path) -> None:
    path = tmp_path / "fox.json"
    path.write_text(json.dumps(sd_graph()), encoding="utf-8")

    def forbidden() -> dict:
        raise AssertionError("the server was asked for an API-format file")

    workflows.load(str(path), "image", object_info=forbidden)


# --- what the server lacks -----------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(workflows.BUILTINS))
def test_builtins_run_on_a_server_with_the_default_models(name: str, fake: FakeComfyUI) -> None:
    assert workflows.missing_on_server(builtin(name).graph, fake.object_info()) == []


def test_builtins_with_a_style_lora_run_on_the_default_server(fake: FakeComfyUI) -> None:
    for name in workflows.BUILTINS:
        wf = builtin(name)
        styled = graphs.with_lora(wf.graph, wf.roles, "film_grain.safetensors", 0.6)
        assert workflows.missing_on_server(styled, fake.object_info()) == []


def test_everything_missing_is_named_in_one_error(fake: FakeComfyUI) -> None:
    fake.models["checkpoints"].remove("sd_xl_base_1.0.safetensors")
    fake.models["loras"].remove("film_grain.safetensors")
    sdxl, inpaint, wan = builtin("sdxl"), builtin("inpaint"), builtin("wan2.2-i2v")
    styled = graphs.with_lora(sdxl.graph, sdxl.roles, "film_grain.safetensors", 1.0)
    odd = copy.deepcopy(wan.graph)
    odd["99"] = node("IPAdapterAdvanced", weight=1.0)
    loaded = [
        workflows.Workflow("sdxl", "built-in sdxl", styled, sdxl.roles),
        inpaint,
        workflows.Workflow("wan", "mine.json", odd, wan.roles),
    ]
    with pytest.raises(ProviderError) as caught:
        workflows.check_on_server(loaded, fake.object_info(), "http://127.0.0.1:8188")
    text = caught.value.message
    assert "http://127.0.0.1:8188" in text
    assert text.count("checkpoint (models/checkpoints) sd_xl_base_1.0.safetensors") == 1
    assert "LoRA (models/loras) film_grain.safetensors" in text
    assert "node type IPAdapterAdvanced (node 99)" in text
    assert "wan2.2" not in text  # what the server has is not named
    assert "restart" in caught.value.hint


def test_check_on_server_passes_quietly(fake: FakeComfyUI) -> None:
    loaded = [builtin(name) for name in workflows.BUILTINS]
    workflows.check_on_server(loaded, fake.object_info(), "http://127.0.0.1:8188")


def test_new_style_combo_schemas_are_read(fake: FakeComfyUI) -> None:
    info = fake.object_info()
    info["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"] = [
        "COMBO",
        {"options": ["flux1-dev-fp8.safetensors"]},
    ]
    assert workflows.missing_on_server(builtin("flux").graph, info) == []
    assert workflows.missing_on_server(builtin("sdxl").graph, info) == [
        "checkpoint (models/checkpoints) sd_xl_base_1.0.safetensors"
    ]


def test_a_model_name_given_by_a_link_is_left_to_the_server(fake: FakeComfyUI) -> None:
    graph = sd_graph(**{"20": node("PrimitiveString", value="sd_xl_base_1.0.safetensors")})
    graph["1"]["inputs"]["ckpt_name"] = ["20", 0]
    info = fake.object_info()
    info["PrimitiveString"] = {"input": {"required": {"value": ["STRING", {}]}}}
    assert workflows.missing_on_server(graph, info) == []


def test_flux_and_sd3_encoders_get_the_prompt_in_every_text() -> None:
    flux = sd_graph(
        **{
            "2": node(
                "CLIPTextEncodeFlux", clip_l="a fox", t5xxl="a fox", guidance=3.5, clip=("1", 1)
            ),
            "3": node("ConditioningZeroOut", conditioning=("2", 0)),
        }
    )
    assert roles_of(flux).positive == [Slot("2", "t5xxl"), Slot("2", "clip_l")]
    sd3 = sd_graph(
        **{
            "2": node(
                "CLIPTextEncodeSD3",
                clip_l="a",
                clip_g="a",
                t5xxl="a",
                empty_padding="none",
                clip=("1", 1),
            ),
        }
    )
    assert roles_of(sd3).positive == [Slot("2", "t5xxl"), Slot("2", "clip_l"), Slot("2", "clip_g")]


def test_inpaint_with_the_sources_alpha_as_mask_is_a_source() -> None:
    graph = sd_graph(
        **{
            "10": node("LoadImage", image="photo.png"),
            "11": node(
                "VAEEncodeForInpaint",
                grow_mask_by=6,
                mask=("10", 1),
                pixels=("10", 0),
                vae=("1", 2),
            ),
        }
    )
    graph["5"]["inputs"]["latent_image"] = ["11", 0]
    roles = roles_of(graph)
    assert roles.images == {"source": ["10"]}
    graphs.require(roles, "edit", "test.json")


def test_hires_fix_graph_sizes_the_first_latent_and_seeds_both_passes() -> None:
    graph = sd_graph(
        **{
            "20": node(
                "LatentUpscaleBy", upscale_method="nearest-exact", scale_by=1.5, samples=("5", 0)
            ),
            "21": sampler(
                model=("1", 0), positive=("2", 0), negative=("3", 0), latent_image=("20", 0)
            ),
            "6": node("VAEDecode", samples=("21", 0), vae=("1", 2)),
        }
    )
    graph["21"]["inputs"]["denoise"] = 0.45
    roles = roles_of(graph)
    assert roles.samplers == ["21", "5"]
    assert roles.seed == [Slot("21", "seed"), Slot("5", "seed")]
    assert (roles.size, roles.positive) == ("4", [Slot("2", "text")])
    assert graphs.key_parameters(graph, roles)["denoise"] == 1.0  # the first pass's


def test_parse_lora_keeps_a_colon_inside_a_path() -> None:
    assert graphs.parse_lora("C:/loras/grain.safetensors") == ("C:/loras/grain.safetensors", 1.0)
    assert graphs.parse_lora("C:/loras/grain.safetensors:0.3") == (
        "C:/loras/grain.safetensors",
        0.3,
    )


def test_an_image_whose_alpha_alone_is_used_is_still_the_mask() -> None:
    graph = builtin("inpaint").graph
    graph["11"] = node("LoadImage", image="mask.png")
    graph["13"]["inputs"]["mask"] = ["11", 1]
    assert roles_of(graph).images == {"source": ["10"], "mask": ["11"]}


def test_the_flux_template_with_a_basic_guider_finds_prompt_seed_and_size() -> None:
    # ComfyUI's own FLUX dev template: one conditioning into BasicGuider, no negative.
    graph = {
        "1": node("UNETLoader", unet_name="flux1-dev.safetensors", weight_dtype="default"),
        "2": node("DualCLIPLoader", clip_name1="t5xxl_fp16.safetensors",
                  clip_name2="clip_l.safetensors", type="flux"),
        "3": node("VAELoader", vae_name="ae.safetensors"),
        "4": node("CLIPTextEncode", text="a keeper", clip=("2", 0)),
        "5": node("FluxGuidance", guidance=3.5, conditioning=("4", 0)),
        "6": node("BasicGuider", model=("1", 0), conditioning=("5", 0)),
        "7": node("RandomNoise", noise_seed=1),
        "8": node("KSamplerSelect", sampler_name="euler"),
        "9": node("BasicScheduler", scheduler="simple", steps=20, denoise=1.0, model=("1", 0)),
        "10": node("EmptySD3LatentImage", width=1024, height=1024, batch_size=1),
        "11": node("SamplerCustomAdvanced", noise=("7", 0), guider=("6", 0), sampler=("8", 0),
                   sigmas=("9", 0), latent_image=("10", 0)),
        "12": node("VAEDecode", samples=("11", 0), vae=("3", 0)),
        "13": node("SaveImage", filename_prefix="flux", images=("12", 0)),
    }  # fmt: skip
    roles = roles_of(graph)
    graphs.require(roles, "image", "test.json")
    assert (roles.positive, roles.negative) == ([Slot("4", "text")], [])
    assert roles.seed == [Slot("7", "noise_seed")] and roles.size == "10"
    params = graphs.key_parameters(graph, roles)
    assert (params["steps"], params["sampler_name"], params["size"]) == (20, "euler", "1024x1024")
