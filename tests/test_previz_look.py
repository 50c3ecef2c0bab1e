"""A character keeps its look in every storyboard frame: the animatic is where continuity is
checked, so the lead's coat, hair and skin are a function of the character alone."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from skimage.color import rgb2lab

from director.records import Shot, ShotPrompt, StyleBible
from director.tools.base import ImageRequest
from director.tools.image.look import (
    COLOUR_WORDS,
    STEEL,
    frame_colours,
    look_of,
    palette_ramp,
    part_colours,
    ramp_along,
)
from director.tools.image.previz import render_frame
from director.tools.image.scene import Who, read_scene

SOREN = (
    "a man in his mid forties, lean, wiry build, narrow face with a small mole under the right "
    "eye, shaggy auburn hair tied back with string, wearing a long brown duster coat with frayed "
    "hems, a salt-stained oilskin hat pulled low"
)
MEI = "a woman in her early thirties, freckled face, straight black hair cut at the jaw, wearing a faded red raincoat and heavy boots"
# Places, times, weather and framings a film cuts between: daylight, haze, rain, night, dusk,
# snow, an interior, from eye level and from above.
SHOTS = [
    ("the shore, at sunrise, low gold light", "wide shot, eye level"),
    ("the shore, in bright afternoon sun, in low haze", "wide shot, eye level"),
    ("the shore, at sunset, in steady rain", "wide shot, eye level"),
    ("a city street at night", "medium shot, eye level"),
    ("the abandoned suburbs, at dusk", "close-up, eye level"),
    ("a snowy mountain pass", "full shot, eye level"),
    ("a farm field, at dawn", "medium close-up, eye level"),
    ("inside a kitchen", "medium shot, eye level"),
    ("the desert at noon", "wide shot, high angle"),
]
WARM = ["#1c1410", "#4a3020", "#8c5a32", "#d09a5a", "#f4e0b8"]
KIND = frame_colours("field", (), palette_ramp(WARM))


def ramp_samples(ramp):
    return [ramp_along(ramp, i / 50) for i in range(51)]


def request(environment, camera, index=0, *, subject=SOREN, characters=("Soren",), action=""):
    bible = StyleBible(
        name="test",
        suffix="storyboard",
        negative="",
        palette=WARM,
        aspect_ratio="16:9",
        width=640,
        height=360,
        grain=0.25,
    )
    prompt = ShotPrompt(
        subject=subject,
        action=action or "stands and watches",
        environment=environment,
        camera=camera,
        style=bible.suffix,
    )
    shot = Shot(
        id=f"s{index + 1:03d}",
        beat_id="b01",
        index=index,
        role="wide",
        size="wide",
        angle="eye-level",
        move="static",
        duration_s=4.0,
        prompt=prompt,
        characters=list(characters),
    )
    return ImageRequest(
        shot=shot, bible=bible, seed=7 + index, width=640, height=360, prompt=prompt.render()
    )


def sampled_lab(req: ImageRequest, part: str) -> np.ndarray:
    """The median colour of a part of the main figure as seen in the frame, in CIELAB."""
    frame = render_frame(req)
    pixels = np.asarray(frame.image)[frame.part_mask(part)]
    assert len(pixels) > 100, "the part must be in frame"
    median = np.median(pixels, axis=0) / 255.0
    return rgb2lab(median[None, None])[0, 0]


def spread(labs: list[np.ndarray]) -> tuple[float, float]:
    """The largest colour difference between any two samples: (delta E 1976, hue and chroma
    alone, i.e. the a*b* distance)."""
    pairs = list(itertools.combinations(labs, 2))
    delta_e = max(float(np.linalg.norm(a - b)) for a, b in pairs)
    delta_ab = max(float(np.linalg.norm(a[1:] - b[1:])) for a, b in pairs)
    return delta_e, delta_ab


def test_the_leads_coat_is_the_same_colour_in_every_place_light_and_framing():
    coats = [sampled_lab(request(env, cam, i), "body") for i, (env, cam) in enumerate(SHOTS)]
    delta_e, delta_ab = spread(coats)
    # Night and rain may dim the coat a little (about 10 units of lightness); its hue may not
    # move. Before, the same coat went from L 12 to L 63 (delta E 52) between these shots.
    assert delta_e <= 15, delta_e
    assert delta_ab <= 8, delta_ab


def test_hair_keeps_its_colour_too():
    hair = [
        sampled_lab(request(env, cam, i), "hair")
        for i, (env, cam) in enumerate(SHOTS)
        if "wide" not in cam  # a wide shot's head is a few pixels
    ]
    assert spread(hair)[0] <= 15


def test_the_look_follows_the_words_of_the_identity_block():
    soren = look_of("Soren", SOREN)
    assert soren.coat == COLOUR_WORDS["brown"]
    assert soren.hair == COLOUR_WORDS["auburn"]
    mei = look_of("Mei", MEI)
    assert mei.coat == COLOUR_WORDS["red"] and mei.hair == COLOUR_WORDS["black"]
    zh = look_of(
        "林", "三十出头的女人，身形精瘦，蓬乱的红棕色头发用绳子扎在脑后，身穿下摆磨破的棕色长风衣"
    )
    assert zh.hair == COLOUR_WORDS["auburn"] and zh.coat == COLOUR_WORDS["brown"]
    robot = look_of(
        "K-9",
        "a small humanoid maintenance robot, boxy olive-green body, two amber optical sensors",
    )
    assert robot.metal == COLOUR_WORDS["olive"]
    assert look_of("", "a robot").metal == STEEL


def test_a_character_without_colour_words_is_dressed_by_name_in_the_films_colours():
    assert look_of("Lin", "Lin") == look_of("lin", "Lin, a botanist")
    ramp = palette_ramp(WARM)
    coats = {
        name: part_colours(KIND, look_of(name, name), 1.0, ramp)["body"]
        for name in ("Lin", "Wei", "Ada")
    }
    assert len(set(coats.values())) > 1
    # Clothes no words name are dressed in the film's own colours: near its palette ramp.
    for coat in coats.values():
        assert min(np.linalg.norm(np.subtract(coat, c)) for c in ramp_samples(ramp)) < 12


def test_two_characters_in_one_frame_are_told_apart():
    req = request(
        "a farm field", "wide shot", subject=f"{SOREN}; {MEI}", characters=("Soren", "Mei")
    )
    scene = read_scene(req.shot)
    assert scene.figures == ("human", "human")
    assert scene.who == (Who("Soren", SOREN), Who("Mei", MEI))


def test_someone_in_another_frame_looks_like_themselves_not_like_the_lead():
    soren = sampled_lab(request("a farm field", "medium shot"), "body")
    mei = sampled_lab(
        request("a farm field", "medium shot", subject=MEI, characters=("Mei",)), "body"
    )
    # Muted and graded like the film, yet brown against red (two units is a visible step).
    assert float(np.linalg.norm(soren - mei)) > 5


def test_an_object_subject_is_not_drawn_as_a_person():
    winch = read_scene(
        request("the shore", "wide shot", subject="the rope winch", characters=()).shot
    )
    assert winch.figures == ()
    lin = read_scene(request("the shore", "wide shot", subject="Lin", characters=("Lin",)).shot)
    assert lin.figures == ("human",) and lin.who == (Who("Lin", "Lin"),)


@pytest.mark.parametrize("environment", ["a city street at night", "the shore, in thick fog"])
def test_a_robot_keeps_its_metal_at_night_and_in_fog(environment):
    subject = "a stranded robot, tall and scarred, with blinking blue sensor strips"
    day = sampled_lab(request("the shore", "full shot", subject=subject, characters=()), "metal")
    other = sampled_lab(request(environment, "full shot", subject=subject, characters=()), "metal")
    assert float(np.linalg.norm(day - other)) <= 15
