"""ComfyUI's saved (UI) workflows converted to the API format, against hand-written documents in
the shape the frontend saves and node schemas in the shape ``GET /object_info`` serves."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from director.errors import InputError
from director.tools.comfyui.ui_format import is_api_format, is_ui_format, to_api

SDXL_JSON = Path(__file__).parent.parent / "director/tools/comfyui/workflows/sdxl.json"
SAMPLERS = ["euler", "euler_ancestral", "dpmpp_2m", "dpmpp_2m_sde"]
SCHEDULERS = ["normal", "karras", "exponential", "simple"]


def schema(display: str, required: dict, output: list, optional: dict | None = None, **extra):
    """One node's entry of /object_info, with input_order the way current servers send it."""
    inputs = {"required": required, "optional": optional or {}}
    order = {"required": list(required), "optional": list(optional or {})}
    return {
        "input": inputs,
        "input_order": order,
        "output": output,
        "output_name": output,
        "name": display,
        "display_name": display,
        "output_node": extra.get("output_node", False),
        "category": "test",
    }


INT = {"default": 0, "min": 0, "max": 16384}
FLOAT = {"default": 1.0, "min": 0.0, "max": 100.0, "step": 0.01}

OBJECT_INFO = {
    "CheckpointLoaderSimple": schema(
        "Load Checkpoint",
        {"ckpt_name": [["sd_xl_base_1.0.safetensors", "other.safetensors"], {}]},
        ["MODEL", "CLIP", "VAE"],
    ),
    "CLIPTextEncode": schema(
        "CLIP Text Encode (Prompt)",
        {"text": ["STRING", {"multiline": True, "dynamicPrompts": True}], "clip": ["CLIP", {}]},
        ["CONDITIONING"],
    ),
    "EmptyLatentImage": schema(
        "Empty Latent Image",
        {"width": ["INT", INT], "height": ["INT", INT], "batch_size": ["INT", INT]},
        ["LATENT"],
    ),
    "KSampler": schema(
        "KSampler",
        {
            "model": ["MODEL", {}],
            "seed": ["INT", {"default": 0, "min": 0, "control_after_generate": True}],
            "steps": ["INT", INT],
            "cfg": ["FLOAT", FLOAT],
            "sampler_name": [SAMPLERS, {}],
            "scheduler": [SCHEDULERS, {}],
            "positive": ["CONDITIONING", {}],
            "negative": ["CONDITIONING", {}],
            "latent_image": ["LATENT", {}],
            "denoise": ["FLOAT", FLOAT],
        },
        ["LATENT"],
    ),
    "VAEDecode": schema("VAE Decode", {"samples": ["LATENT", {}], "vae": ["VAE", {}]}, ["IMAGE"]),
    "VAEEncode": schema("VAE Encode", {"pixels": ["IMAGE", {}], "vae": ["VAE", {}]}, ["LATENT"]),
    "SaveImage": schema(
        "Save Image",
        {"images": ["IMAGE", {}], "filename_prefix": ["STRING", {"default": "ComfyUI"}]},
        [],
        output_node=True,
    ),
    "PreviewImage": schema("Preview Image", {"images": ["IMAGE", {}]}, [], output_node=True),
    "LoraLoader": schema(
        "Load LoRA",
        {
            "model": ["MODEL", {}],
            "clip": ["CLIP", {}],
            "lora_name": [["style.safetensors"], {}],
            "strength_model": ["FLOAT", FLOAT],
            "strength_clip": ["FLOAT", FLOAT],
        },
        ["MODEL", "CLIP"],
    ),
    "LoadImage": schema(
        "Load Image",
        {"image": [["portrait.png", "example.png"], {"image_upload": True}]},
        ["IMAGE", "MASK"],
    ),
}
# Hidden inputs are part of the real schemas and never widgets.
OBJECT_INFO["SaveImage"]["input"]["hidden"] = {"prompt": "PROMPT", "extra_pnginfo": "EXTRA"}


def socket(name: str, kind: str, link: int | None) -> dict:
    return {"name": name, "type": kind, "link": link}


def widget_input(name: str, kind: str, link: int | None = None) -> dict:
    """An input entry for a widget, as newer frontends list every widget (and older ones list a
    widget converted to an input)."""
    return {"name": name, "type": kind, "link": link, "widget": {"name": name}}


def out(name: str, links: list[int], slot: int) -> dict:
    return {"name": name, "type": name, "links": links, "slot_index": slot}


def node(node_id, kind, inputs=(), outputs=(), values=None, mode=0, title=None) -> dict:
    entry = {
        "id": node_id,
        "type": kind,
        "pos": [0, 0],
        "size": [315, 100],
        "flags": {},
        "order": 0,
        "mode": mode,
        "inputs": list(inputs),
        "outputs": list(outputs),
        "properties": {"Node name for S&R": kind},
    }
    if values is not None:
        entry["widgets_values"] = values
    if title:
        entry["title"] = title
    return entry


def document(nodes: list[dict], links: list[list]) -> dict:
    return {
        "last_node_id": max(n["id"] for n in nodes),
        "last_link_id": max((link[0] for link in links), default=0),
        "nodes": nodes,
        "links": links,
        "groups": [],
        "config": {},
        "extra": {"ds": {"scale": 1, "offset": [0, 0]}},
        "version": 0.4,
    }


POSITIVE = "a lighthouse keeper at dusk"
NEGATIVE = "blurry, low quality, deformed, extra fingers, watermark, text"


def sdxl_document() -> dict:
    """The default text-to-image workflow as an older frontend saves it: only sockets are
    listed as inputs, and the seed is followed by its control_after_generate value."""
    nodes = [
        node(4, "CheckpointLoaderSimple", [], [out("MODEL", [1], 0), out("CLIP", [3, 5], 1),
             out("VAE", [8], 2)], ["sd_xl_base_1.0.safetensors"]),
        node(5, "EmptyLatentImage", [], [out("LATENT", [2], 0)], [1024, 1024, 1]),
        node(6, "CLIPTextEncode", [socket("clip", "CLIP", 3)], [out("CONDITIONING", [4], 0)],
             [POSITIVE], title="CLIP Text Encode (Positive Prompt)"),
        node(7, "CLIPTextEncode", [socket("clip", "CLIP", 5)], [out("CONDITIONING", [6], 0)],
             [NEGATIVE], title="CLIP Text Encode (Negative Prompt)"),
        node(3, "KSampler",
             [socket("model", "MODEL", 1), socket("positive", "CONDITIONING", 4),
              socket("negative", "CONDITIONING", 6), socket("latent_image", "LATENT", 2)],
             [out("LATENT", [7], 0)], [0, "fixed", 30, 7.0, "dpmpp_2m", "karras", 1.0]),
        node(8, "VAEDecode", [socket("samples", "LATENT", 7), socket("vae", "VAE", 8)],
             [out("IMAGE", [9], 0)]),
        node(9, "SaveImage", [socket("images", "IMAGE", 9)], [], ["director/sdxl"]),
    ]  # fmt: skip
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
    return document(nodes, links)


def api_node(kind: str, title: str, **inputs) -> dict:
    return {"inputs": inputs, "class_type": kind, "_meta": {"title": title}}


SDXL_API = {
    "4": api_node("CheckpointLoaderSimple", "Load Checkpoint", ckpt_name="sd_xl_base_1.0.safetensors"),
    "5": api_node("EmptyLatentImage", "Empty Latent Image", width=1024, height=1024, batch_size=1),
    "6": api_node("CLIPTextEncode", "CLIP Text Encode (Positive Prompt)", text=POSITIVE, clip=["4", 1]),
    "7": api_node("CLIPTextEncode", "CLIP Text Encode (Negative Prompt)", text=NEGATIVE, clip=["4", 1]),
    "3": api_node(
        "KSampler", "KSampler", model=["4", 0], seed=0, steps=30, cfg=7.0, sampler_name="dpmpp_2m",
        scheduler="karras", positive=["6", 0], negative=["7", 0], latent_image=["5", 0], denoise=1.0,
    ),
    "8": api_node("VAEDecode", "VAE Decode", samples=["3", 0], vae=["4", 2]),
    "9": api_node("SaveImage", "Save Image", images=["8", 0], filename_prefix="director/sdxl"),
}  # fmt: skip


def convert(workflow: dict) -> dict:
    return to_api(workflow, OBJECT_INFO, source="film.json")


def test_the_default_sdxl_workflow_converts_to_the_exported_graph() -> None:
    assert convert(sdxl_document()) == SDXL_API


def test_inputs_follow_the_schema_order_and_ids_are_strings() -> None:
    graph = convert(sdxl_document())
    assert list(graph["3"]["inputs"]) == list(OBJECT_INFO["KSampler"]["input"]["required"])
    assert all(isinstance(key, str) for key in graph)


def test_it_has_the_shape_of_the_built_in_sdxl_graph() -> None:
    built_in = json.loads(SDXL_JSON.read_text(encoding="utf-8"))
    graph = convert(sdxl_document())

    def shape(api: dict) -> dict:
        return {
            key: (n["class_type"], {k: v for k, v in n["inputs"].items() if isinstance(v, list)})
            for key, n in api.items()
        }

    assert shape(graph) == shape(built_in)


def test_the_formats_are_told_apart() -> None:
    built_in = json.loads(SDXL_JSON.read_text(encoding="utf-8"))
    assert is_ui_format(sdxl_document()) and not is_api_format(sdxl_document())
    assert is_api_format(built_in) and not is_ui_format(built_in)
    assert not is_api_format({}) and not is_ui_format({})
    assert to_api(built_in, OBJECT_INFO, source="sdxl.json") == built_in


def test_a_file_without_the_control_value_still_converts() -> None:
    # Files saved before control_after_generate existed hold only the seed.
    doc = sdxl_document()
    doc["nodes"][4]["widgets_values"] = [0, 30, 7.0, "dpmpp_2m", "karras", 1.0]
    assert convert(doc) == SDXL_API


def test_newer_frontends_listing_every_widget_as_an_input_convert_the_same() -> None:
    doc = sdxl_document()
    sampler = doc["nodes"][4]
    sampler["inputs"] = [
        socket("model", "MODEL", 1),
        widget_input("seed", "INT"),
        widget_input("steps", "INT"),
        widget_input("cfg", "FLOAT"),
        widget_input("sampler_name", "COMBO"),
        widget_input("scheduler", "COMBO"),
        socket("positive", "CONDITIONING", 4),
        socket("negative", "CONDITIONING", 6),
        socket("latent_image", "LATENT", 2),
        widget_input("denoise", "FLOAT"),
    ]
    doc["links"] = [dict(zip(LINK_KEYS, link, strict=True)) for link in doc["links"]]
    assert convert(doc) == SDXL_API


LINK_KEYS = ("id", "origin_id", "origin_slot", "target_id", "target_slot", "type")


def kitchen_sink() -> dict:
    """Image-to-image with a bypassed LoRA, a Reroute, a PrimitiveNode driving the seed, a
    LoadImage saved with its upload value, a muted preview and a note."""
    nodes = [
        node(4, "CheckpointLoaderSimple", [], [out("MODEL", [20], 0), out("CLIP", [21], 1),
             out("VAE", [30, 31], 2)], ["sd_xl_base_1.0.safetensors"]),
        node(10, "LoraLoader", [socket("model", "MODEL", 20), socket("clip", "CLIP", 21)],
             [out("MODEL", [22], 0), out("CLIP", [23, 24], 1)],
             ["style.safetensors", 0.8, 0.8], mode=4),
        node(15, "Reroute", [{"name": "", "type": "*", "link": 23}],
             [{"name": "", "type": "CLIP", "links": [25], "slot_index": 0}]),
        node(6, "CLIPTextEncode", [socket("clip", "CLIP", 25)], [out("CONDITIONING", [4], 0)],
             [POSITIVE]),
        node(7, "CLIPTextEncode", [socket("clip", "CLIP", 24)], [out("CONDITIONING", [6], 0)],
             [NEGATIVE]),
        node(20, "PrimitiveNode", [],
             [{"name": "INT", "type": "INT", "links": [26], "slot_index": 0,
               "widget": {"name": "seed"}}], [123456, "randomize"], title="seed"),
        node(11, "LoadImage", [], [out("IMAGE", [27, 28], 0), out("MASK", None, 1)],
             ["portrait.png", "image"]),
        node(12, "VAEEncode", [socket("pixels", "IMAGE", 27), socket("vae", "VAE", 30)],
             [out("LATENT", [29], 0)]),
        node(13, "PreviewImage", [socket("images", "IMAGE", 28)], [], mode=2),
        node(3, "KSampler",
             [socket("model", "MODEL", 22), widget_input("seed", "INT", 26),
              socket("positive", "CONDITIONING", 4), socket("negative", "CONDITIONING", 6),
              socket("latent_image", "LATENT", 29)],
             [out("LATENT", [7], 0)], [777, "randomize", 25, 5.5, "euler", "normal", 0.6]),
        node(8, "VAEDecode", [socket("samples", "LATENT", 7), socket("vae", "VAE", 31)],
             [out("IMAGE", [9], 0)]),
        node(9, "SaveImage", [socket("images", "IMAGE", 9)], [], ["director/img2img"],
             title="Final frame"),
        node(30, "Note", [], [], ["Bypass the LoRA to compare."]),
    ]  # fmt: skip
    links = [
        [20, 4, 0, 10, 0, "MODEL"],
        [21, 4, 1, 10, 1, "CLIP"],
        [22, 10, 0, 3, 0, "MODEL"],
        [23, 10, 1, 15, 0, "CLIP"],
        [24, 10, 1, 7, 0, "CLIP"],
        [25, 15, 0, 6, 0, "CLIP"],
        [4, 6, 0, 3, 1, "CONDITIONING"],
        [6, 7, 0, 3, 2, "CONDITIONING"],
        [26, 20, 0, 3, 1, "INT"],
        [27, 11, 0, 12, 0, "IMAGE"],
        [28, 11, 0, 13, 0, "IMAGE"],
        [29, 12, 0, 3, 3, "LATENT"],
        [30, 4, 2, 12, 1, "VAE"],
        [31, 4, 2, 8, 1, "VAE"],
        [7, 3, 0, 8, 0, "LATENT"],
        [9, 8, 0, 9, 0, "IMAGE"],
    ]
    return document(nodes, links)


KITCHEN_SINK_API = {
    "4": api_node("CheckpointLoaderSimple", "Load Checkpoint", ckpt_name="sd_xl_base_1.0.safetensors"),
    "6": api_node("CLIPTextEncode", "CLIP Text Encode (Prompt)", text=POSITIVE, clip=["4", 1]),
    "7": api_node("CLIPTextEncode", "CLIP Text Encode (Prompt)", text=NEGATIVE, clip=["4", 1]),
    "11": api_node("LoadImage", "Load Image", image="portrait.png"),
    "12": api_node("VAEEncode", "VAE Encode", pixels=["11", 0], vae=["4", 2]),
    "3": api_node(
        "KSampler", "KSampler", model=["4", 0], seed=123456, steps=25, cfg=5.5, sampler_name="euler",
        scheduler="normal", positive=["6", 0], negative=["7", 0], latent_image=["12", 0], denoise=0.6,
    ),
    "8": api_node("VAEDecode", "VAE Decode", samples=["3", 0], vae=["4", 2]),
    "9": api_node("SaveImage", "Final frame", images=["8", 0], filename_prefix="director/img2img"),
}  # fmt: skip


def test_reroutes_primitives_bypass_mute_upload_and_notes_are_applied() -> None:
    assert convert(kitchen_sink()) == KITCHEN_SINK_API


def test_the_load_image_upload_value_is_optional() -> None:
    doc = kitchen_sink()
    find(doc, 11)["widgets_values"] = ["portrait.png"]
    assert convert(doc) == KITCHEN_SINK_API


def test_a_primitive_passes_through_a_reroute() -> None:
    doc = kitchen_sink()
    find(doc, 20)["outputs"][0]["links"] = [40]
    doc["nodes"].append(
        node(16, "Reroute", [{"name": "", "type": "*", "link": 40}],
             [{"name": "", "type": "INT", "links": [26], "slot_index": 0}])
    )  # fmt: skip
    doc["links"] = [link for link in doc["links"] if link[0] != 26]
    doc["links"] += [[40, 20, 0, 16, 0, "INT"], [26, 16, 0, 3, 1, "INT"]]
    assert convert(doc)["3"]["inputs"]["seed"] == 123456


def test_the_lora_is_kept_when_it_is_not_bypassed() -> None:
    doc = kitchen_sink()
    find(doc, 10)["mode"] = 0
    graph = convert(doc)
    assert graph["10"] == api_node(
        "LoraLoader", "Load LoRA", model=["4", 0], clip=["4", 1],
        lora_name="style.safetensors", strength_model=0.8, strength_clip=0.8,
    )  # fmt: skip
    assert graph["3"]["inputs"]["model"] == ["10", 0]
    assert graph["6"]["inputs"]["clip"] == graph["7"]["inputs"]["clip"] == ["10", 1]


def test_dict_shaped_widget_values_map_by_key() -> None:
    info = dict(OBJECT_INFO)
    info["VHS_VideoCombine"] = schema(
        "Video Combine",
        {
            "images": ["IMAGE", {}],
            "frame_rate": ["FLOAT", FLOAT],
            "loop_count": ["INT", INT],
            "filename_prefix": ["STRING", {}],
            "format": [["image/gif", "video/h264-mp4"], {}],
            "pingpong": ["BOOLEAN", {}],
            "save_output": ["BOOLEAN", {}],
        },
        ["VHS_FILENAMES"],
        optional={"audio": ["AUDIO", {}], "crf": ["INT", INT]},
    )
    values = {
        "frame_rate": 16,
        "loop_count": 0,
        "filename_prefix": "clip",
        "format": "video/h264-mp4",
        "pingpong": False,
        "save_output": True,
        "crf": 19,
        "videopreview": {"hidden": False, "paused": False, "params": {}},
    }
    doc = document(
        [
            node(1, "LoadImage", [], [out("IMAGE", [1], 0)], ["portrait.png"]),
            node(2, "VHS_VideoCombine", [socket("images", "IMAGE", 1)], [], values),
        ],
        [[1, 1, 0, 2, 0, "IMAGE"]],
    )
    inputs = to_api(doc, info, source="clip.json")["2"]["inputs"]
    assert inputs == {
        "images": ["1", 0],
        "frame_rate": 16,
        "loop_count": 0,
        "filename_prefix": "clip",
        "format": "video/h264-mp4",
        "pingpong": False,
        "save_output": True,
        "crf": 19,
    }


def test_a_control_word_is_a_widget_value_when_the_count_says_so() -> None:
    info = {
        "Custom": schema(
            "Custom", {"seed": ["INT", INT], "label": ["STRING", {}]}, [], output_node=True
        )
    }
    doc = document([node(1, "Custom", [], [], [5, "fixed"])], [])
    assert to_api(doc, info, source="x.json")["1"]["inputs"] == {"seed": 5, "label": "fixed"}
    doc = document([node(1, "Custom", [], [], [5, "fixed", "fixed"])], [])
    assert to_api(doc, info, source="x.json")["1"]["inputs"] == {"seed": 5, "label": "fixed"}


def test_a_list_widget_value_is_wrapped_so_it_cannot_read_as_a_link() -> None:
    info = {"Points": schema("Points", {"points": ["POINTS", {}]}, [], output_node=True)}
    doc = document([node(1, "Points", [widget_input("points", "POINTS")], [], [["a", 1]])], [])
    assert to_api(doc, info, source="x.json")["1"]["inputs"] == {"points": {"__value__": ["a", 1]}}


def find(doc: dict, node_id: int) -> dict:
    return next(n for n in doc["nodes"] if n["id"] == node_id)


def refusal(doc: dict) -> InputError:
    with pytest.raises(InputError) as caught:
        convert(doc)
    error = caught.value
    assert "film.json" in error.message
    assert "Export (API)" in error.hint and "Save (API Format)" in error.hint
    return error


def test_a_node_the_server_lacks_is_refused() -> None:
    doc = sdxl_document()
    doc["nodes"].append(node(40, "UltimateSDUpscale", [], [], [2.0]))
    message = refusal(doc).message
    assert "node 40 (UltimateSDUpscale)" in message and "lacks" in message
    assert "custom node pack" in message


def test_subgraphs_are_refused() -> None:
    doc = sdxl_document()
    doc["definitions"] = {"subgraphs": [{"id": "a1b2", "name": "Upscale stage", "nodes": []}]}
    assert "Upscale stage" in refusal(doc).message
    doc = sdxl_document()
    doc["nodes"].append(node(41, "0f6b1d5e-93a1-4c4e-9b52-6f0e2a1f7c11", [], [], []))
    message = refusal(doc).message
    assert "node 41" in message and "subgraph" in message


def test_a_widget_count_that_does_not_match_the_schema_is_refused() -> None:
    doc = sdxl_document()
    doc["nodes"][4]["widgets_values"] = [0, "fixed", 30, 7.0, "dpmpp_2m", "karras"]
    assert "node 3 (KSampler)" in refusal(doc).message
    doc = kitchen_sink()
    find(doc, 11)["widgets_values"] = ["portrait.png", "upload me"]
    assert "node 11 (LoadImage)" in refusal(doc).message


def test_a_link_missing_from_the_table_is_refused() -> None:
    doc = sdxl_document()
    doc["links"] = [link for link in doc["links"] if link[0] != 9]
    message = refusal(doc).message
    assert "node 9 (SaveImage)" in message and "link 9" in message


def test_muting_a_node_something_needs_is_refused() -> None:
    doc = sdxl_document()
    find(doc, 4)["mode"] = 2
    message = refusal(doc).message
    assert "node 4 (CheckpointLoaderSimple) is muted" in message
    assert "(KSampler)" in message or "(CLIPTextEncode)" in message


def test_bypassing_a_node_without_an_input_of_its_output_type_is_refused() -> None:
    doc = sdxl_document()
    find(doc, 8)["mode"] = 4
    message = refusal(doc).message
    assert "node 8 (VAEDecode)" in message and "IMAGE" in message


def test_the_input_document_is_not_changed() -> None:
    doc = kitchen_sink()
    before = copy.deepcopy(doc)
    convert(doc)
    assert doc == before


def test_a_widget_linked_to_a_muted_node_keeps_its_own_value() -> None:
    # The muted node's type is unknown to the server: muted nodes are dropped unread.
    doc = kitchen_sink()
    doc["nodes"].append(
        node(21, "Seed (rgthree)", [], [out("INT", [26], 0)], [99], mode=2)
    )  # fmt: skip
    doc["links"] = [[26, 21, 0, 3, 1, "INT"] if link[0] == 26 else link for link in doc["links"]]
    assert convert(doc)["3"]["inputs"]["seed"] == 777


def test_a_reroute_loop_is_refused() -> None:
    doc = sdxl_document()
    doc["nodes"].append(
        node(50, "Reroute", [{"name": "", "type": "*", "link": 50}],
             [{"name": "", "type": "IMAGE", "links": [50, 9], "slot_index": 0}])
    )  # fmt: skip
    doc["links"] = [[9, 50, 0, 9, 0, "IMAGE"] if link[0] == 9 else link for link in doc["links"]]
    doc["links"].append([50, 50, 0, 50, 0, "IMAGE"])
    assert "loops" in refusal(doc).message
