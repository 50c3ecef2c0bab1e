"""Timed subtitles for the film's narration and dialogue, following Netflix timed-text rules.

Times are on the film timeline: the title card, then every shot for its planned time on
screen, then the end card. Times are whole frames (24 fps) so that gaps and cut boundaries hold
exactly; an event never crosses a cut, and lines too long for one event are split at sentence
and clause punctuation into consecutive events.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from director.errors import InputError
from director.files import write_text_atomic
from director.records import Line, Plan, Shot
from director.text import NO_LINE_START

FPS = 24
MAX_LINES = 2
MIN_EVENT_S = 5 / 6
MAX_EVENT_S = 7.0
GAP_FRAMES = 2
LEAD_IN_S = 0.25


@dataclass(frozen=True)
class TextRules:
    max_chars: int  # per line
    cps: float  # reading speed, characters per second
    joiner: str  # between tokens on a line
    speaker_sep: str


RULES = {
    "en": TextRules(max_chars=42, cps=17.0, joiner=" ", speaker_sep=": "),
    "zh": TextRules(max_chars=16, cps=9.0, joiner="", speaker_sep="："),
}

_SENTENCE_END = re.compile(r"[.!?…。！？][\"'”’」』）)]*$")
_CLAUSE_END = re.compile(r"[,;:—–，；：、][\"'”’」』）)]*$")
# Breaking a line right after these splits a phrase ("the | garden").
_WEAK_LINE_END = frozenset(
    {"a", "an", "the", "of", "to", "in", "on", "at", "for", "with", "and", "or", "but"}
    | {"my", "your", "his", "her", "its", "our", "their", "this", "that"}
)


@dataclass
class SubtitleEvent:
    index: int
    start_s: float
    end_s: float
    text: str  # lines joined with "\n"


# --- the film timeline ----------------------------------------------------------------------


def timeline(plan: Plan, fps: int = FPS) -> list[int]:
    """Frames where the title card, each shot and the end card start, then the film's end.

    Boundaries are rounded from cumulative times, so the film's length is exact to a frame and
    rounding never accumulates.
    """
    cards = plan.cards
    parts = [cards.title_s if cards else 0.0, *(s.duration_s for s in plan.shots)]
    parts.append(cards.end_s if cards else 0.0)
    bounds, total = [0], 0.0
    for seconds in parts:
        total += seconds
        bounds.append(round(total * fps))
    return bounds


# --- events ---------------------------------------------------------------------------------


def subtitle_events(plan: Plan, fps: int = FPS) -> list[SubtitleEvent]:
    """Timed events for every shot with a line, in film order, numbered from 1."""
    rules = RULES[plan.story.language]
    bounds = timeline(plan, fps)
    events: list[SubtitleEvent] = []
    for i, shot in enumerate(plan.shots):
        if shot.line is None or not shot.line.text.strip():
            continue
        text = line_text(shot.line, plan.story.language)
        chunks = split_text(text, rules, keep=_speaker_tokens(shot.line, rules))
        frames = _place(chunks, bounds[i + 1], bounds[i + 2], rules, fps, shot)
        events += [
            SubtitleEvent(0, a / fps, b / fps, t) for t, (a, b) in zip(chunks, frames, strict=True)
        ]
    for number, event in enumerate(events, start=1):
        event.index = number
    return events


def line_text(line: Line, language: str) -> str:
    """Dialogue shows its speaker as written in the plan; narration shows only the text."""
    text = " ".join(line.text.split())
    if line.kind == "dialogue" and line.speaker:
        return f"{line.speaker.strip()}{RULES[language].speaker_sep}{text}"
    return text


def _speaker_tokens(line: Line, rules: TextRules) -> int:
    """How many tokens the speaker's name takes: an event never shows the name alone."""
    if line.kind != "dialogue" or not line.speaker:
        return 0
    return len(_tokens(f"{line.speaker.strip()}{rules.speaker_sep}", rules))


def reading_chars(text: str, language: str) -> int:
    """Characters a viewer reads: the spaces between words count, a line break counts as one."""
    return _chars(text, RULES[language])


def _chars(text: str, rules: TextRules) -> int:
    return len(text.replace("\n", rules.joiner))


def _place(
    chunks: list[str], shot_start: int, shot_end: int, rules: TextRules, fps: int, shot: Shot
) -> list[tuple[int, int]]:
    """(first, end) frames of each chunk inside the shot: lead-in, reading time, 2-frame gaps."""
    lo, hi = math.ceil(MIN_EVENT_S * fps), math.floor(MAX_EVENT_S * fps)
    need = [min(hi, max(lo, math.ceil(_chars(c, rules) / rules.cps * fps))) for c in chunks]
    gaps = GAP_FRAMES * (len(chunks) - 1)
    limit = shot_end - GAP_FRAMES
    # The lead-in gives way first when the shot is short; then the events shrink together.
    start = max(shot_start, min(shot_start + round(LEAD_IN_S * fps), limit - gaps - sum(need)))
    room = limit - start - gaps
    if room < len(chunks):
        raise InputError(
            f"Shot {shot.id} is {shot.duration_s:g} s on screen, too short to show its line "
            f"({len(chunks)} subtitle events).",
            "Lengthen the shot, shorten the line, or move it to a neighbouring shot.",
        )
    durations = _fit(need, room, hi)
    frames, at = [], start
    for length in durations:
        frames.append((at, at + length))
        at += length + GAP_FRAMES
    return frames


def _fit(need: list[int], room: int, longest: int) -> list[int]:
    """Scale the needed durations to the room: stretched up to the longest allowed, or shrunk."""
    scale = room / sum(need)
    sizes = [max(1, min(longest, math.floor(n * scale))) for n in need]
    while sum(sizes) > room:
        sizes[sizes.index(max(sizes))] -= 1
    return sizes


# --- splitting text into events and lines ---------------------------------------------------


def split_text(text: str, rules: TextRules, *, keep: int = 0) -> list[str]:
    """Events of at most two lines each, in as few events as possible, cut preferably at a
    sentence end, then a clause end, then between words (a shortest-path over cut points).

    The first ``keep`` tokens (a speaker's name) stay in one event with the word after them.
    """
    tokens = _tokens(text, rules)
    cost = [0.0] + [math.inf] * len(tokens)
    back: list[tuple[int, list[str]]] = [(0, [])] * (len(tokens) + 1)
    for i in range(len(tokens)):
        for j in range(i + 1, len(tokens) + 1):
            lines = _lines_or_none(tokens[i:j], rules)
            if lines is None:
                break  # a longer span cannot fit either
            if i == 0 and j <= keep < len(tokens):
                continue
            total = cost[i] + _event_cost(tokens, j, lines)
            if total < cost[j]:
                cost[j], back[j] = total, (i, lines)
    chunks, j = [], len(tokens)
    while j > 0:
        j, lines = back[j][0], back[j][1]
        chunks.append("\n".join(lines))
    return chunks[::-1]


def _event_cost(tokens: list[str], end: int, lines: list[str]) -> float:
    """One per event, plus the cut's weakness, plus a little for a line break mid-clause."""
    cut = 0.0 if end == len(tokens) else (1.5, 0.3, 0.0)[_strength(tokens[end - 1])]
    mid_clause = len(lines) > 1 and not _strength(lines[0])
    return 1.0 + cut + 0.15 * mid_clause


def break_lines(tokens: list[str], rules: TextRules) -> list[str]:
    """One line if it fits, else the best two-line break (raises ValueError if none fits)."""
    whole = _join(tokens, rules)
    if len(whole) <= rules.max_chars:
        return [whole]
    options = [
        (_break_penalty(tokens, k, rules), k)
        for k in range(1, len(tokens))
        if _break_allowed(tokens, k, rules)
    ]
    if not options:
        raise ValueError("text does not fit in two lines")
    k = min(options)[1]
    return [_join(tokens[:k], rules), _join(tokens[k:], rules)]


def _tokens(text: str, rules: TextRules) -> list[str]:
    if rules.joiner:
        words = text.split()
    else:
        # Chinese breaks between any two characters, but Latin words and numbers stay whole.
        words = re.findall(r"[A-Za-z0-9]+(?:['’.\-][A-Za-z0-9]+)*|\s+|.", text)
        words = [" " if w.isspace() else w for w in words]
    return [piece for word in words for piece in _hard_split(word, rules.max_chars)]


def _hard_split(word: str, width: int) -> list[str]:
    # Only a single word longer than a whole line is ever cut inside.
    return [word[i : i + width] for i in range(0, len(word), width)] or [word]


def _join(tokens: Iterable[str], rules: TextRules) -> str:
    return rules.joiner.join(tokens).strip()


def _lines_or_none(tokens: list[str], rules: TextRules) -> list[str] | None:
    try:
        return break_lines(tokens, rules)
    except ValueError:
        return None


def _strength(token: str) -> int:
    if _SENTENCE_END.search(token):
        return 2
    return 1 if _CLAUSE_END.search(token) else 0


def _break_allowed(tokens: list[str], k: int, rules: TextRules) -> bool:
    top, bottom = _join(tokens[:k], rules), _join(tokens[k:], rules)
    if not top or not bottom or max(len(top), len(bottom)) > rules.max_chars:
        return False
    return bool(rules.joiner) or bottom[0] not in NO_LINE_START


def _break_penalty(tokens: list[str], k: int, rules: TextRules) -> float:
    """Lower is better: balanced lines, after punctuation, never after 'the' or 'of'."""
    top, bottom = _join(tokens[:k], rules), _join(tokens[k:], rules)
    penalty = abs(len(top) - len(bottom)) / rules.max_chars
    penalty -= 0.6 * bool(_strength(tokens[k - 1]))
    penalty += 0.5 * (tokens[k - 1].lower() in _WEAK_LINE_END)
    # Netflix prefers a bottom-heavy pair when the lengths are otherwise close.
    return penalty + 0.01 * (len(top) > len(bottom))


# --- SRT ------------------------------------------------------------------------------------


def format_timestamp(seconds: float) -> str:
    """SRT time: ``HH:MM:SS,mmm``."""
    millis = max(0, round(seconds * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d},{millis:03d}"


def srt_text(events: list[SubtitleEvent]) -> str:
    blocks = [
        f"{e.index}\n{format_timestamp(e.start_s)} --> {format_timestamp(e.end_s)}\n{e.text}\n"
        for e in events
    ]
    return "\n".join(blocks)


def write_srt(events: list[SubtitleEvent], path: Path) -> Path:
    """Write UTF-8 SRT atomically: a temp file beside ``path``, then a rename."""
    path = Path(path)
    write_text_atomic(path, srt_text(events))
    return path


# --- WebVTT ---------------------------------------------------------------------------------


def vtt_text(events: list[SubtitleEvent]) -> str:
    """WebVTT: the same cues as the SRT, with ``HH:MM:SS.mmm`` times."""
    cues = [
        f"{e.index}\n{_vtt_time(e.start_s)} --> {_vtt_time(e.end_s)}\n{e.text}\n" for e in events
    ]
    return "\n".join(["WEBVTT\n", *cues])


def _vtt_time(seconds: float) -> str:
    return format_timestamp(seconds).replace(",", ".")


def write_vtt(events: list[SubtitleEvent], path: Path) -> Path:
    """Write UTF-8 WebVTT atomically."""
    path = Path(path)
    write_text_atomic(path, vtt_text(events))
    return path
