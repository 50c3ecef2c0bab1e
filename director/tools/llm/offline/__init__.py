"""The offline planner: logline -> story -> beat sheet -> style bible -> shot list, by rules.

No model is called. Vocabularies, names, palettes, structures and sentence patterns live in
``director/prompts/offline/*.json``; every choice among them is drawn from a ``random.Random``
seeded with a sha256 of the inputs, so the same logline, options and seed give the same plan.
Durations are computed in hundredths of a second (integers) so that shots, cards and beats add
up to the runtime exactly.

The story keeps the logline's own words where they can be cut from it (the protagonist as
named, the goal, the object, the places, the turn; see ``language.keeping``); the rules fill in
only what the logline does not say. The planner is in ``planner``; each stage's rules are in their own module (``story``, ``beats``,
``bible``, then ``moments``, ``camera`` and ``shots`` for the shot list), over the story kit
(``kit``) and what every stage shares (``common``). The names other parts of director use are
importable from here.
"""

from director.tools.llm.offline.beats import STRUCTURES, default_structure, resolve_structure
from director.tools.llm.offline.bible import aspect_ratio
from director.tools.llm.offline.common import (
    LINE_MARGIN_S,
    MAX_RUNTIME_S,
    MAX_SHOT_CS,
    MIN_RUNTIME_S,
    MIN_SHOT_CS,
    READING_CPS,
    fill,
    sentence_case,
)
from director.tools.llm.offline.planner import OfflinePlanner

__all__ = [
    "LINE_MARGIN_S",
    "MAX_RUNTIME_S",
    "MAX_SHOT_CS",
    "MIN_RUNTIME_S",
    "MIN_SHOT_CS",
    "READING_CPS",
    "STRUCTURES",
    "OfflinePlanner",
    "aspect_ratio",
    "default_structure",
    "fill",
    "resolve_structure",
    "sentence_case",
]
