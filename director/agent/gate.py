"""The run's critique gate, built from whatever the critic registry holds.

Every registered critic (built-ins and plugins alike, see ``director.tools.critics.registered``)
is built once for the run from its options, the image backend and the cast; those that judge
keyframes make the keyframe gate, those that judge clips check every frame the clip gate samples.
One instance serves both, so a critic's work done once (a reference face found) is done once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from director.agent.configuration import RunOptions
from director.records import Character
from director.tools.base import Critic, ImageBackend
from director.tools.critics.registered import (
    AttemptKind,
    CriticSetup,
    build,
    critic_classes,
    judges,
)
from director.tools.critics.thresholds import CLIP_GATE, for_critic


def setup(options: RunOptions, image: ImageBackend, cast: Sequence[Character]) -> CriticSetup:
    """What the registered critics are built from for this run."""
    return CriticSetup(
        thresholds=options.thresholds,
        cast=list(cast),
        image_backend=image.name,
        renders_faces=image.renders_faces,
        clip_model=options.clip_model,
        clip_weights=options.clip_weights,
        insightface_root=options.insightface_root,
    )


def critics(
    options: RunOptions,
    image: ImageBackend,
    cast: Sequence[Character],
    kinds: Sequence[AttemptKind] = ("keyframe", "clip"),
) -> list[Critic]:
    """Every registered critic that judges one of ``kinds``, built for this run, in the
    registry's order; a critic with nothing to judge in this film (identity without a cast) is
    left out."""
    given = setup(options, image, cast)
    wanted = [c for c in critic_classes().values() if any(judges(c, k) for k in kinds)]
    return [critic for critic in (build(c, given) for c in wanted) if critic is not None]


def keyframe_critics(built: Sequence[Critic]) -> list[Critic]:
    return [c for c in built if judges(c, "keyframe")]


def clip_gate(options: RunOptions, built: Sequence[Critic]) -> Any:
    """The clip gate: flicker and continuity on each clip, and every critic of ``built`` that
    judges clips on the frames it samples."""
    from director.tools.critics.clipgate import ClipGate

    frame_critics = [c for c in built if judges(c, "clip")]
    return ClipGate(frame_critics, **for_critic(options.thresholds, CLIP_GATE))


def for_run(
    options: RunOptions, image: ImageBackend, cast: Sequence[Character], given: dict
) -> dict[str, Any]:
    """The keyframe critics and the clip gate of this run, each unless ``given`` already holds
    it (library use and tests): ``{"critics": [...], "clip_gate": ClipGate}``."""
    needed = {"critics": "keyframe", "clip_gate": "clip"}
    kinds = [kind for key, kind in needed.items() if key not in given]
    if not kinds:
        return {}
    built = critics(options, image, cast, kinds)
    made: dict[str, Any] = {}
    if "critics" not in given:
        made["critics"] = keyframe_critics(built)
    if "clip_gate" not in given:
        made["clip_gate"] = clip_gate(options, built)
    return made
