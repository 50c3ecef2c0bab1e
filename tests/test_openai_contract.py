"""Contract tests: the requests director's OpenAI and DashScope (compatible-mode) backends send,
as the real ``openai`` SDK serialises them, held against the providers' published examples.

The published shapes are written here as data, each with its source, independently of director's
code and of the fake's own tables: field names, nesting, JSON types and enum values. A body fits
when every field it sends is one a published example has at the same place with the same JSON
type, every field the examples always carry is there, and every enum value is a published one.
The last tests hold the fake itself to its strictness: it refuses an unknown field, a renamed
field and a bad enum, so that the checking cannot quietly disappear.

Sources:
  [chat]  OpenAI API reference, Create chat completion (request body, the Default example):
          https://platform.openai.com/docs/api-reference/chat/create
  [so]    OpenAI Structured Outputs guide (the REST example with response_format json_schema,
          and JSON mode): https://developers.openai.com/api/docs/guides/structured-outputs
  [img]   OpenAI Image generation guide (generate; edit with several image[] parts; edit with a
          mask; input_fidelity; sizes and qualities):
          https://developers.openai.com/api/docs/guides/image-generation
  [imgr]  OpenAI API reference, Create image / Create image edit (the curl examples):
          https://platform.openai.com/docs/api-reference/images/create ,
          https://platform.openai.com/docs/api-reference/images/createEdit
  [sdk]   openai 3.63.0's typed params, generated from OpenAI's published OpenAPI spec
          (openai/types/chat/completion_create_params.py, image_generate_params.py,
          image_edit_params.py, ...): every field and Literal enum the API defines.
  [ds]    DashScope compatible mode, "OpenAI Chat" reference (text input example, parameters
          passed through extra_body, seed 0 to 2^31-1):
          https://www.alibabacloud.com/help/en/model-studio/qwen-api-via-openai-chat-completions
          (https://help.aliyun.com/zh/model-studio/use-qwen-by-calling-api),
          https://www.alibabacloud.com/help/en/model-studio/compatibility-of-openai-with-dashscope
  [dsj]   DashScope structured output (JSON mode needs the word JSON in a message):
          https://www.alibabacloud.com/help/en/model-studio/qwen-structured-output
"""

from __future__ import annotations

import io
import json
import typing
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import openai
import pytest
from PIL import Image

from director.tools.image.openai_images import OpenAIImage
from director.tools.llm.openai_planner import CompatiblePlanner, DashScopePlanner, OpenAIPlanner
from tests.fakes import openai_server as fake_server
from tests.fakes.openai_server import FakeOpenAI, Request
from tests.test_openai_images import picture
from tests.test_openai_images import request as image_request
from tests.test_openai_planner import EN, STORY, plan_with, screenwriter

OBJECT = {"<any JSON object>": None}  # a user-defined object (a JSON schema): not a field list

# --- the published examples --------------------------------------------------------------------

# [so] The Structured Outputs REST example ("math_reasoning"): model, a system and a user
# message, response_format {type: json_schema, json_schema: {name, schema, strict}}.
OPENAI_STRUCTURED_EXAMPLE = {
    "model": "gpt-4o-2024-08-06",
    "messages": [
        {
            "role": "system",
            "content": "You are a helpful math tutor. Guide the user through the solution "
            "step by step.",
        },
        {"role": "user", "content": "how can I solve 8x + 7 = -23"},
    ],
    "response_format": {
        "type": "json_schema",
        "json_schema": {"name": "math_reasoning", "schema": OBJECT, "strict": True},
    },
}
# [so] JSON mode: response_format {"type": "json_object"}.
OPENAI_JSON_MODE_EXAMPLE = {"response_format": {"type": "json_object"}}
# [chat] A conversation carries the model's earlier turn as an assistant message with string
# content; seed is an integer (request body: "seed integer or null").
OPENAI_CONVERSATION_EXAMPLE = {
    "messages": [{"role": "assistant", "content": "Hello there, how may I assist you today?"}],
    "seed": 12345,
}
# [ds] The text-input example: qwen-plus, a system and a user message, and
# extra_body={"enable_thinking": False}, which the SDK sends as a top-level field; seed an
# integer; JSON mode as in [dsj]; json_schema as in OpenAI's shape ([dsj]).
DASHSCOPE_EXAMPLE = {
    "model": "qwen-plus",
    "messages": [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "Who are you?"},
        {"role": "assistant", "content": "I am Qwen."},
    ],
    "enable_thinking": False,
    "seed": 12345,
    "response_format": {
        "type": "json_schema",
        "json_schema": {"name": "answer", "schema": OBJECT, "strict": True},
    },
}
DASHSCOPE_JSON_MODE_EXAMPLE = {"response_format": {"type": "json_object"}}

# [imgr] Create image: {"model": "gpt-image-1.5", "prompt": "A cute baby sea otter", "n": 1,
# "size": "1024x1024"}; [img] quality low/medium/high/auto.
IMAGE_GENERATE_EXAMPLE = {
    "model": "gpt-image-1.5",
    "prompt": "A cute baby sea otter",
    "n": 1,
    "size": "1024x1024",
    "quality": "medium",
}
# [imgr] Create image edit, multipart: -F "model=gpt-image-1.5" -F "image[]=@body-lotion.png"
# -F "image[]=@bath-bomb.png" ... -F 'prompt=Create a lovely gift basket ...'; [img] with a mask:
# -F "mask=@mask.png" -F "image[]=@sunlit_lounge.png"; [img] input_fidelity="high"; size,
# quality and n as for generations. Text parts (name -> JSON type) and file parts:
IMAGE_EDIT_TEXT_PARTS = {
    "model": "string",
    "prompt": "string",
    "size": "string",
    "quality": "string",
    "n": "integer",
    "input_fidelity": "string",
}
IMAGE_EDIT_FILE_PARTS = {"image[]", "mask"}

# The enums, as published.
ROLES = ("system", "developer", "user", "assistant", "tool", "function")  # [chat] message types
RESPONSE_FORMAT_TYPES = ("text", "json_object", "json_schema")  # [chat] response_format
DASHSCOPE_RESPONSE_FORMAT_TYPES = ("text", "json_object", "json_schema")  # [ds][dsj]
GPT_IMAGE_QUALITIES = ("low", "medium", "high", "auto")  # [img] Quality options
GPT_IMAGE_SIZES = ("1024x1024", "1536x1024", "1024x1536", "auto")  # [img][sdk] standard sizes
INPUT_FIDELITIES = ("high", "low")  # [img][sdk] input_fidelity
SCHEMA_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")  # [sdk]
DASHSCOPE_SEEDS = range(0, 2**31)  # [ds] "seed: 0 to 2^31-1"


# --- holding a body against the examples ---------------------------------------------------------


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    return {int: "integer", float: "number", str: "string", list: "array", dict: "object"}[
        type(value)
    ]


def misfits(sent: Any, published: Any, path: str = "body") -> list[str]:
    """Where ``sent`` leaves the published shape: fields the examples do not have at that
    place, and values of another JSON type."""
    if published is OBJECT:
        return [] if isinstance(sent, dict) else [f"{path} is {json_type(sent)}, not an object"]
    if json_type(sent) != json_type(published):
        return [f"{path} is {json_type(sent)}; published as {json_type(published)}"]
    if isinstance(sent, dict):
        found = [f"{path}.{k} is not a published field" for k in sent if k not in published]
        for key in sent.keys() & published.keys():
            found += misfits(sent[key], published[key], f"{path}.{key}")
        return found
    if isinstance(sent, list):
        found = []
        for i, item in enumerate(sent):
            tries = [misfits(item, p, f"{path}[{i}]") for p in published]
            found += [] if any(not t for t in tries) else min(tries, key=len)
        return found
    return []


def merged(*examples: dict) -> dict:
    """One example document from several: the union of their fields (lists concatenated)."""
    out: dict = {}
    for example in examples:
        for key, value in example.items():
            if isinstance(value, dict) and isinstance(out.get(key), dict) and value is not OBJECT:
                out[key] = merged(out[key], value)
            elif isinstance(value, list) and isinstance(out.get(key), list):
                out[key] = out[key] + value
            else:
                out[key] = value
    return out


OPENAI_CHAT = merged(
    OPENAI_STRUCTURED_EXAMPLE, OPENAI_JSON_MODE_EXAMPLE, OPENAI_CONVERSATION_EXAMPLE
)
DASHSCOPE_CHAT = merged(DASHSCOPE_EXAMPLE, DASHSCOPE_JSON_MODE_EXAMPLE)


def assert_chat_body_fits(body: dict, published: dict, formats: tuple[str, ...]) -> None:
    assert misfits(body, published) == []
    assert {"model", "messages"} <= body.keys()  # in every published example
    assert all(m["role"] in ROLES for m in body["messages"])
    assert all(isinstance(m["content"], str) and m["content"] for m in body["messages"])
    form = body["response_format"]
    assert form["type"] in formats
    if form["type"] == "json_schema":
        name = form["json_schema"]["name"]
        assert 0 < len(name) <= 64 and set(name) <= SCHEMA_NAME_CHARS
        assert form["json_schema"]["schema"]["type"] == "object"  # [so] the root is an object
    else:
        # [dsj] (and OpenAI's JSON mode): the word JSON in some message
        assert "json" in json.dumps(body["messages"], ensure_ascii=False).lower()


def as_arrived(request: Request) -> dict:
    """The JSON body as the fake received it, parsed from the raw bytes."""
    assert request.headers["content-type"].startswith("application/json")
    return json.loads(request.raw)


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture
def fake(tmp_path, monkeypatch):
    config = tmp_path / "config.toml"
    config.write_text("")
    monkeypatch.setenv("DIRECTOR_CONFIG", str(config))
    for name in ("DASHSCOPE_API_KEY", "DASHSCOPE_HTTP_BASE_URL", "DIRECTOR_DASHSCOPE_REGION"):
        monkeypatch.delenv(name, raising=False)
    with FakeOpenAI() as server:
        monkeypatch.setenv("OPENAI_API_KEY", server.api_key)
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("DASHSCOPE_API_KEY", server.api_key)
        monkeypatch.setenv("DASHSCOPE_HTTP_BASE_URL", f"{server.root}/api/v1")
        yield server


def drive_planner(fake: FakeOpenAI, planner) -> None:
    """Every kind of chat request the planner sends: the four planning stages with structured
    outputs, a repair, a retry that carries the model's bad answer back, and, after the server
    refuses json_schema, JSON mode."""
    fake.chat_handler = screenwriter
    plan = plan_with(planner)
    shot = next(s for s in plan.shots if s.characters)
    planner.repair_slot(shot, shot.prompt.slots(), "action", ["prompt: 0.18 below 0.22"])
    fake.chat_handler = None
    fake.script("not json at all", STORY)
    planner.develop(EN, language="en", seed=7)
    fake.reject_json_schema = True
    fake.script("Sure! {", STORY)
    planner.develop(EN, language="en", seed=7)


# --- the planner ----------------------------------------------------------------------------


def test_openai_planner_requests_fit_the_published_chat_examples(fake):
    drive_planner(fake, OpenAIPlanner("gpt-4.1-mini"))
    sent = [as_arrived(r) for r in fake.chat_requests() if r.refusal is None]
    assert len(sent) >= 9 and all(r.path == "/v1/chat/completions" for r in fake.chat_requests())
    for body in sent:
        assert_chat_body_fits(body, OPENAI_CHAT, RESPONSE_FORMAT_TYPES)
        assert "enable_thinking" not in body  # DashScope's field, not OpenAI's
        stage = body["response_format"].get("json_schema", {}).get("name")
        assert body.get("seed") == (None if stage == "repair_slot" else 7)  # repairs take none
    kinds = {b["response_format"]["type"] for b in sent}
    roles = {m["role"] for b in sent for m in b["messages"]}
    assert kinds == {"json_schema", "json_object"} and roles == {"system", "user", "assistant"}
    names = {
        b["response_format"]["json_schema"]["name"]
        for b in sent
        if "json_schema" in b["response_format"]
    }
    assert names == {"develop", "beat_sheet", "bible", "shot_list", "repair_slot"}
    # The only refusal is the scripted json_schema one; nothing broke the contract.
    assert fake.violations == []


def test_dashscope_planner_requests_fit_the_published_compatible_mode_examples(fake):
    drive_planner(fake, DashScopePlanner())
    requests = [r for r in fake.chat_requests() if r.refusal is None]
    assert requests and all(r.path == "/compatible-mode/v1/chat/completions" for r in requests)
    for body in map(as_arrived, requests):
        assert_chat_body_fits(body, DASHSCOPE_CHAT, DASHSCOPE_RESPONSE_FORMAT_TYPES)
        # extra_body={"enable_thinking": False} arrives as a top-level boolean, as in [ds]
        assert body["enable_thinking"] is False and body["model"] == "qwen-plus"
        assert body.get("seed", 0) in DASHSCOPE_SEEDS
    assert fake.violations == []


@pytest.mark.parametrize("seed", [-1, 2**31, 2**40 + 3])
def test_dashscope_planner_keeps_any_run_seed_in_dashscopes_range(fake, seed):
    # The CLI takes any integer for --seed; DashScope takes 0 to 2^31-1 [ds].
    fake.script(STORY)
    DashScopePlanner().develop(EN, language="en", seed=seed)
    sent = as_arrived(fake.chat_requests()[-1])["seed"]
    assert sent in DASHSCOPE_SEEDS and sent == seed % 2**31  # the same run seed, the same seed
    assert fake.violations == []


def test_compatible_planner_sends_only_openai_fields(fake, monkeypatch):
    monkeypatch.setenv("DIRECTOR_COMPATIBLE_API_KEY", fake.api_key)
    drive_planner(fake, CompatiblePlanner(f"{fake.base_url}#qwen2.5:7b"))
    for body in map(as_arrived, [r for r in fake.chat_requests() if r.refusal is None]):
        assert_chat_body_fits(body, OPENAI_CHAT, RESPONSE_FORMAT_TYPES)
        assert body["model"] == "qwen2.5:7b"
    assert fake.violations == []


# --- the image backend ------------------------------------------------------------------------


def test_image_generation_fits_the_published_example(fake, tmp_path):
    OpenAIImage().generate(image_request(), tmp_path / "k.png")
    (sent,) = fake.image_requests()
    body = as_arrived(sent)
    assert sent.path == "/v1/images/generations"
    assert misfits(body, IMAGE_GENERATE_EXAMPLE) == []
    assert {"model", "prompt"} <= body.keys()
    assert body["quality"] in GPT_IMAGE_QUALITIES and body["size"] in GPT_IMAGE_SIZES
    assert body["n"] == 1 and "seed" not in body and "negative_prompt" not in body
    assert fake.violations == []


def parts_of(request: Request) -> tuple[dict[str, str], list]:
    assert request.headers["content-type"].startswith("multipart/form-data")
    return request.fields(), [p for p in request.parts if p.filename is not None]


def test_image_edit_with_references_and_a_mask_fits_the_published_examples(fake, tmp_path):
    source = picture(tmp_path / "keyframe.png", 320, 180)
    refs = [picture(tmp_path / "a.png", 200, 260), picture(tmp_path / "b.png", 180, 240)]
    edit = image_request(
        references=refs, reference_strength=0.8, edit_source=source, edit_region=(40, 20, 200, 160)
    )
    OpenAIImage().generate(edit, tmp_path / "k.png")
    OpenAIImage().generate(image_request(references=refs), tmp_path / "r.png")
    repaint, references = fake.image_requests()
    for sent in (repaint, references):
        assert sent.path == "/v1/images/edits"
        fields, files = parts_of(sent)
        assert set(fields) <= IMAGE_EDIT_TEXT_PARTS.keys() and {"model", "prompt"} <= set(fields)
        assert {p.name for p in files} <= IMAGE_EDIT_FILE_PARTS
        assert int(fields["n"]) == 1 and str(int(fields["n"])) == fields["n"]  # an integer
        assert fields["quality"] in GPT_IMAGE_QUALITIES and fields["size"] in GPT_IMAGE_SIZES
        assert fields.get("input_fidelity", "high") in INPUT_FIDELITIES
        assert all(Image.open(io.BytesIO(p.data)).format == "PNG" for p in files)

    fields, files = parts_of(repaint)
    images = [p for p in files if p.name == "image[]"]
    (mask,) = [p for p in files if p.name == "mask"]
    assert len(images) == 3 and fields["input_fidelity"] == "high"
    # [img] the mask applies to the first image, has an alpha channel and the image's size:
    # the image to repaint goes first.
    first = Image.open(io.BytesIO(images[0].data))
    drawn = Image.open(io.BytesIO(mask.data))
    assert "A" in drawn.getbands() and drawn.size == first.size
    assert first.size == tuple(map(int, fields["size"].split("x")))
    assert {p.name for p in parts_of(references)[1]} == {"image[]"}  # no mask without a region
    assert fake.violations == []


# --- the fake's tables come from the published spec -------------------------------------------


def typed_keys(typed_dict) -> set[str]:
    return set(typing.get_type_hints(typed_dict, include_extras=True))


def literal_values(typed_dict, field: str) -> set[str]:
    hint = typing.get_type_hints(typed_dict)[field]
    found: set[str] = set()
    stack = [hint]
    while stack:
        node = stack.pop()
        if typing.get_origin(node) is typing.Literal:
            found |= set(typing.get_args(node))
        else:
            stack.extend(typing.get_args(node))
    return found


def test_every_field_and_enum_the_fake_accepts_is_one_the_sdk_types_define():
    from openai.types import image_edit_params, image_generate_params
    from openai.types.chat import completion_create_params as chat

    chat_params = chat.CompletionCreateParamsNonStreaming
    assert typed_keys(chat_params) >= fake_server.CHAT_FIELDS
    assert not set(fake_server.DASHSCOPE_CHAT_FIELDS) & typed_keys(chat_params)
    for name, values in fake_server.CHAT_ENUMS.items():
        assert set(values) <= literal_values(chat_params, name), name

    from openai.types.chat import chat_completion_message_param as messages

    by_role = {
        typing.get_args(typing.get_type_hints(m)["role"])[0]: typed_keys(m)
        for m in typing.get_args(messages.ChatCompletionMessageParam)
    }
    assert {role: frozenset(k) for role, k in by_role.items()} == fake_server.MESSAGE_FIELDS

    generate = image_generate_params.ImageGenerateParamsNonStreaming
    edit = image_edit_params.ImageEditParamsNonStreaming
    assert typed_keys(generate) >= fake_server.IMAGE_GENERATE_FIELDS
    flattened = {"image[]", "svg[model]", "svg[reasoning][effort]"}  # multipart spellings
    assert fake_server.IMAGE_EDIT_FIELDS - flattened <= typed_keys(edit)
    for name, values in fake_server.IMAGE_ENUMS.items():
        params = edit if name == "input_fidelity" else generate
        assert set(values) <= literal_values(params, name), name
    assert set(fake_server.GPT_IMAGE_QUALITIES) <= literal_values(edit, "quality")
    assert set(fake_server.GPT_IMAGE_SIZES) <= literal_values(edit, "size")


# --- the fake refuses what the published API refuses -------------------------------------------


def client(fake: FakeOpenAI, *, compatible: bool = False) -> openai.OpenAI:
    base = f"{fake.root}/compatible-mode/v1" if compatible else fake.base_url
    return openai.OpenAI(api_key=fake.api_key, base_url=base, max_retries=0)


def refusal(call) -> dict:
    with pytest.raises(openai.BadRequestError) as err:
        call()
    assert err.value.status_code == 400
    assert set(err.value.body) == {"message", "type", "param", "code"}  # OpenAI's error body
    assert err.value.body["type"] == "invalid_request_error"
    return err.value.body


MESSAGES = [{"role": "user", "content": "Answer in JSON: hello"}]


def chat(fake: FakeOpenAI, *, compatible: bool = False, **fields) -> dict:
    fields = {"model": "gpt-4.1-mini", "messages": MESSAGES, **fields}
    return refusal(lambda: client(fake, compatible=compatible).chat.completions.create(**fields))


def test_the_fake_refuses_an_unknown_field(fake):
    body = chat(fake, extra_body={"temprature": 0.2})
    assert (body["param"], body["code"]) == ("temprature", "unknown_parameter")
    assert body["message"] == "Unknown parameter: 'temprature'."
    nested = chat(fake, messages=[{**MESSAGES[0], "index": 0}])
    assert (nested["param"], nested["code"]) == ("messages[0].index", "unknown_parameter")
    assert len(fake.take_violations()) == 2


def test_the_fake_refuses_renamed_fields(fake, tmp_path):
    # response_format's json_schema renamed, its schema renamed (the tools spelling), and
    # DashScope's field sent to OpenAI
    renamed = {"type": "json_schema", "schema": {"name": "x", "schema": {"type": "object"}}}
    assert chat(fake, response_format=renamed)["param"] == "response_format.schema"
    spelled = {"type": "json_schema", "json_schema": {"name": "x", "parameters": {}}}
    assert chat(fake, response_format=spelled)["param"] == "response_format.json_schema.parameters"
    assert chat(fake, extra_body={"enable_thinking": False})["param"] == "enable_thinking"
    # DeepSeek's spelling of the thinking switch on DashScope, which names it enable_thinking
    body = chat(fake, compatible=True, extra_body={"thinking": {"type": "disabled"}})
    assert body["param"] == "thinking" and body["code"] == "invalid_parameter_error"
    assert body["message"].startswith("<400> InternalError.Algo.InvalidParameter:")
    # on the edit endpoint: images[] for image[], and a negative prompt it does not take
    png = Path(picture(tmp_path / "p.png", 64, 64)).read_bytes()
    status, error = post_multipart(
        fake, {"model": "gpt-image-1.5", "prompt": "p"}, {"images[]": png}
    )
    assert (status, error["param"], error["code"]) == (400, "images[]", "unknown_parameter")
    negative = refusal(
        lambda: client(fake).images.edit(
            model="gpt-image-1.5",
            image=[("a.png", png, "image/png")],
            prompt="p",
            extra_body={"negative_prompt": "text"},
        )
    )
    assert negative["param"] == "negative_prompt"
    assert len(fake.take_violations()) == 6


def test_the_fake_refuses_bad_enums_and_shapes(fake, tmp_path):
    assert chat(fake, response_format={"type": "json"})["code"] == "invalid_value"
    role = chat(fake, messages=[{"role": "narrator", "content": "hi"}])
    assert (role["param"], role["code"]) == ("messages[0].role", "invalid_value")
    part = chat(fake, messages=[{"role": "system", "content": [{"type": "image_url"}]}])
    assert part["param"] == "messages[0].content[0].type"
    nameless = chat(fake, response_format={"type": "json_schema", "json_schema": {"schema": {}}})
    assert nameless["code"] == "missing_required_parameter"
    loose = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}
    form = {"type": "json_schema", "json_schema": {"name": "x", "schema": loose, "strict": True}}
    assert chat(fake, response_format=form)["code"] == "invalid_json_schema"
    assert chat(fake, seed="7")["code"] == "invalid_type"
    images = client(fake).images
    for field, value in [
        ("quality", "hd"),
        ("size", "1024*1024"),
        ("size", "1280x720"),
        ("background", "clear"),
    ]:
        body = refusal(
            lambda f=field, v=value: images.generate(model="gpt-image-1.5", prompt="p", **{f: v})
        )
        assert (body["param"], body["code"]) == (field, "invalid_value"), (field, value)
    png = Path(picture(tmp_path / "p.png", 64, 64)).read_bytes()
    fidelity = refusal(
        lambda: images.edit(model="gpt-image-1.5", image=[png], prompt="p", input_fidelity="medium")
    )
    assert fidelity["param"] == "input_fidelity"
    small = io.BytesIO()
    Image.new("RGBA", (32, 32)).save(small, format="PNG")
    mask = refusal(
        lambda: images.edit(model="gpt-image-1.5", image=[png], mask=small.getvalue(), prompt="p")
    )
    assert (mask["param"], mask["code"]) == ("mask", "invalid_image_file")
    assert len(fake.take_violations()) == 12


def test_dashscope_fields_and_seed_range_hold_only_on_the_compatible_path(fake):
    fake.script("{}", "{}")
    ds = client(fake, compatible=True).chat.completions
    ds.create(model="qwen-plus", messages=MESSAGES, extra_body={"enable_thinking": False})
    openai_seed = 2**31  # an int64 for OpenAI, out of DashScope's range
    client(fake).chat.completions.create(model="gpt-4.1-mini", messages=MESSAGES, seed=openai_seed)
    body = chat(fake, compatible=True, model="qwen-plus", seed=openai_seed)
    assert body["param"] == "seed" and "2147483647" in body["message"]
    assert len(fake.take_violations()) == 1


def test_json_mode_needs_the_word_json(fake):
    fields = {
        "messages": [{"role": "user", "content": "hello"}],
        "response_format": {"type": "json_object"},
    }
    body = chat(fake, **fields)
    assert body["message"].startswith("'messages' must contain the word 'json'")
    dashscope = chat(fake, compatible=True, **fields)
    assert dashscope["message"].startswith("<400> InternalError.Algo.InvalidParameter: 'messages'")
    assert len(fake.take_violations()) == 2


def test_leaving_the_fake_with_a_violation_fails_the_test():
    failed = pytest.raises(AssertionError, match="Unknown parameter: 'temprature'")
    with failed, FakeOpenAI() as fake:
        chat(fake, extra_body={"temprature": 0.2})


def post_multipart(fake: FakeOpenAI, fields: dict[str, str], files: dict[str, bytes]):
    """A hand-written multipart POST to the edit endpoint (the SDK cannot misname a part)."""
    boundary = "contract-boundary"
    chunks = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    ]
    for name, data in files.items():
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="a.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        )
        chunks.append(head.encode() + data + b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode())
    sent = urllib.request.Request(
        f"{fake.base_url}/images/edits",
        data=b"".join(chunks),
        headers={
            "Authorization": f"Bearer {fake.api_key}",
            "Content-Type": f"multipart/form-data; boundary={boundary}",
        },
    )
    try:
        with urllib.request.urlopen(sent, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())["error"]
