"""The workflows director runs on ComfyUI: a built-in one by name, or the user's own file.

A file may be in API format (Workflow > Export (API)) or in the UI format ComfyUI saves by
default; the UI format is converted with the server's node schemas (``/object_info``). Either
way the graph is checked, its roles found (``director.tools.comfyui.graph``), and what it
loads (node types, checkpoints, LoRAs, encoders) looked up on the server before the run, so
a missing model is named up front rather than at the first keyframe.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from director.errors import InputError, ProviderError
from director.files import read_json_object
from director.tools.comfyui import graph as graphs
from director.tools.comfyui.graph import Graph, Roles
from director.tools.comfyui.ui_format import API_HINT, is_ui_format, to_api

# Built-in workflow -> what it is used for.
BUILTINS = {
    "sdxl": "image",
    "flux": "image",
    "inpaint": "edit",
    "wan2.2-i2v": "video",
    "wan2.2-t2v": "video",
}
DEFAULTS = {"image": "sdxl", "edit": "inpaint", "video": "wan2.2-i2v"}
EXPORT_HINT = API_HINT
# Inputs that name files on the server, and what the files are, for messages.
MODEL_INPUTS = {
    "ckpt_name": "checkpoint (models/checkpoints)",
    "unet_name": "diffusion model (models/diffusion_models)",
    "lora_name": "LoRA (models/loras)",
    "vae_name": "VAE (models/vae)",
    "clip_name": "text encoder (models/text_encoders)",
    "clip_name1": "text encoder (models/text_encoders)",
    "clip_name2": "text encoder (models/text_encoders)",
    "control_net_name": "ControlNet (models/controlnet)",
}


@dataclass(frozen=True)
class Workflow:
    """A checked workflow: its name as given, the graph, and its roles."""

    name: str
    source: str  # "built-in sdxl" or the file's path
    graph: Graph
    roles: Roles


def load(spec: str, use: str, object_info: Any = None) -> Workflow:
    """The workflow ``spec`` names (a built-in name or a file), checked for ``use`` ("image",
    "edit" or "video"); ``object_info`` is a callable giving the server's node schemas, asked
    only for a UI-format file."""
    spec = (spec or DEFAULTS[use]).strip()
    if spec in BUILTINS:
        data, source = _builtin(spec, use), f"built-in {spec}"
    else:
        data, source = _file(spec), spec
    data = _unwrapped(data, source)
    if is_ui_format(data):
        data = to_api(data, _schemas(object_info, source), source=source)
    graphs.check_api_format(data, source)
    roles = graphs.find_roles(data, source)
    graphs.require(roles, use, source)
    return Workflow(name=spec, source=source, graph=data, roles=roles)


def _builtin(name: str, use: str) -> dict:
    if BUILTINS[name] != use:
        kinds = [n for n, u in BUILTINS.items() if u == use]
        raise InputError(
            f"The built-in ComfyUI workflow {name!r} makes {BUILTINS[name]}s, not {use}s.",
            f"For {use}s use one of: {', '.join(kinds)}, or a workflow file of your own.",
        )
    text = resources.files("director.tools.comfyui").joinpath("workflows", f"{name}.json")
    return json.loads(text.read_text(encoding="utf-8"))


def _file(spec: str) -> dict:
    path = Path(spec).expanduser()
    if not path.exists():
        raise InputError(
            f"No built-in ComfyUI workflow is named {spec!r}, and there is no file {path}.",
            f"Use one of: {', '.join(BUILTINS)}, or the path of a workflow exported from "
            "ComfyUI with Workflow > Export (API).",
        )
    return read_json_object(path, "The ComfyUI workflow", EXPORT_HINT)


def _unwrapped(data: dict, source: str) -> dict:
    """The graph of a file, which may be a saved /prompt body with the graph inside."""
    if isinstance(data.get("prompt"), dict) and "class_type" not in data["prompt"]:
        data = data["prompt"]
    if not data:
        raise InputError(f"The ComfyUI workflow {source} holds no nodes.", EXPORT_HINT)
    return data


def _schemas(object_info: Any, source: str) -> dict:
    if object_info is None:
        raise InputError(
            f"The ComfyUI workflow {source} is in the UI format, which director converts with "
            "the server's node list, and no server is at hand.",
            EXPORT_HINT,
        )
    try:
        return object_info()
    except ProviderError as exc:
        raise InputError(
            f"The ComfyUI workflow {source} is in the UI format, which director converts with "
            f"the server's node list, and the server cannot be asked: {exc.message}",
            EXPORT_HINT,
        ) from None


# --- what the server lacks --------------------------------------------------------------------


def missing_on_server(graph: Graph, info: dict[str, Any]) -> list[str]:
    """What ``graph`` needs that the server's ``/object_info`` does not list: node types, and
    the model files its loaders name."""
    missing = []
    for node_id, node in graph.items():
        schema = info.get(node["class_type"])
        if not isinstance(schema, dict):
            missing.append(f"node type {node['class_type']} (node {node_id})")
            continue
        for name, value in (node.get("inputs") or {}).items():
            if graphs.is_link(value):
                continue  # a name computed by another node: only the server can check it
            choices = _choices(schema, name)
            if name in MODEL_INPUTS and choices is not None and value not in choices:
                missing.append(f"{MODEL_INPUTS[name]} {value}")
    return list(dict.fromkeys(missing))


def _choices(schema: dict, name: str) -> list | None:
    """The allowed values of a combo input (both schema shapes), None for other inputs."""
    inputs = schema.get("input") or {}
    for group in ("required", "optional"):
        spec = (inputs.get(group) or {}).get(name)
        if not isinstance(spec, list | tuple) or not spec:
            continue
        if isinstance(spec[0], list):
            return spec[0]
        if spec[0] == "COMBO" and len(spec) > 1 and isinstance(spec[1], dict):
            return list(spec[1].get("options") or [])
    return None


def server_loras(info: dict[str, Any]) -> list[str]:
    """The LoRA files the server's LoRA loaders list (its models/loras, subfolders as
    ``sub/name``); none when it has no LoRA loader."""
    for loader in ("LoraLoader", "LoraLoaderModelOnly"):
        schema = info.get(loader)
        if isinstance(schema, dict):
            return [str(name) for name in _choices(schema, "lora_name") or []]
    return []


def check_on_server(workflows: list[Workflow], info: dict[str, Any], url: str) -> None:
    """Refuse, before the run, workflows the server cannot run, naming all it lacks."""
    missing = [item for wf in workflows for item in missing_on_server(wf.graph, info)]
    if missing:
        raise ProviderError(
            f"ComfyUI at {url} lacks what the workflows need: {'; '.join(dict.fromkeys(missing))}.",
            "Put the model files in those folders of the ComfyUI install (or install the node "
            "pack), restart it, and run again; director doctor lists what the server has.",
        )
