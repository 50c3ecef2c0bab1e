"""Which language a logline is written in, and what it says, read by rules (no model).

``read_logline`` pulls out the parts a story needs: when and where, who the protagonist is, what
they do or want, what opposes them and the object that matters. English is read with a small
word-class lexicon; Chinese with person and force nouns, the passive 被 and the 的 that ends a
modifier. Both readers accept anything: a missing part stays empty and the planner fills it.

The package holds the look-ups and data files (``lexicon``), the ``Reading`` record
(``reading``), the way in (``logline``), English word forms and sentence shapes
(``english_grammar``), the two readers (``english``, ``chinese``), and ``keeping``, which cuts
the logline's own words for the protagonist, the goal and the turn, so that the story quotes the
filmmaker where the readers' parts would make it guess.
"""

from director.tools.llm.language.english_grammar import (
    base_form,
    gerund,
    is_plural_noun,
    third_person,
)
from director.tools.llm.language.lexicon import (
    detect_language,
    environment_kind,
    lexicon_persons,
    load_data,
    load_vocab,
    person_kind,
    place_kind,
)
from director.tools.llm.language.logline import read_logline
from director.tools.llm.language.reading import Reading

__all__ = [
    "Reading",
    "base_form",
    "detect_language",
    "environment_kind",
    "gerund",
    "is_plural_noun",
    "lexicon_persons",
    "load_data",
    "load_vocab",
    "person_kind",
    "place_kind",
    "read_logline",
    "third_person",
]
