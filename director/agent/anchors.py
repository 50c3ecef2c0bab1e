"""The style anchors a keyframe is judged against: the frames whose look it should share.

A run given ``--style-ref`` images is judged against them throughout. Otherwise the film's
anchor (its first keyframe accepted clean, or the one a human chose) judges the shots in its
light, and a shot in another light judges against the first keyframe accepted clean in that
light; the first shot of a light, which has none yet, is judged against the style bible's
palette, as the film's first shot is. A shot's light is the time of day and weather its
environment slot names (night, dawn, dusk, rain, fog; none is daylight), read with the
storyboard's own vocabulary, in English or Chinese.

Why: a night scene graded blue, or a grey rainy one, belongs to the same film as the sunlit
scene that set the anchor, yet its colours are not the day's. Compared with a day frame it fails
the colour check whatever the reroll (the light is in the prompt), and every reroll costs time,
and money on a paid service.
"""

from __future__ import annotations

from pathlib import Path

from director.agent.state import FilmState
from director.records import Plan, Shot
from director.tools.image.scene import read_environment


def light(shot: Shot) -> tuple[str, ...]:
    """The shot's time of day and weather, as its environment slot names them."""
    return read_environment(shot.prompt.environment)[1]


def style_anchors(
    state: FilmState, plan: Plan, shot: Shot, root: Path, style_refs: list[str]
) -> list[str]:
    """Paths of the images ``shot``'s keyframe is compared with for its look; none means the
    style bible's palette."""
    if style_refs:
        return list(style_refs)
    film = state.get("anchors") or []
    if not film:
        return []
    keyframes = state["keyframes"]
    anchor_shot = {path: sid for sid, path in keyframes.items()}.get(film[0])
    want = light(shot)
    if anchor_shot is None or light(plan.shot(anchor_shot)) == want:
        return [str(root / film[0])]
    flagged = set(state.get("flagged") or [])
    for other in plan.shots:
        if (
            other.id != shot.id
            and other.id in keyframes
            and other.id not in flagged
            and light(other) == want
        ):
            return [str(root / keyframes[other.id])]
    return []
