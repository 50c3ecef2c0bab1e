"""Read a shot's prompt slots into what a storyboard frame shows.

The slot text drives the frame: people edit the camera and environment slots by hand, so the
size, angle, place and subject are read back from the words (English or Chinese) with the
vocabularies in ``director/prompts/vocab``; the shot's own ``size`` and ``angle`` fields are
used only when the camera slot names none.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from director import prompts
from director.records import Shot

HUMAN, ROBOT, MACHINE, PLANT = "human", "robot", "machine", "plant"
POSES = ("stand", "walk", "run", "kneel", "reach", "raise", "sit")
MAX_FIGURES = 5


@dataclass(frozen=True)
class Who:
    """Who a figure is: a character's name and identity block, or (for someone the plan does not
    name) the words that describe them. Their look is drawn from this alone."""

    name: str
    description: str
    place: int = 0  # which of several unnamed people described alike


@dataclass(frozen=True)
class Scene:
    """What to draw, read from the slots; every field is plain data so tests can inspect it."""

    kind: str
    modifiers: tuple[str, ...]
    size: str
    angle: str
    figures: tuple[str, ...]
    background: tuple[str, ...]
    pose: str
    prop: str | None
    who: tuple[Who, ...] = ()  # one per figure, main first

    @property
    def main(self) -> str | None:
        return self.figures[0] if self.figures else None


@lru_cache(maxsize=8)
def vocab(name: str) -> dict[str, Any]:
    """A vocabulary file from ``director/prompts/vocab`` (cached: they never change in a run)."""
    return prompts.read_json("vocab", f"{name}.json")


def read_scene(shot: Shot) -> Scene:
    prompt = shot.prompt
    size, angle = read_camera(prompt.camera, shot.size, shot.angle)
    kind, modifiers = read_environment(prompt.environment)
    figures, prop = read_subject(prompt.subject, prompt.action, named=bool(shot.characters))
    cast = _cast(shot)
    if cast:
        figures = tuple(kind for kind, _ in cast)
    background = tuple(k for k in _categories(prompt.action) if k not in (*figures, PLANT))
    return Scene(
        kind=kind,
        modifiers=modifiers,
        size=size,
        angle=angle,
        figures=figures,
        background=background[:1],
        pose=read_pose(prompt.action),
        prop=prop,
        who=tuple(w for _, w in cast) or _others(shot, figures),
    )


def _cast(shot: Shot) -> list[tuple[str, Who]]:
    """(figure kind, who) per character in frame, when the subject slot is their identity blocks
    joined as the planner writes them; empty when a person rewrote it into something else."""
    blocks = _blocks(shot.prompt.subject)
    if not shot.characters or len(blocks) != len(shot.characters):
        return []
    cast = []
    for name, block in zip(shot.characters, blocks, strict=True):
        kinds = [k for k in _categories(block) if k in (HUMAN, ROBOT)]
        kind = kinds[0] if kinds else HUMAN
        cast.append((kind, Who(name, block)))
    return cast[:MAX_FIGURES]


def _blocks(subject: str) -> list[str]:
    return [b.strip() for b in re.split(r"[;；]", subject) if b.strip()]


def _others(shot: Shot, figures: tuple[str, ...]) -> tuple[Who, ...]:
    """Who the figures are when the subject is not one identity block per character: the
    characters first, by name, then people the plan does not name, told apart by place."""
    names, subject = shot.characters, shot.prompt.subject.strip()
    return tuple(
        Who(names[i], subject) if i < len(names) else Who("", subject, i)
        for i in range(len(figures))
    )


def read_camera(text: str, size: str, angle: str) -> tuple[str, str]:
    """(size, angle) named by the camera slot, else the shot's own fields."""
    camera, aliases = vocab("camera"), vocab("storyboard")["camera_aliases"]
    found_size = _earliest(text, _phrases(camera["size"], aliases["size"]))
    found_angle = _earliest(text, _phrases(camera["angle"], aliases["angle"]))
    return found_size or size, found_angle or angle


def read_environment(text: str) -> tuple[str, tuple[str, ...]]:
    """(base kind, modifiers): the first kind in vocabulary order that matches, or the default."""
    env = vocab("environments")
    kind = next((k for k, words in env["kinds"].items() if _matches(text, words)), None)
    modifiers = tuple(m for m, words in env["modifiers"].items() if _matches(text, words))
    return kind or env["default_kind"], modifiers


def read_subject(
    subject: str, action: str, named: bool = True
) -> tuple[tuple[str, ...], str | None]:
    """(figures to draw, main first; a prop) from the subject slot, helped by the action.

    A subject that names nothing the storyboard knows is a person when ``named`` (the shot has
    characters in frame: "Lin" alone is Lin), else an object the environment stands for (a
    rope winch is not drawn as a person)."""
    found = _categories(subject)
    prop = PLANT if PLANT in found or PLANT in _categories(action) else None
    figures: list[str] = []
    for kind in found:
        if kind == HUMAN:
            figures += [HUMAN] * _count(subject)
        elif kind != PLANT:
            figures.append(kind)
    if not found and subject.strip() and named:
        figures = [HUMAN]
    return tuple(figures[:MAX_FIGURES]), prop


def read_pose(action: str) -> str:
    poses = vocab("storyboard")["poses"]
    return next((p for p, words in poses.items() if _matches(action, words)), "stand")


def _categories(text: str) -> list[str]:
    """Subject categories in the order the text names them; a matched word is removed first."""
    found = []
    rest = _normalise(text)
    for name, words in vocab("storyboard")["subjects"].items():
        rest, first = _remove(rest, words)
        if first is not None:
            found.append((first, name))
    return [name for _, name in sorted(found)]


def _count(subject: str) -> int:
    """How many people: the first number or collective word ('two children' is two)."""
    counts = vocab("storyboard")["counts"]
    text = _normalise(subject)
    found = [(m.start(), n) for w, n in counts["en"].items() if (m := _find(text, w, "en"))]
    found += [(text.index(w), n) for w, n in counts["zh"].items() if w in text]
    return min(found)[1] if found else 1


def _phrases(*tables: dict[str, dict[str, Any]]) -> list[tuple[str, str, str]]:
    """(phrase, key, language) from vocabulary tables, longest first so 'medium close-up' wins."""
    out = []
    for table in tables:
        for key, langs in table.items():
            for lang, words in langs.items():
                for word in [words] if isinstance(words, str) else words:
                    out.append((_normalise(word), key, lang))
    return sorted(out, key=lambda p: -len(p[0]))


def _earliest(text: str, phrases: list[tuple[str, str, str]]) -> str | None:
    """The key of the phrase that occurs first in the text, longer phrases masking shorter."""
    rest, hits = _normalise(text), []
    for phrase, key, lang in phrases:
        match = _find(rest, phrase, lang)
        if match:
            hits.append((match.start(), key))
            rest = rest[: match.start()] + " " * len(match.group()) + rest[match.end() :]
    return min(hits)[1] if hits else None


def _matches(text: str, words: dict[str, list[str]]) -> bool:
    return _remove(_normalise(text), words)[1] is not None


def _remove(text: str, words: dict[str, list[str]]) -> tuple[str, int | None]:
    """The text with every listed word blanked out, and where the first one was."""
    first = None
    for lang, items in words.items():
        for word in sorted(items, key=len, reverse=True):
            while match := _find(text, _normalise(word), lang):
                first = match.start() if first is None else min(first, match.start())
                text = text[: match.start()] + " " * len(match.group()) + text[match.end() :]
    return text, first


def _find(text: str, word: str, lang: str) -> re.Match[str] | None:
    if lang != "en":
        return re.search(re.escape(word), text)
    # Whole words only: "ice" must not match "office", but a plural still counts.
    return re.search(rf"(?<![a-z]){re.escape(word)}(?:e?s)?(?![a-z])", text)


def _normalise(text: str) -> str:
    text = text.lower().replace("’", "'").replace("-", " ").replace("_", " ")
    return re.sub(r"\s+", " ", text)
