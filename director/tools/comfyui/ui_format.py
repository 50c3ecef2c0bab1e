"""ComfyUI's saved workflow (the litegraph UI document) turned into the API format the server runs.

Users hand the tool either what ComfyUI's "Save" writes (nodes, links, widget values in display
order) or what "Export (API)" writes (``{id: {"class_type", "inputs", "_meta"}}``). The server
only accepts the second, so the first is converted here with the server's own node schemas
(``GET /object_info``): widget values are matched to the schema's widget inputs in order, links
are resolved through the link table, and the frontend-only nodes (Reroute, PrimitiveNode, notes)
and node modes (muted, bypassed) are applied the way the frontend applies them on export.
Anything that cannot be converted faithfully is refused with the way to export the API format.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from director.errors import InputError

API_HINT = (
    "In ComfyUI, use Workflow > Export (API) (File > Export Workflow (API) in the newest "
    "frontends; older builds show it only once Settings > Comfy > Dev mode is on, and the legacy "
    "menu calls it Save (API Format) after enabling Dev mode Options), then pass that file."
)

# Input types the frontend draws as widgets, whose values live in ``widgets_values``.
WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
# The values of the UI-only "control after generate" widget that follows a seed.
CONTROL_VALUES = {"fixed", "randomize", "increment", "decrement"}
# Some files keep the value of LoadImage's upload button ("image") after the file name.
UPLOAD_VALUES = {"image", "video", "audio", None}
# Nodes that exist only in the frontend and never reach the server.
NOTE_TYPES = {"Note", "MarkdownNote"}
REROUTE, PRIMITIVE = "Reroute", "PrimitiveNode"
MUTED, BYPASSED = 2, 4
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)


def is_ui_format(workflow: dict) -> bool:
    """True for the litegraph document ComfyUI's Save writes: a list of nodes and of links."""
    return (
        isinstance(workflow, dict)
        and isinstance(workflow.get("nodes"), list)
        and isinstance(workflow.get("links"), list)
    )


def is_api_format(workflow: dict) -> bool:
    """True for the graph Export (API) writes: every value a node with a class and inputs."""
    if not isinstance(workflow, dict) or not workflow:
        return False
    return all(
        isinstance(node, dict) and "class_type" in node and "inputs" in node
        for node in workflow.values()
    )


def to_api(workflow: dict, object_info: dict, *, source: str) -> dict:
    """The API-format graph for ``workflow`` (either format), checked against ``object_info``.

    ``source`` names the file in error messages. Raises InputError for anything that cannot be
    converted faithfully (see the module docstring)."""
    if is_api_format(workflow):
        return workflow
    if not is_ui_format(workflow):
        raise InputError(
            f"{source} is not a ComfyUI workflow: it has neither nodes and links (Save) nor "
            "nodes with class_type and inputs (Export (API)).",
            API_HINT,
        )
    return _Converter(workflow, object_info, source).convert()


@dataclass(frozen=True)
class _Link:
    origin: str
    slot: int
    target: str
    type: str


@dataclass(frozen=True)
class _Source:
    """Where an input's value comes from once the frontend-only nodes are seen through: a link
    to a real node, a literal (a PrimitiveNode's value), or nothing (``cut_by`` says why)."""

    link: list | None = None
    literal: Any = None
    has_literal: bool = False
    cut_by: str = ""


class _Converter:
    def __init__(self, workflow: dict, object_info: dict, source: str) -> None:
        self.workflow = workflow
        self.info = object_info
        self.source = source
        self.nodes = {str(node.get("id")): node for node in workflow["nodes"]}
        self.links = dict(_read_link(entry, source) for entry in workflow["links"])

    def convert(self) -> dict:
        self._refuse_subgraphs()
        return {
            str(node["id"]): self._node(node) for node in self.workflow["nodes"] if _emitted(node)
        }

    def _refuse(self, message: str) -> InputError:
        return InputError(f"{self.source}: {message}", API_HINT)

    def _refuse_subgraphs(self) -> None:
        definitions = self.workflow.get("definitions") or {}
        subgraphs = (definitions.get("subgraphs") or []) if isinstance(definitions, dict) else []
        if subgraphs:
            names = ", ".join(str(s.get("name") or s.get("id")) for s in subgraphs)
            raise self._refuse(
                f"the workflow holds subgraphs ({names}), which cannot be converted."
            )

    def _node(self, node: dict) -> dict:
        kind = node.get("type")
        schema = self._schema(node)
        inputs = self._inputs(node, schema)
        title = node.get("title") or schema.get("display_name") or kind
        return {"inputs": inputs, "class_type": kind, "_meta": {"title": title}}

    def _schema(self, node: dict) -> dict:
        kind = str(node.get("type"))
        if kind in self.info:
            return self.info[kind]
        where = f"node {node.get('id')} ({kind})"
        if UUID.match(kind):
            raise self._refuse(f"{where} is a subgraph, which cannot be converted.")
        if kind in ((self.workflow.get("extra") or {}).get("groupNodes") or {}):
            raise self._refuse(f"{where} is a group node, which cannot be converted.")
        raise self._refuse(
            f"{where}: the ComfyUI server lacks the node type {kind!r}. Install the custom "
            "node pack that provides it and restart the server, or export the API format."
        )

    def _inputs(self, node: dict, schema: dict) -> dict:
        specs = _ordered_specs(schema)
        by_name = {e.get("name"): e for e in node.get("inputs") or [] if isinstance(e, dict)}
        widgets = [name for name, (spec, _) in specs.items() if _is_widget(spec, by_name.get(name))]
        values = self._widget_values(node, widgets, specs)
        inputs: dict = {}
        for name, (_, required) in specs.items():
            self._fill(inputs, node, name, by_name.get(name), values, required)
        for name, entry in by_name.items():
            if name not in specs:
                self._fill(inputs, node, name, entry, {}, False)
        return inputs

    def _fill(self, inputs: dict, node: dict, name: str, entry, values: dict, required: bool):
        """Set ``inputs[name]`` from the input's link when it has one, else its widget value."""
        link_id = entry.get("link") if entry else None
        found = self._resolve(link_id, node, set()) if link_id is not None else _Source()
        if found.link is not None:
            inputs[name] = found.link
        elif found.has_literal:
            inputs[name] = _literal(found.literal)
        elif name in values:
            # Unlinked, or linked to a node that is gone: the frontend sends the widget's value.
            inputs[name] = _literal(values[name])
        elif required and found.cut_by:
            raise self._refuse(
                f"{_describe(node)} needs its input {name!r}, but {found.cut_by}, so nothing "
                "feeds it. Unmute or reconnect that node, or connect the input to another node."
            )

    def _widget_values(self, node: dict, widgets: list[str], specs: dict) -> dict:
        values = node.get("widgets_values")
        if values is None:
            values = []
        if isinstance(values, dict):
            return {name: values[name] for name in widgets if name in values}
        slots = [slot for name in widgets for slot in _slots(name, specs[name][0])]
        matched = _match(slots, list(values))
        if matched is None:
            raise self._refuse(
                f"node {node.get('id')} ({node.get('type')}) has {len(values)} widget values, "
                f"which do not match the server's widget inputs ({', '.join(widgets) or 'none'}): "
                "the node's version on the server differs from the one that saved the workflow."
            )
        return matched

    def _resolve(self, link_id, consumer: dict, seen: set) -> _Source:
        """Follow a link back through Reroutes, PrimitiveNodes and bypassed nodes."""
        link = self._link(link_id, consumer)
        if _link_key(link_id) in seen:
            raise self._refuse(f"link {link_id} loops through Reroute or bypassed nodes.")
        seen.add(_link_key(link_id))
        origin = self.nodes.get(link.origin)
        if origin is None:
            raise self._refuse(f"link {link_id} starts at node {link.origin}, which is missing.")
        kind = origin.get("type")
        if kind == REROUTE:
            return self._through(origin, _input_link(origin, 0), seen)
        if kind == PRIMITIVE:
            return self._primitive(origin)
        mode = origin.get("mode", 0)
        if mode == MUTED:
            return _Source(cut_by=f"{_describe(origin)} is muted")
        if mode == BYPASSED:
            return self._through(origin, self._bypass_input(origin, link), seen)
        return _Source(link=[link.origin, link.slot])

    def _link(self, link_id, consumer: dict) -> _Link:
        link = self.links.get(_link_key(link_id))
        if link is None:
            raise self._refuse(
                f"node {consumer.get('id')} ({consumer.get('type')}) uses link {link_id}, "
                "which the file's link table lacks."
            )
        return link

    def _through(self, node: dict, link_id, seen: set) -> _Source:
        if link_id is None:
            return _Source(cut_by=f"{_describe(node)} has nothing connected to pass on")
        return self._resolve(link_id, node, seen)

    def _primitive(self, node: dict) -> _Source:
        values = node.get("widgets_values")
        if not isinstance(values, list) or not values:
            raise self._refuse(f"{_describe(node)} has no value to give its targets.")
        return _Source(literal=values[0], has_literal=True)

    def _bypass_input(self, node: dict, link: _Link):
        """The bypassed node's input that stands in for its output: the input in the same slot
        when its type matches, else the first input of the output's type."""
        wanted = _output_type(node, link, self.info)
        entries = [e for e in node.get("inputs") or [] if isinstance(e, dict)]
        same = entries[link.slot] if link.slot < len(entries) else None
        if same is not None and same.get("type") == wanted:
            return same.get("link")
        for entry in entries:
            if entry.get("type") == wanted:
                return entry.get("link")
        raise self._refuse(
            f"{_describe(node)} is bypassed, but none of its inputs has the type {wanted} of "
            "the output its consumers use. Unbypass it or remove it."
        )


def _read_link(entry, source: str) -> tuple[str, _Link]:
    """A links-table row, as a list ``[id, from, from_slot, to, to_slot, type]`` or an object."""
    if isinstance(entry, dict):
        keys = ("id", "origin_id", "origin_slot", "target_id", "target_slot", "type")
        entry = [entry.get(key) for key in keys]
    if not isinstance(entry, list) or len(entry) < 5:
        raise InputError(f"{source}: the links table holds a malformed row {entry!r}.", API_HINT)
    link_id, origin, slot, target = entry[:4]
    kind = entry[5] if len(entry) > 5 else ""
    if not isinstance(slot, int):
        raise InputError(f"{source}: link {link_id} has no output slot number.", API_HINT)
    return _link_key(link_id), _Link(str(origin), slot, str(target), str(kind))


def _link_key(link_id) -> str:
    return str(link_id)


def _emitted(node: dict) -> bool:
    kind = node.get("type")
    if kind in NOTE_TYPES or kind in (REROUTE, PRIMITIVE):
        return False
    return node.get("mode", 0) not in (MUTED, BYPASSED)


def _describe(node: dict) -> str:
    return f"node {node.get('id')} ({node.get('type')})"


def _input_link(node: dict, index: int):
    entries = node.get("inputs") or []
    return entries[index].get("link") if index < len(entries) else None


def _output_type(node: dict, link: _Link, info: dict) -> str:
    outputs = node.get("outputs") or []
    if link.slot < len(outputs) and outputs[link.slot].get("type"):
        return str(outputs[link.slot]["type"])
    schema_outputs = (info.get(str(node.get("type"))) or {}).get("output") or []
    if link.slot < len(schema_outputs) and isinstance(schema_outputs[link.slot], str):
        return schema_outputs[link.slot]
    return link.type


def _ordered_specs(schema: dict) -> dict[str, tuple[list, bool]]:
    """Every input of the schema, required then optional, in ``input_order`` when given."""
    declared = schema.get("input") or {}
    order = schema.get("input_order") or {}
    specs: dict[str, tuple[list, bool]] = {}
    for section in ("required", "optional"):
        group = declared.get(section) or {}
        names = [n for n in order.get(section) or [] if n in group]
        names += [n for n in group if n not in names]
        for name in names:
            specs[name] = (_as_spec(group[name]), section == "required")
    return specs


def _as_spec(spec) -> list:
    if isinstance(spec, (list, tuple)):
        return list(spec) + [{}] if len(spec) == 1 else list(spec)
    return [spec, {}]


def _options(spec: list) -> dict:
    return spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}


def _is_widget(spec: list, entry: dict | None) -> bool:
    # An input the schema forces to be a socket has no widget and no saved value.
    if _options(spec).get("forceInput"):
        return False
    kind = spec[0]
    if isinstance(kind, list) or kind in WIDGET_TYPES:
        return True
    return bool(entry and entry.get("widget"))


Slot = tuple[str, str, list]  # (input | control | upload, input name, the input's spec)


def _slots(name: str, spec: list) -> list[Slot]:
    """The values a widget input occupies in ``widgets_values``: its own, then any UI-only one
    the frontend saves after it (recognisable, and absent from some files)."""
    slots = [("input", name, spec)]
    options = _options(spec)
    seedlike = spec[0] == "INT" and name in ("seed", "noise_seed")
    if options.get("control_after_generate", seedlike):
        slots.append(("control", name, spec))
    if any(key.endswith("_upload") and value for key, value in options.items()):
        slots.append(("upload", name, spec))
    return slots


def _fits(slot: Slot, value) -> bool:
    """Whether ``value`` can be the slot's: a UI-only value only when it is recognisably one,
    an input's value when its JSON type suits the input's type (so a skipped UI-only slot
    cannot shift the values of the inputs after it)."""
    role, _, spec = slot
    if role == "control":
        return isinstance(value, str) and value in CONTROL_VALUES
    if role == "upload":
        return (value is None or isinstance(value, str)) and value in UPLOAD_VALUES
    kind = spec[0]
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "INT":
        return number and float(value).is_integer()
    if kind == "FLOAT":
        return number
    if kind == "BOOLEAN":
        return isinstance(value, bool)
    if kind == "STRING" or isinstance(kind, list):
        return isinstance(value, str) or (isinstance(kind, list) and value in kind)
    return True


def _match(slots: list[Slot], values: list) -> dict | None:
    """Assign ``values`` to ``slots`` so every value is used: each input takes one value that
    fits it, and a UI-only slot takes one only when the value is recognisably its own. None
    when no assignment exists."""
    memo: dict[tuple[int, int], dict | None] = {}

    def walk(s: int, v: int) -> dict | None:
        if (s, v) not in memo:
            memo[(s, v)] = step(s, v)
        return memo[(s, v)]

    def step(s: int, v: int) -> dict | None:
        if s == len(slots):
            return {} if v == len(values) else None
        fits = v < len(values) and _fits(slots[s], values[v])
        if slots[s][0] == "input":
            rest = walk(s + 1, v + 1) if fits else None
            return None if rest is None else {slots[s][1]: values[v], **rest}
        taken = walk(s + 1, v + 1) if fits else None
        return taken if taken is not None else walk(s + 1, v)

    return walk(0, 0)


def _literal(value):
    # A list literal would read as a link [node, slot]; the frontend wraps it the same way.
    return {"__value__": value} if isinstance(value, list) else value
