"""What a language model answers at each planning stage, and the records built from it.

The model writes only the new words of a stage; director builds the records. Everything a later
stage depends on comes from the approved records, never from the model: ids, indices, beat
names (the structure's), the title card (the story's title), the style slot (the bible's) and
the lead's identity block (the cast's). The arithmetic is director's too: beat and shot lengths
are the model's proportions scaled to the runtime in hundredths of a second, with the offline
planner's bounds (shots 3-8 s, cards 1.5-4 s), so everything adds up exactly.

A broken answer raises ``AnswerError`` with a message written for the model: the planner shows
it to the model once and asks again.

The answers' shapes are in ``schema`` and the checks they all pass in ``checks``; the records
are built in ``story`` (the story and the beat sheet), ``bible`` (the style bible and the cards)
and ``shots`` (the shot list and a repaired slot). Every public name is importable from here.
"""

from director.tools.llm.answers.bible import bible_from
from director.tools.llm.answers.checks import AnswerError, check_language
from director.tools.llm.answers.schema import (
    BeatAnswer,
    BeatSheetAnswer,
    BeatShotsAnswer,
    BibleAnswer,
    CharacterAnswer,
    LineAnswer,
    RepairAnswer,
    ShotAnswer,
    ShotListAnswer,
    StoryAnswer,
    strict_schema,
)
from director.tools.llm.answers.shots import (
    REPAIR_MAX_CHARS,
    ShotBudget,
    camera_slot,
    repaired_slot,
    shot_budgets,
    shots_from,
)
from director.tools.llm.answers.story import (
    MAX_LOCATIONS,
    MAX_PROTAGONISTS,
    BeatSlot,
    beat_sheet_from,
    beat_slots,
    bounded_split,
    story_from,
)

__all__ = [
    "MAX_LOCATIONS",
    "MAX_PROTAGONISTS",
    "REPAIR_MAX_CHARS",
    "AnswerError",
    "BeatAnswer",
    "BeatSheetAnswer",
    "BeatShotsAnswer",
    "BeatSlot",
    "BibleAnswer",
    "CharacterAnswer",
    "LineAnswer",
    "RepairAnswer",
    "ShotAnswer",
    "ShotBudget",
    "ShotListAnswer",
    "StoryAnswer",
    "beat_sheet_from",
    "beat_slots",
    "bible_from",
    "bounded_split",
    "camera_slot",
    "check_language",
    "repaired_slot",
    "shot_budgets",
    "shots_from",
    "story_from",
    "strict_schema",
]
