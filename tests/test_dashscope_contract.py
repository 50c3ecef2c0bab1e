"""Contract tests: the requests director's DashScope Wan backends send, as the real ``dashscope``
SDK (2.0.2) serialises them, held against Alibaba's published examples.

The published request bodies are written here as data, each with its source, independently of
director's code and of the fake's own tables: field names, nesting, JSON types and enum values.
A body fits when every field it sends is one a published example (or the reference's request
table, where the example leaves a documented field out) has at the same place with the same JSON
type, every field the examples always carry is there, and every enum value is a published one.
Fields the SDK adds by itself (``input.extend_prompt`` and ``input.function`` on every video
call, ``parameters.is_async`` on ``ImageGeneration.async_call``) are listed as the SDK's. The
last tests hold the fake itself to its strictness: it refuses an unknown field, a renamed
field, a 2.2-style field sent to a 2.7 model and a bad enum, so that the checking cannot quietly
disappear.

Sources ([P]: Alibaba Cloud Model Studio; [Q]: the Qwen Cloud API reference of the same
dashscope endpoints; [SDK]: the dashscope 2.0.2 package):
  [t2i]   [P] Image generation FAQ, the published curl (model wanx2.1-t2i-turbo, input.prompt,
          parameters size "1024*1024" and n): https://www.alibabacloud.com/help/en/model-studio/image-faq ;
          the request table of the text-to-image V2 reference (input.negative_prompt;
          parameters seed, prompt_extend, watermark; the model list):
          https://www.alibabacloud.com/help/en/model-studio/text-to-image-v2-api-reference
  [edit]  [P] General image editing - Wan2.1 (local inpainting sample: function
          description_edit_with_mask, prompt, base_image_url, mask_image_url; parameters n,
          seed, watermark; the function list): https://www.alibabacloud.com/help/en/model-studio/wanx-image-edit
  [i2i]   [Q] Wan 2.5 - Edit an image, the curl: https://docs.qwencloud.com/api-reference/image-generation/wan25-general-image-editing/create-task ;
          [P] Wan2.5 general image editing reference (up to three images; negative_prompt,
          size, seed, watermark): https://www.alibabacloud.com/help/en/model-studio/wan2-5-image-edit-api-reference
  [i2v]   [P] Wan - image to video - first frame (2.1-2.6), the request table (input prompt,
          negative_prompt, img_url; parameters resolution 480P/720P/1080P, duration,
          prompt_extend, seed, watermark): https://www.alibabacloud.com/help/en/model-studio/legacy-image-to-video-api-reference
          (the page's own curl was not retrievable here: the example body is laid out from
          that table as its kf2v sibling's published curl is)
  [kf2v]  [Q] Wan - first and last frames, the curl (model wan2.2-kf2v-flash, input
          first_frame_url, last_frame_url, prompt; parameters resolution "480P",
          prompt_extend): https://docs.qwencloud.com/api-reference/video-generation/wan-image-to-video-first-last-frames/create-task ;
          [P] its reference (negative_prompt, duration, seed, watermark):
          https://www.alibabacloud.com/help/en/model-studio/image-to-video-by-first-and-last-frame-api-reference
  [t2v]   [P] Text-to-video reference (input prompt, negative_prompt; parameters size "W*H"
          from the per-tier size table, duration, prompt_extend, seed, watermark):
          https://help.aliyun.com/zh/model-studio/text-to-video-api-reference (example body laid
          out from that table, as for [i2v])
  [i2v27] [Q] Wan 2.7 image-to-video, the curl: https://platform.qianwenai.com/docs/api-reference/video-generation/wan27-image-to-video/create-task ;
          [P] https://www.alibabacloud.com/help/en/model-studio/image-to-video-general-api-reference
  [t2v27] [Q] Wan 2.7 text-to-video, the curl and "differences from wan2.6" (resolution +
          ratio instead of size; negative_prompt in input):
          https://platform.qianwenai.com/docs/api-reference/video-generation/wan27-text-to-video/create-task
  [r2v27] [Q] Wan 2.7 reference-to-video, the curl (media reference_video, reference_video,
          reference_image; up to five references; an optional first frame in media):
          https://docs.platform.qianwenai.com/api-reference/video-generation/wan27-reference-to-video/create-task
  [img27] [Q] Wan 2.7 - Generate or edit an image, the async curl (model wan2.7-image-pro,
          input.messages [{role user, content [{text}]}], parameters n, size "2K", watermark,
          thinking_mode): https://docs.qwencloud.com/api-reference/image-generation/wan27-image-gen-edit/create-task ;
          [P] the image-edit sample with content [{text}, {image}, {image}]:
          https://www.alibabacloud.com/help/en/model-studio/wan-image-edit-2-5
  [SDK]   dashscope 2.0.2: aigc/video_synthesis.py (adds input.extend_prompt and
          input.function "video-synthesis"), aigc/image_generation.py (async_call leaves
          parameters.is_async true), aigc/image_synthesis.py (edit and wan2.5-i2i models go to
          image2image), VideoSynthesis.MediaType.
  [3rd]   Limits no primary page shows (a 2.7 seed, the 2.7 ratio list beyond "16:9, 9:16 ...",
          the 2.7 image size presets besides "2K"), from third-party copies: UNVERIFIED.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from typing import Any

import pytest

from director.tools import hosted
from director.tools.image.dashscope import DashScopeImage
from director.tools.video.dashscope import DashScopeVideo
from tests.fakes import dashscope_server
from tests.test_dashscope import FAST, clip_request, image_request, picture
from tests.test_openai_contract import merged, misfits

URL = "https://example.com/a.png"


@pytest.fixture
def fake(monkeypatch):
    yield from dashscope_server.serve(monkeypatch)


# --- the published examples ----------------------------------------------------------------------

# [t2i] The published curl, and the documented fields it leaves out.
T2I_EXAMPLE = {
    "model": "wanx2.1-t2i-turbo",
    "input": {"prompt": "A cat running on the grass"},
    "parameters": {"size": "1024*1024", "n": 1},
}
T2I_TABLE = {
    "input": {"negative_prompt": "low resolution"},
    "parameters": {"seed": 42, "prompt_extend": True, "watermark": False},
}
T2I_MODELS = (
    "wan2.5-t2i-preview",
    "wan2.2-t2i-flash",
    "wan2.2-t2i-plus",
    "wanx2.1-t2i-turbo",
    "wanx2.1-t2i-plus",
    "wanx2.0-t2i-turbo",
)
# [edit] The local-inpainting sample, and the table's other parameters.
EDIT_EXAMPLE = {
    "model": "wanx2.1-imageedit",
    "input": {
        "function": "description_edit_with_mask",
        "prompt": "A ceramic rabbit holding a ceramic flower",
        "base_image_url": URL,
        "mask_image_url": URL,
    },
    "parameters": {"n": 1},
}
EDIT_TABLE = {"parameters": {"seed": 42, "watermark": False}}
EDIT_FUNCTIONS = (
    "stylization_all",
    "stylization_local",
    "description_edit",
    "description_edit_with_mask",
    "remove_watermark",
    "expand",
    "super_resolution",
    "colorization",
    "doodle",
    "control_cartoon_feature",
)
# [i2i] The curl, and the reference's other fields.
I2I_EXAMPLE = {
    "model": "wan2.5-i2i-preview",
    "input": {
        "prompt": "Change the floral dress to a vintage-style lace long dress",
        "images": [URL],
    },
    "parameters": {"prompt_extend": True, "n": 1},
}
I2I_TABLE = {
    "input": {"negative_prompt": "low quality"},
    "parameters": {"size": "1280*1280", "seed": 42, "watermark": False},
}
# [SDK] What VideoSynthesis adds to every video call's input.
SDK_VIDEO = {"input": {"extend_prompt": True, "function": "video-synthesis"}}
# [i2v] Laid out from the request table.
I2V_EXAMPLE = {
    "model": "wan2.2-i2v-flash",
    "input": {"prompt": "A cat running on the grass", "negative_prompt": "blur", "img_url": URL},
    "parameters": {
        "resolution": "480P",
        "duration": 5,
        "prompt_extend": True,
        "seed": 42,
        "watermark": False,
    },
}
TIERS = ("480P", "720P", "1080P")
# [kf2v] The curl, and the reference's other fields.
KF2V_EXAMPLE = {
    "model": "wan2.2-kf2v-flash",
    "input": {
        "first_frame_url": "https://wanx.alicdn.com/material/20250318/first_frame.png",
        "last_frame_url": "https://wanx.alicdn.com/material/20250318/last_frame.png",
        "prompt": "Realistic style, a small black cat looks up at the sky curiously",
    },
    "parameters": {"resolution": "480P", "prompt_extend": True},
}
KF2V_TABLE = {
    "input": {"negative_prompt": "blur"},
    "parameters": {"duration": 5, "seed": 42, "watermark": False},
}
# [t2v] Laid out from the request table; the size table per tier.
T2V_EXAMPLE = {
    "model": "wan2.5-t2v-preview",
    "input": {"prompt": "A kitten running in the moonlight", "negative_prompt": "blur"},
    "parameters": {
        "size": "1280*720",
        "duration": 5,
        "prompt_extend": True,
        "seed": 42,
        "watermark": False,
    },
}
T2V_SIZES = (
    *("832*480", "480*832", "624*624"),
    *("1280*720", "720*1280", "960*960", "1088*832", "832*1088"),
    *("1920*1080", "1080*1920", "1440*1440", "1632*1248", "1248*1632"),
)
# [i2v27] The curl: a first frame and a driving audio as media; the table adds a last frame, a
# first clip, a negative prompt in input, and a seed [3rd].
I2V27_EXAMPLE = {
    "model": "wan2.7-i2v",
    "input": {
        "prompt": "A girl sings on a stage",
        "media": [
            {"type": "first_frame", "url": URL},
            {"type": "driving_audio", "url": "https://example.com/a.mp3"},
        ],
    },
    "parameters": {"resolution": "720P", "duration": 10, "prompt_extend": True, "watermark": True},
}
WAN27_TABLE = {"input": {"negative_prompt": "blur"}, "parameters": {"seed": 42}}
I2V27_TYPES = ("first_frame", "last_frame", "driving_audio", "first_clip")
# [r2v27] The curl: two reference videos and a reference image; the page adds a first frame
# (a media item too) and the ratio; negative prompt and seed as for i2v.
R2V27_EXAMPLE = {
    "model": "wan2.7-r2v",
    "input": {
        "prompt": "Video 2 holds Image 3 and plays a soft tune",
        "media": [
            {"type": "reference_video", "url": "https://example.com/1.mp4"},
            {"type": "reference_video", "url": "https://example.com/2.mp4"},
            {"type": "reference_image", "url": URL},
        ],
    },
    "parameters": {
        "resolution": "720P",
        "ratio": "16:9",
        "duration": 10,
        "prompt_extend": False,
        "watermark": True,
    },
}
R2V27_TYPES = ("reference_image", "reference_video", "first_frame")
# [t2v27] The curl.
T2V27_EXAMPLE = {
    "model": "wan2.7-t2v",
    "input": {"prompt": "A kitten running in the moonlight"},
    "parameters": {
        "resolution": "720P",
        "ratio": "16:9",
        "prompt_extend": True,
        "watermark": True,
        "duration": 15,
    },
}
WAN27_TIERS = ("720P", "1080P")
WAN27_RATIOS = ("16:9", "9:16", "1:1", "4:3", "3:4")  # [t2v27] "16:9, 9:16 ..."; [3rd] the rest
# [img27] The async curl (text only) and the edit sample (a text and images); seed [3rd];
# [SDK] async_call's is_async.
IMG27_EXAMPLE = {
    "model": "wan2.7-image-pro",
    "input": {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"text": "Spray the graffiti from image 2 onto the car in image 1"},
                    {"image": URL},
                ],
            }
        ]
    },
    "parameters": {"n": 1, "size": "2K", "watermark": False, "thinking_mode": True},
}
IMG27_TABLE = {"parameters": {"seed": 42}}
SDK_ASYNC = {"parameters": {"is_async": True}}
IMG27_MODELS = ("wan2.7-image-pro", "wan2.7-image")
IMG27_SIZES = ("1K", "2K", "4K")  # [img27] "2K"; [3rd] 1K and 4K

PUBLISHED = {
    "t2i": merged(T2I_EXAMPLE, T2I_TABLE),
    "edit": merged(EDIT_EXAMPLE, EDIT_TABLE),
    "i2i": merged(I2I_EXAMPLE, I2I_TABLE),
    "i2v": merged(I2V_EXAMPLE, SDK_VIDEO),
    "kf2v": merged(KF2V_EXAMPLE, KF2V_TABLE, SDK_VIDEO),
    "t2v": merged(T2V_EXAMPLE, SDK_VIDEO),
    "i2v27": merged(I2V27_EXAMPLE, WAN27_TABLE, SDK_VIDEO),
    "r2v27": merged(R2V27_EXAMPLE, WAN27_TABLE, SDK_VIDEO),
    "t2v27": merged(T2V27_EXAMPLE, WAN27_TABLE, SDK_VIDEO),
    "img27": merged(IMG27_EXAMPLE, IMG27_TABLE, SDK_ASYNC),
}
SIZE = re.compile(r"\d+\*\d+")
DATA_IMAGE = re.compile(r"data:image/(png|jpeg);base64,[A-Za-z0-9+/=]+")
SEEDS = range(0, 2**31)


# --- holding a body against the examples ---------------------------------------------------------


def submitted(fake, path: str) -> dict:
    """The one submission to ``path``, as it arrived: its JSON body, checked for the async
    header every create-task example carries."""
    posts = [r for r in fake.requests if r["method"] == "POST"]
    assert [r["path"] for r in posts] == [f"/api/v1/services/aigc/{path}"]
    assert posts[0]["headers"]["x-dashscope-async"] == "enable"
    assert posts[0]["headers"]["content-type"].startswith("application/json")
    fake.requests.clear()
    return posts[0]["body"]


def assert_fits(body: dict, published: str, required: tuple[str, ...]) -> None:
    """No field outside the published shape, each at its place with its JSON type, the
    required ones present, and the values every Wan request shares in range."""
    assert misfits(body, PUBLISHED[published]) == []
    for dotted in ("model", "input", *required):
        node: Any = body
        for key in dotted.split("."):
            assert key in node, f"{dotted} is missing"
            node = node[key]
    params = body.get("parameters", {})
    assert params.get("seed", 0) in SEEDS
    assert params.get("watermark") in (None, False)  # director never asks for a watermark
    assert params.get("n", 1) == 1  # one image per call, paid once


# --- images ----------------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["wan2.2-t2i-flash", "wanx2.1-t2i-turbo"])
def test_text_to_image_fits_the_published_example(fake, model):
    DashScopeImage(model, **FAST).submit(image_request())
    body = submitted(fake, "text2image/image-synthesis")
    assert_fits(body, "t2i", ("input.prompt", "parameters.size", "parameters.n"))
    assert body["model"] in T2I_MODELS and SIZE.fullmatch(body["parameters"]["size"])
    assert body["parameters"]["prompt_extend"] is False


@pytest.mark.parametrize("region", [None, [40, 20, 160, 120]])
def test_image_edit_fits_the_published_example(fake, tmp_path, region):
    source = str(picture(tmp_path / "source.png"))
    DashScopeImage(**FAST).submit(image_request(edit_source=source, edit_region=region))
    body = submitted(fake, "image2image/image-synthesis")
    assert_fits(body, "edit", ("input.function", "input.prompt", "input.base_image_url"))
    inputs = body["input"]
    assert inputs["function"] in EDIT_FUNCTIONS and DATA_IMAGE.fullmatch(inputs["base_image_url"])
    if region:
        assert inputs["function"] == "description_edit_with_mask"
        assert DATA_IMAGE.fullmatch(inputs["mask_image_url"])
    else:
        assert inputs["function"] == "description_edit" and "mask_image_url" not in inputs


def test_image_to_image_fits_the_published_example(fake, tmp_path):
    refs = [str(picture(tmp_path / f"r{i}.png", seed=i)) for i in range(4)]
    DashScopeImage(**FAST).submit(image_request(references=refs))
    body = submitted(fake, "image2image/image-synthesis")
    assert_fits(body, "i2i", ("input.prompt", "input.images"))
    images = body["input"]["images"]
    assert 1 <= len(images) <= 3 and all(DATA_IMAGE.fullmatch(i) for i in images)
    assert SIZE.fullmatch(body["parameters"]["size"])


@pytest.mark.parametrize("mode", ["text-to-image", "references", "region edit"])
def test_wan27_image_fits_the_published_example(fake, tmp_path, mode):
    refs = [str(picture(tmp_path / f"r{i}.png", seed=i)) for i in range(2)]
    fields = {
        "text-to-image": {},
        "references": {"references": refs},
        "region edit": {
            "edit_source": str(picture(tmp_path / "source.png")),
            "edit_region": [40, 20, 160, 120],
        },
    }[mode]
    DashScopeImage("wan2.7-image", **FAST).submit(image_request(**fields))
    body = submitted(fake, "image-generation/generation")
    assert_fits(body, "img27", ("input.messages", "parameters.size"))
    assert body["model"] in IMG27_MODELS and body["parameters"]["size"] in IMG27_SIZES
    assert body["parameters"]["is_async"] is True  # [SDK] async_call's own parameter
    (message,) = body["input"]["messages"]
    assert message["role"] == "user"
    content = message["content"]
    assert all(len(item) == 1 for item in content)  # each item a text or an image
    assert "text" in content[0] and not any("text" in item for item in content[1:])
    images = [item["image"] for item in content[1:]]
    assert len(images) == {"text-to-image": 0, "references": 2, "region edit": 1}[mode]
    assert all(DATA_IMAGE.fullmatch(i) for i in images)


# --- video ---------------------------------------------------------------------------------


def test_image_to_video_fits_the_published_example(fake, tmp_path):
    DashScopeVideo("wan2.2-i2v-flash", **FAST).submit(clip_request(picture(tmp_path / "k.png")))
    body = submitted(fake, "video-generation/video-synthesis")
    assert_fits(body, "i2v", ("input.img_url", "parameters.resolution"))
    assert body["parameters"]["resolution"] in TIERS and DATA_IMAGE.fullmatch(
        body["input"]["img_url"]
    )
    assert body["input"]["function"] == "video-synthesis"  # [SDK]


def test_first_and_last_frame_fits_the_published_example(fake, tmp_path):
    first, last = picture(tmp_path / "a.png", seed=1), picture(tmp_path / "b.png", seed=2)
    backend = DashScopeVideo("wan2.2-kf2v-flash", **FAST)
    backend.submit(clip_request(first, end_frame=str(last)))
    body = submitted(fake, "image2video/video-synthesis")
    assert_fits(body, "kf2v", ("input.first_frame_url", "input.last_frame_url"))
    assert body["parameters"]["resolution"] in TIERS


def test_text_to_video_fits_the_published_example(fake, tmp_path):
    DashScopeVideo("wan2.5-t2v-preview", **FAST).submit(clip_request(tmp_path / "unused.png"))
    body = submitted(fake, "video-generation/video-synthesis")
    assert_fits(body, "t2v", ("input.prompt", "parameters.size"))
    assert body["parameters"]["size"] in T2V_SIZES


@pytest.mark.parametrize("end_frame", [False, True])
def test_wan27_image_to_video_fits_the_published_example(fake, tmp_path, end_frame):
    key = picture(tmp_path / "k.png")
    extra = {"end_frame": str(picture(tmp_path / "e.png", seed=3))} if end_frame else {}
    DashScopeVideo("wan2.7-i2v", **FAST).submit(clip_request(key, **extra))
    body = submitted(fake, "video-generation/video-synthesis")
    assert_fits(body, "i2v27", ("input.media", "parameters.resolution"))
    media = body["input"]["media"]
    assert [m["type"] for m in media] == ["first_frame", "last_frame"][: 1 + end_frame]
    assert all(m["type"] in I2V27_TYPES and DATA_IMAGE.fullmatch(m["url"]) for m in media)
    assert body["parameters"]["resolution"] in WAN27_TIERS
    assert 2 <= body["parameters"].get("duration", 5) <= 15


def test_wan27_reference_to_video_fits_the_published_example(fake, tmp_path):
    photo = str(picture(tmp_path / "mara.png", size=(400, 400)))
    request = clip_request(
        picture(tmp_path / "k.png"), references=[photo], reference_names=["Mara"]
    )
    DashScopeVideo("wan2.7-r2v", **FAST).submit(request)
    body = submitted(fake, "video-generation/video-synthesis")
    assert_fits(body, "r2v27", ("input.prompt", "input.media", "parameters.resolution"))
    media = body["input"]["media"]
    assert [m["type"] for m in media] == ["reference_image", "first_frame"]
    assert all(m["type"] in R2V27_TYPES and DATA_IMAGE.fullmatch(m["url"]) for m in media)
    references = [m for m in media if m["type"] in ("reference_image", "reference_video")]
    assert 1 <= len(references) <= 5
    assert body["parameters"]["ratio"] in WAN27_RATIOS
    assert body["parameters"]["resolution"] in WAN27_TIERS


def test_wan27_text_to_video_fits_the_published_example(fake, tmp_path):
    DashScopeVideo("wan2.7-t2v", **FAST).submit(clip_request(tmp_path / "unused.png"))
    body = submitted(fake, "video-generation/video-synthesis")
    assert_fits(body, "t2v27", ("input.prompt", "parameters.resolution", "parameters.ratio"))
    assert "media" not in body["input"]
    assert body["parameters"]["ratio"] in WAN27_RATIOS
    assert body["parameters"]["resolution"] in WAN27_TIERS


# --- the fake's own strictness ---------------------------------------------------------------


def sdk(fake):
    import dashscope

    dashscope.base_http_api_url = fake.base_url
    return dashscope


def frame(tmp_path) -> str:
    return hosted.bytes_uri(picture(tmp_path / "f.png", size=(640, 360)).read_bytes(), "image/png")


def refused(fake, rsp, field: str) -> str:
    """The refusal DashScope gives a bad field: 400 InvalidParameter naming it; the fake keeps
    it as a violation, taken here because it was sent on purpose."""
    assert (rsp.status_code, rsp.code) == (400, "InvalidParameter"), rsp
    assert field in rsp.message
    taken = fake.take_violations()
    assert len(taken) == 1 and field in taken[0]["message"]
    return rsp.message


def test_the_fake_refuses_an_unknown_field(fake, tmp_path):
    video = sdk(fake).VideoSynthesis
    rsp = video.async_call(
        model="wan2.2-i2v-flash", api_key=fake.api_key, img_url=frame(tmp_path), fps=24
    )
    refused(fake, rsp, "parameters.fps")
    rsp = video.async_call(
        model="wan2.5-t2v-preview", api_key=fake.api_key, prompt="a cat", extra_input={"style": "x"}
    )
    refused(fake, rsp, "input.style")
    assert not fake.tasks


def test_the_fake_refuses_a_renamed_field(fake, tmp_path):
    video = sdk(fake).VideoSynthesis
    image = frame(tmp_path)
    rsp = video.async_call(
        model="wan2.2-i2v-flash", api_key=fake.api_key, extra_input={"image_url": image}
    )
    refused(fake, rsp, "input.image_url")
    rsp = video.async_call(
        model="wan2.2-kf2v-flash",
        api_key=fake.api_key,
        extra_input={"first_frame": image, "last_frame_url": image},
    )
    refused(fake, rsp, "input.first_frame")
    # Wan 2.7 images: "messages" renamed, or the 2.2 "prompt" field in its place.
    images = sdk(fake).ImageSynthesis
    rsp = images.async_call(model="wan2.7-image", api_key=fake.api_key, prompt="a cat")
    assert "not served by this API" in refused(fake, rsp, "wan2.7-image")


def test_the_fake_refuses_a_22_style_field_sent_to_a_27_model(fake, tmp_path):
    video = sdk(fake).VideoSynthesis
    image = frame(tmp_path)
    rsp = video.async_call(model="wan2.7-i2v", api_key=fake.api_key, img_url=image)
    assert "input.media items" in refused(fake, rsp, "input.img_url")
    rsp = video.async_call(
        model="wan2.7-i2v",
        api_key=fake.api_key,
        first_frame_url=image,
        last_frame_url=image,
    )
    refused(fake, rsp, "input.first_frame_url")
    media = [{"type": "first_frame", "url": image}]
    rsp = video.async_call(model="wan2.7-i2v", api_key=fake.api_key, media=media, size="1280*720")
    refused(fake, rsp, "parameters.size")
    rsp = video.async_call(
        model="wan2.7-r2v", api_key=fake.api_key, prompt="Image 1 is Mara", reference_urls=[image]
    )
    refused(fake, rsp, "input.reference_urls")


def test_the_fake_refuses_a_bad_enum(fake, tmp_path):
    video = sdk(fake).VideoSynthesis
    image = frame(tmp_path)
    rsp = video.async_call(
        model="wan2.2-i2v-flash", api_key=fake.api_key, img_url=image, resolution="720p"
    )
    refused(fake, rsp, "parameters.resolution")
    media = [{"type": "first_frame", "url": image}]
    for bad in ({"resolution": "480P"}, {"ratio": "21:9"}):  # 2.7 has 720P/1080P; r2v's ratios
        rsp = video.async_call(
            model="wan2.7-r2v",
            api_key=fake.api_key,
            prompt="Image 1 is Mara",
            media=[{"type": "reference_image", "url": image}, *media],
            **bad,
        )
        refused(fake, rsp, f"parameters.{next(iter(bad))}")
    rsp = video.async_call(
        model="wan2.7-i2v", api_key=fake.api_key, media=[{"type": "first_image", "url": image}]
    )
    refused(fake, rsp, "input.media[0].type")
    rsp = video.async_call(model="wan2.7-i2v", api_key=fake.api_key, media=media, ratio="16:9")
    refused(fake, rsp, "parameters.ratio")  # i2v takes its aspect from the frame
    rsp = sdk(fake).ImageSynthesis.async_call(
        model="wanx2.1-imageedit", api_key=fake.api_key, prompt="red hair",
        function="description_edit_with_brush", base_image_url=image,
    )  # fmt: skip
    refused(fake, rsp, "input.function")


def test_the_fake_refuses_an_unknown_top_level_field_and_a_bad_type(fake):
    def post(body: dict) -> tuple[int, dict]:
        sent = urllib.request.Request(
            f"{fake.base_url}/services/aigc/text2image/image-synthesis",
            data=json.dumps(body).encode(),
            headers={
                "Authorization": f"Bearer {fake.api_key}",
                "Content-Type": "application/json",
                "X-DashScope-Async": "enable",
            },
        )
        try:
            with urllib.request.urlopen(sent, timeout=10) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read())

    body = {"model": "wan2.2-t2i-flash", "input": {"prompt": "a cat"}}
    assert post(body)[0] == 200
    status, answer = post({**body, "parameter": {"n": 1}})
    assert (status, answer["code"]) == (400, "InvalidParameter") and "parameter" in answer[
        "message"
    ]
    status, answer = post({**body, "parameters": {"n": "1"}})
    assert status == 400 and "parameters.n must be an integer" in answer["message"]
    status, answer = post({**body, "parameters": {"prompt_extend": 1}})
    assert status == 400 and "parameters.prompt_extend must be a boolean" in answer["message"]
    assert len(fake.take_violations()) == 3


def test_a_model_the_account_may_not_use_answers_as_the_service_does(fake, tmp_path):
    from dashscope.aigc.image_generation import ImageGeneration

    fake.models.discard("wan2.7-image-pro")
    sdk(fake)
    rsp = ImageGeneration.async_call(
        model="wan2.7-image-pro",
        api_key=fake.api_key,
        messages=[{"role": "user", "content": [{"text": "a cat"}]}],
    )
    # The return-status-code table: https://help.aliyun.com/zh/dashscope/return-status-code-description
    assert (rsp.status_code, rsp.code, rsp.message) == (
        403,
        "AccessDenied.Unpurchased",
        "Access to model denied. Please make sure you are eligible for using the model.",
    )
    assert not fake.violations  # an account's answer, not a broken request
    fake.denied_model = (403, "AccessDenied", "Access denied.")  # the knob: another answer
    rsp = sdk(fake).ImageSynthesis.async_call(
        model="wan2.7-image-pro", api_key=fake.api_key, prompt="a cat"
    )
    assert (rsp.status_code, rsp.code) == (403, "AccessDenied")


def test_leaving_the_fake_with_a_violation_fails_the_test(tmp_path):
    with (
        pytest.raises(AssertionError, match="input.image_url"),
        dashscope_server.FakeDashScope() as f,
    ):
        sdk(f).VideoSynthesis.async_call(
            model="wan2.2-i2v-flash", api_key=f.api_key, extra_input={"image_url": frame(tmp_path)}
        )


# --- the fake's answers for Wan 2.7 ----------------------------------------------------------


def test_a_wan27_clip_has_the_tier_the_aspect_and_the_length_asked_for(fake, tmp_path):
    from director.tools.assemble.probe import probe

    video = sdk(fake).VideoSynthesis
    portrait = hosted.bytes_uri(
        picture(tmp_path / "p.png", size=(360, 640)).read_bytes(), "image/png"
    )
    asks = [
        ("wan2.7-i2v", {"media": [{"type": "first_frame", "url": portrait}]}, (720, 1280)),
        ("wan2.7-t2v", {"prompt": "a cat", "ratio": "1:1"}, (960, 960)),
    ]
    for model, fields, size in asks:
        rsp = video.async_call(
            model=model, api_key=fake.api_key, resolution="720P", duration=3, **fields
        )
        assert rsp.status_code == 200, rsp.message
        done = video.fetch(rsp.output.task_id, api_key=fake.api_key)
        assert done.output.task_status == "SUCCEEDED"
        published = {  # [i2v27] query-result: usage's fields
            "duration": 3,
            "input_video_duration": 0,
            "output_video_duration": 3,
            "video_count": 1,
            "SR": 720,
        }
        assert {k: done.usage[k] for k in published} == published
        name = done.output.video_url.split("/files/", 1)[1].split("?")[0]
        info = probe(fake.file(name))
        assert (info.width, info.height) == size and abs(info.duration_s - 3) < 0.1
