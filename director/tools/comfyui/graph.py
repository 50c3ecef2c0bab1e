"""Where director's values go in a ComfyUI workflow, found by following the graph.

A workflow in API format is ``{node_id: {"class_type", "inputs", "_meta": {"title"}}}``, an
input being a literal or a link ``[source_id, output_index]``. No hand mapping is asked of the
user: from the output nodes back, the sampler nearest the output gives the prompt (its
``positive`` and ``negative`` conditioning followed back to the nodes that hold the text), the
seed (on every sampler of the chain), the latent whose width, height, length and batch size set
the picture, the loaders (checkpoint, LoRA) and the ``LoadImage`` nodes, whose role is the
input they feed: ``start_image`` a first frame, ``end_image`` a last frame, ``pixels`` the image
to edit, a mask the region, anything else a reference. A node titled ``director:<role>``
overrides the guess; a role that cannot be found refuses the workflow before the run, saying
how to title the node.
"""

from __future__ import annotations

import copy
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from director.errors import InputError

Graph = dict[str, dict[str, Any]]

TITLE_PREFIX = "director:"
ROLES = {
    "positive": "the prompt's text",
    "negative": "the negative prompt's text",
    "seed": "the seed",
    "size": "the picture's width and height",
    "frames": "the clip's length in frames",
    "fps": "the clip's frame rate",
    "batch": "the batch size",
    "checkpoint": "the model loader",
    "lora": "a LoRA loader",
    "source": "the image to edit",
    "mask": "the region to repaint",
    "first_frame": "the clip's first frame",
    "last_frame": "the clip's last frame",
    "reference": "a reference image",
    "output": "the node that saves the result",
    "sampler": "the sampler",
}
# What each use of a workflow cannot do without.
# The output first: without one nothing else is found, and naming another role would mislead.
REQUIRED = {
    "image": ("output", "positive", "seed"),
    "edit": ("output", "positive", "seed", "source"),
    "video": ("output", "positive", "seed"),
}

OUTPUT_TYPES = {
    "SaveImage",
    "SaveVideo",
    "SaveAnimatedWEBP",
    "SaveAnimatedPNG",
    "SaveWEBM",
    "VHS_VideoCombine",
}
PREVIEW_TYPES = {"PreviewImage"}
TEXT_INPUTS = ("text", "text_g", "t5xxl", "prompt", "string", "value")
# Encoders with one text per text model (SDXL, Flux, SD3) get the prompt in each.
COMPANION_TEXTS = {"text_g": ("text_l",), "t5xxl": ("clip_l", "clip_g")}
SEED_INPUTS = ("seed", "noise_seed")
SAMPLER_MARKS = (*SEED_INPUTS, "cfg", "noise", "sampler")
LOADER_INPUTS = ("ckpt_name", "unet_name")
IMAGE_LOADERS = {"LoadImage", "LoadImageMask"}
# Inputs the prompt's conditioning travels through, from a sampler back to its text.
CONDITIONING = (
    "positive",
    "negative",
    "conditioning",
    "conditioning_to",
    "conditioning_from",
    "conditioning_1",
    "conditioning_2",
    "cond",
    "guider",
)
LATENT_INPUTS = ("latent_image", "samples", "latent", "latents")
MODEL_INPUTS = ("model", "clip")
SETTINGS = ("sampler_name", "scheduler", "steps", "cfg", "denoise")  # reported, in this order
# The input an image feeds names its role; image-processing nodes pass the role on.
FEEDS = {
    "start_image": "first_frame",
    "end_image": "last_frame",
    "pixels": "source",
    "mask": "mask",
}
# Nodes whose image input is a picture to follow (a face, a look), by part of their type name.
REFERENCE_NODES = ("ipadapter", "clipvision", "instantid", "pulid", "photomaker", "redux")
PASS_THROUGH = {
    "ImageScale",
    "ImageScaleBy",
    "ImageScaleToTotalPixels",
    "ImageResize",
    "ImageBatch",
}


@dataclass(frozen=True)
class Slot:
    """One input of one node: where a value goes."""

    node: str
    input: str


@dataclass
class Roles:
    """The nodes and inputs of a workflow that director fills or reports."""

    positive: list[Slot] = field(default_factory=list)
    negative: list[Slot] = field(default_factory=list)
    seed: list[Slot] = field(default_factory=list)
    size: str | None = None  # the node with width and height
    frames: Slot | None = None
    fps: Slot | None = None
    batch: Slot | None = None
    samplers: list[str] = field(default_factory=list)  # nearest the output first
    checkpoints: list[str] = field(default_factory=list)
    loras: list[str] = field(default_factory=list)
    images: dict[str, list[str]] = field(default_factory=dict)  # role -> LoadImage nodes
    outputs: list[str] = field(default_factory=list)

    def has(self, role: str) -> bool:
        if role in ("source", "mask", "first_frame", "last_frame", "reference"):
            return bool(self.images.get(role))
        if role in ("checkpoint", "lora", "sampler", "output"):
            return bool(getattr(self, role + "s"))
        return bool(getattr(self, role))


def check_api_format(graph: Graph, source: str) -> None:
    for node_id, node in graph.items():
        if not (isinstance(node, dict) and isinstance(node.get("class_type"), str)):
            raise InputError(
                f"Node {node_id!r} of the ComfyUI workflow {source} has no class_type.",
                "Pass the file ComfyUI's Workflow > Export (API) writes.",
            )
        if not isinstance(node.get("inputs", {}), dict):
            raise InputError(
                f"Node {node_id} ({node['class_type']}) of {source} has inputs that are not a map.",
                "Export the workflow again with Workflow > Export (API).",
            )
        for name, value in node.get("inputs", {}).items():
            if is_link(value) and str(value[0]) not in graph:
                raise InputError(
                    f"Node {node_id} ({node['class_type']}) of {source} links its input "
                    f"{name!r} to node {value[0]}, which is not in the workflow.",
                    "Export the workflow again with Workflow > Export (API).",
                )


def is_link(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], str | int)
        and isinstance(value[1], int)
        and not isinstance(value[1], bool)
    )


def title(node: dict) -> str:
    return str((node.get("_meta") or {}).get("title") or "")


def titled_role(node: dict) -> str | None:
    """The role a ``director:<role>`` title gives the node, if it has one."""
    text = title(node).strip()
    if not text.lower().startswith(TITLE_PREFIX):
        return None
    return text[len(TITLE_PREFIX) :].strip().lower().replace("-", "_")


# --- walking the graph ----------------------------------------------------------------------


def links(node: dict) -> Iterator[tuple[str, str, int]]:
    """(input name, source node, output index) of each linked input."""
    for name, value in (node.get("inputs") or {}).items():
        if is_link(value):
            yield name, str(value[0]), value[1]


def upstream(graph: Graph, starts: Iterable[str]) -> dict[str, int]:
    """Every node the ``starts`` depend on, with its distance in links (the starts at 0)."""
    seen = {start: 0 for start in starts}
    queue = deque(seen)
    while queue:
        current = queue.popleft()
        for _, source, _ in links(graph[current]):
            if source not in seen:
                seen[source] = seen[current] + 1
                queue.append(source)
    return seen


def consumers(graph: Graph, node_id: str) -> list[tuple[str, str]]:
    """(node, input name) of every input linked to ``node_id``'s outputs."""
    return [
        (other, name)
        for other, node in graph.items()
        for name, source, _ in links(node)
        if source == node_id
    ]


# --- finding the roles ----------------------------------------------------------------------


def find_roles(graph: Graph, source: str) -> Roles:
    """The roles of a checked API-format graph; titles first, then the graph's shape."""
    titled = _titled(graph, source)
    roles = Roles()
    roles.outputs = titled.get("output") or _outputs(graph)
    if not roles.outputs:
        return roles
    reach = upstream(graph, roles.outputs)
    roles.samplers = titled.get("sampler") or _samplers(graph, reach)
    main = roles.samplers[0] if roles.samplers else None
    roles.positive = _text_slots(graph, titled.get("positive")) or _prompt(graph, main, 0)
    negative = _text_slots(graph, titled.get("negative")) or _prompt(graph, main, 1)
    # A negative made from the positive (ConditioningZeroOut) holds no text of its own:
    # filling it would overwrite the prompt.
    roles.negative = [slot for slot in negative if slot not in roles.positive]
    roles.seed = _seed_slots(graph, titled.get("seed") or _seed_nodes(graph, reach))
    roles.size = _first(titled.get("size")) or _latent(graph, main)
    _latent_extras(graph, roles, titled)
    roles.fps = _named_slot(graph, titled.get("fps") or list(reach), ("fps", "frame_rate"))
    roles.checkpoints = titled.get("checkpoint") or _with_input(graph, reach, LOADER_INPUTS)
    roles.loras = titled.get("lora") or _with_input(graph, reach, ("lora_name",))
    roles.images = _images(graph, reach, titled)
    return roles


def require(roles: Roles, use: str, source: str, *, needs: tuple[str, ...] = ()) -> None:
    """Refuse a workflow that lacks a role its use needs, naming the role and the fix."""
    for role in (*REQUIRED[use], *needs):
        if not roles.has(role):
            raise InputError(
                f"The ComfyUI workflow {source} has no node for {ROLES[role]} "
                f"(role {role!r}), which director needs to use it for {use}s.",
                f"In ComfyUI, title that node 'director:{role}' (right-click > Title), then "
                "export the workflow again with Workflow > Export (API).",
            )


def _titled(graph: Graph, source: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for node_id, node in graph.items():
        role = titled_role(node)
        if role is None:
            continue
        if role not in ROLES:
            raise InputError(
                f"Node {node_id} of the ComfyUI workflow {source} is titled "
                f"{title(node)!r}, and director has no role {role!r}.",
                f"Use one of: {', '.join('director:' + r for r in ROLES)}.",
            )
        found.setdefault(role, []).append(node_id)
    return found


def _outputs(graph: Graph) -> list[str]:
    saved = [n for n, node in graph.items() if node["class_type"] in OUTPUT_TYPES]
    return saved or [n for n, node in graph.items() if node["class_type"] in PREVIEW_TYPES]


def _samplers(graph: Graph, reach: dict[str, int]) -> list[str]:
    """Nodes that sample (or guide sampling) from a positive and a negative conditioning,
    nearest the output first; nodes like WanImageToVideo only hand the conditioning on."""
    found = [n for n in reach if _samples(graph, n)]
    return sorted(found, key=lambda n: (reach[n], n))


def _samples(graph: Graph, node_id: str) -> bool:
    """A sampler or a guider: a positive and a negative and a sampling setting, or one
    conditioning feeding a sampling node's guider (FLUX's BasicGuider)."""
    inputs = graph[node_id].get("inputs") or {}
    if {"positive", "negative"} <= set(inputs):
        return any(k in inputs for k in SAMPLER_MARKS)
    return "conditioning" in inputs and any(
        name == "guider" for _, name in consumers(graph, node_id)
    )


def _prompt(graph: Graph, sampler: str | None, side: int) -> list[Slot]:
    """The text slots the sampler's positive (side 0) or negative (side 1) conditioning comes
    from: followed back through conditioning inputs, taking the matching side of nodes that
    carry both (a pair node's output 0 is the positive, 1 the negative)."""
    if sampler is None:
        return []
    inputs = graph[sampler].get("inputs") or {}
    start = inputs.get(("positive", "negative")[side])
    if start is None and side == 0:  # a guider with one conditioning
        start = inputs.get("conditioning")
    if not is_link(start):
        return []
    queue, seen = deque([(str(start[0]), start[1])]), set()
    while queue:
        node_id, index = queue.popleft()
        if node_id in seen:
            continue
        seen.add(node_id)
        slots = _text_slots(graph, [node_id])
        if slots:
            return slots
        queue.extend(_conditioning_sources(graph[node_id], index))
    return []


def _conditioning_sources(node: dict, index: int) -> list[tuple[str, int]]:
    inputs = node.get("inputs") or {}
    if {"positive", "negative"} <= set(inputs) and index in (0, 1):
        names: tuple[str, ...] = (("positive", "negative")[index],)
    else:
        names = CONDITIONING
    return [(str(inputs[n][0]), inputs[n][1]) for n in names if is_link(inputs.get(n))]


def _text_slots(graph: Graph, nodes: list[str] | None) -> list[Slot]:
    """The literal text input of each node (a text linked from a primitive: the primitive's)."""
    slots = []
    for node_id in nodes or []:
        inputs = graph[node_id].get("inputs") or {}
        for name in TEXT_INPUTS:
            value = inputs.get(name)
            if isinstance(value, str):
                slots.append(Slot(node_id, name))
                companions = COMPANION_TEXTS.get(name, ())
                slots.extend(Slot(node_id, c) for c in companions if isinstance(inputs.get(c), str))
                break
            if is_link(value):
                slots.extend(_text_slots(graph, [str(value[0])]))
                break
    return slots


def _seed_nodes(graph: Graph, reach: dict[str, int]) -> list[str]:
    return sorted(
        (n for n in reach if any(s in (graph[n].get("inputs") or {}) for s in SEED_INPUTS)),
        key=lambda n: (reach[n], n),
    )


def _seed_slots(graph: Graph, nodes: list[str]) -> list[Slot]:
    """Each node's seed input; a seed linked from another node is set on that node."""
    slots: list[Slot] = []
    for node_id in nodes:
        inputs = graph[node_id].get("inputs") or {}
        for name in (*SEED_INPUTS, "value", "int"):
            value = inputs.get(name)
            if is_link(value):
                slots.extend(_seed_slots(graph, [str(value[0])]))
                break
            if isinstance(value, int) and not isinstance(value, bool):
                slots.append(Slot(node_id, name))
                break
    return list(dict.fromkeys(slots))


def _guided(graph: Graph, sampler: str) -> list[str]:
    """The nodes that sample with ``sampler`` when it is a guider (CFGGuider feeding
    SamplerCustomAdvanced): they, not the guider, take the latent, sampler and sigmas."""
    return [node for node, name in consumers(graph, sampler) if name == "guider"]


def _latent(graph: Graph, sampler: str | None) -> str | None:
    """The node, upstream of the sampler's latent, that sets width and height."""
    if sampler is None:
        return None
    queue, seen = deque([sampler, *_guided(graph, sampler)]), set()
    while queue:
        node_id = queue.popleft()
        inputs = graph[node_id].get("inputs") or {}
        if node_id != sampler and _literal_ints(inputs, "width", "height"):
            return node_id
        seen.add(node_id)
        for name in LATENT_INPUTS:
            if is_link(inputs.get(name)) and str(inputs[name][0]) not in seen:
                queue.append(str(inputs[name][0]))
    return None


def _literal_ints(inputs: dict, *names: str) -> bool:
    return all(
        isinstance(inputs.get(n), int) and not isinstance(inputs.get(n), bool) for n in names
    )


def _latent_extras(graph: Graph, roles: Roles, titled: dict[str, list[str]]) -> None:
    """Length and batch size, on the latent node (or on nodes titled for them)."""
    latent = [roles.size] if roles.size else []
    roles.frames = _named_slot(
        graph, titled.get("frames") or latent, ("length", "frames", "num_frames")
    )
    roles.batch = _named_slot(graph, titled.get("batch") or latent, ("batch_size",))


def _named_slot(graph: Graph, nodes: list[str], names: tuple[str, ...]) -> Slot | None:
    for node_id in nodes:
        inputs = graph[node_id].get("inputs") or {}
        for name in names:
            if isinstance(inputs.get(name), int | float) and not isinstance(inputs[name], bool):
                return Slot(node_id, name)
    return None


def _with_input(graph: Graph, reach: dict[str, int], names: tuple[str, ...]) -> list[str]:
    found = [n for n in reach if any(k in (graph[n].get("inputs") or {}) for k in names)]
    return sorted(found, key=lambda n: (-reach[n], n))  # the graph's start first


def _images(graph: Graph, reach: dict[str, int], titled: dict[str, list[str]]) -> dict:
    """LoadImage nodes by role; one whose role cannot be told (a ControlNet's pose or depth
    picture, say) is the workflow's own and stays as the user set it."""
    images: dict[str, list[str]] = {}
    for role in ("source", "mask", "first_frame", "last_frame", "reference"):
        for node_id in titled.get(role, []):
            images.setdefault(role, []).append(node_id)
    placed = {n for nodes in images.values() for n in nodes}
    for node_id in sorted(reach):
        node = graph[node_id]
        if node["class_type"] in IMAGE_LOADERS and node_id not in placed:
            role = "mask" if node["class_type"] == "LoadImageMask" else _fed(graph, node_id)
            if role:
                images.setdefault(role, []).append(node_id)
    return images


def _fed(graph: Graph, node_id: str, depth: int = 0) -> str:
    """The role of an image by the input it feeds, looking through resizing nodes; what the
    picture (output 0) feeds decides before what LoadImage's alpha (output 1) feeds. A picture
    is a reference only where it feeds a node made to follow one (IPAdapter, CLIP vision,
    InstantID, PuLID, PhotoMaker); anywhere else it has no role."""
    fed = sorted(consumers(graph, node_id), key=lambda c: graph[c[0]]["inputs"][c[1]][1])
    for consumer, name in fed:
        if name in FEEDS:
            return FEEDS[name]
        kind = graph[consumer]["class_type"]
        if kind in PASS_THROUGH and depth < 4:
            role = _fed(graph, consumer, depth + 1)
            if role:
                return role
        elif any(mark in kind.lower() for mark in REFERENCE_NODES):
            return "reference"
    return ""


def _first(nodes: list[str] | None) -> str | None:
    return nodes[0] if nodes else None


# --- filling the slots ----------------------------------------------------------------------


def filled(graph: Graph, values: dict[Slot, Any]) -> Graph:
    """A copy of ``graph`` with each slot set to its value."""
    out = copy.deepcopy(graph)
    for slot, value in values.items():
        out[slot.node].setdefault("inputs", {})[slot.input] = value
    return out


def key_parameters(graph: Graph, roles: Roles) -> dict[str, Any]:
    """What a jury reads of a graph: models, LoRAs and strengths, sampler settings, size."""
    inputs = {n: graph[n].get("inputs") or {} for n in graph}
    params: dict[str, Any] = {}
    models = [inputs[n].get(k) for n in roles.checkpoints for k in LOADER_INPUTS if k in inputs[n]]
    if models:
        params["checkpoint"] = ", ".join(str(m) for m in models)
    loras = [f"{inputs[n].get('lora_name')} @ {_strength(inputs[n])}" for n in roles.loras]
    if loras:
        params["lora"] = ", ".join(loras)
    if roles.samplers:
        params.update(_sampler_settings(graph, roles.samplers[-1]))  # the first the latent meets
    seeds = [inputs[s.node].get(s.input) for s in roles.seed]
    if seeds:
        params["seed"] = seeds[0]
    if roles.size:
        size = inputs[roles.size]
        params["size"] = f"{size.get('width')}x{size.get('height')}"
    for name, slot in (("frames", roles.frames), ("fps", roles.fps)):
        if slot:
            params[name] = inputs[slot.node].get(slot.input)
    return params


def _sampler_settings(graph: Graph, sampler: str) -> dict[str, Any]:
    """The sampler's settings; a guider's are spread over the sampling node's sources
    (KSamplerSelect's sampler, BasicScheduler's scheduler, steps and denoise)."""
    guided = _guided(graph, sampler)
    nodes = [sampler, *guided, *(source for g in guided for _, source, _ in links(graph[g]))]
    settings: dict[str, Any] = {}
    for node_id in nodes:
        for name, value in (graph[node_id].get("inputs") or {}).items():
            if name in SETTINGS and not is_link(value):
                settings.setdefault(name, value)
    return {name: settings[name] for name in SETTINGS if name in settings}


def _strength(inputs: dict) -> Any:
    return inputs.get("strength_model", inputs.get("strength"))


def with_lora(graph: Graph, roles: Roles, name: str, strength: float) -> Graph:
    """``graph`` with the style LoRA: set on the loaders titled ``director:lora``, else put
    between each model loader and everything that loaded model feeds (a checkpoint's CLIP
    too), so the workflow's own LoRAs stay as they are."""
    out = copy.deepcopy(graph)
    titled = [n for n in roles.loras if titled_role(out[n]) == "lora"]
    for node_id in titled:
        inputs = out[node_id]["inputs"]
        inputs["lora_name"] = name
        for key in ("strength_model", "strength_clip", "strength"):
            if key in inputs:
                inputs[key] = strength
    if titled:
        return out
    for loader in roles.checkpoints:
        _insert_lora(out, loader, name, strength)
    return out


def _insert_lora(graph: Graph, loader: str, name: str, strength: float) -> None:
    new = _next_id(graph)
    with_clip = graph[loader]["class_type"] != "UNETLoader" and "ckpt_name" in graph[loader].get(
        "inputs", {}
    )
    inputs: dict[str, Any] = {"lora_name": name, "strength_model": strength}
    if with_clip:
        inputs.update(strength_clip=strength, model=[loader, 0], clip=[loader, 1])
    else:
        inputs["model"] = [loader, 0]
    for consumer, key in consumers(graph, loader):
        index = graph[consumer]["inputs"][key][1]
        if index == 0 or (with_clip and index == 1):
            graph[consumer]["inputs"][key] = [new, index]
    graph[new] = {
        "inputs": inputs,
        "class_type": "LoraLoader" if with_clip else "LoraLoaderModelOnly",
        "_meta": {"title": "Style LoRA (added by director)"},
    }


def _next_id(graph: Graph) -> str:
    numbers = [int(n) for n in graph if str(n).isdigit()]
    return str(max(numbers, default=0) + 1)


def parse_lora(text: str) -> tuple[str, float]:
    """``NAME[:STRENGTH]`` -> (name, strength); the strength is 1.0 unless given. A strength
    that is not a number is refused rather than read as part of the file's name."""
    from director.tools.style_lora import parse

    spec = parse(text)
    return spec.name, spec.strength
