"""Run log -> workflow document: how the film was made, from the events and artifacts alone.

Everything here is read from ``events.jsonl`` (and, for the HTML page, the keyframe images);
paths are relative to the run folder, so a copied run folder replays to the same document.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path
from statistics import mean

from director.errors import InputError
from director.files import write_text_atomic
from director.memory.events import read_events
from director.memory.runs import RunPaths
from director.records import CheckResult, Critique, Decision, Shot
from director.replay.comfyui import add_parameters, write_graphs
from director.replay.document import (
    Bullets,
    Code,
    Document,
    Figure,
    Heading,
    Para,
    Table,
    to_html,
    to_markdown,
)
from director.replay.evaluation import _evaluation
from director.replay.record import RunRecord, fold

PREVIZ_NOTE = (
    "previz: storyboard frames drawn by director's deterministic renderer and camera moves "
    "made with ffmpeg filters; not output of a diffusion or video model."
)


def write_workflow(paths: RunPaths, html: bool = False) -> list[Path]:
    """The workflow document, rebuilt from the run's log. A log that cannot rebuild it (empty,
    or without the run's start) never replaces a document that exists."""
    record = fold(read_events(paths.events))
    if record.started is None:
        raise InputError(
            f"{paths.events} holds no run to document (it is empty or lost its first event); "
            f"{'the existing workflow.md is left as it is' if paths.workflow.exists() else 'nothing was written'}.",
            "Restore events.jsonl from a copy of the run folder, then replay again.",
        )
    doc = build_document(record)
    write_graphs(record, paths.root)  # the graphs the document links to
    write_text_atomic(paths.workflow, to_markdown(doc))
    written = [paths.workflow]
    if html:
        page = paths.root / "workflow.html"
        write_text_atomic(page, to_html(doc, paths.root))
        written.append(page)
    return written


def build_document(r: RunRecord) -> Document:
    title = r.story.title if r.story else (r.started.run_id if r.started else "run")
    doc = Document(title=f"{title}: workflow")
    for section in (
        _overview,
        _story,
        _beats,
        _bible,
        _backends,
        _shots,
        _by_hand,
        _problems,
        _assembly,
        _totals,
        _evaluation,
        _conventions,
    ):
        section(doc, r)
    return doc


def _overview(doc: Document, r: RunRecord) -> None:
    if r.started is None:
        return
    status = r.finished.status if r.finished else "incomplete (no run_finished event)"
    seconds = f"{r.finished.seconds:.1f} s" if r.finished else "unknown"
    opts = r.started.options
    doc.add(
        Para(f"Logline: {r.started.logline}"),
        Table(
            ["run", "status", "started", "time"],
            [[r.started.run_id, status, r.started.ts, seconds]],
        ),
    )
    if "previz" in (opts.get("image"), opts.get("video")):
        doc.add(Para(f"Note: {PREVIZ_NOTE}"))
    aborted = next((a for a in reversed(r.approvals) if a.decision == "abort"), None)
    if r.finished and r.finished.status == "aborted" and aborted:
        doc.add(Para(f"Aborted by {_by(aborted)} at {_where(aborted)}: no film was made."))
    for error in r.errors:
        doc.add(Para(f"Error in {error.stage}: {error.message}"))
    if r.stops:
        when = "; ".join(_when(e.ts) for e in r.stops)
        doc.add(Para(f"Stopped with Ctrl-C {len(r.stops)} time(s), each time resumable: {when}."))


def _story(doc: Document, r: RunRecord) -> None:
    if r.story is None:
        return
    s = r.story
    doc.add(
        Heading(2, "Story"),
        Table(
            ["field", "value"],
            [
                ["title", s.title],
                ["language", s.language],
                ["world", s.world],
                ["want", s.want],
                ["obstacle", s.obstacle],
                ["theme", s.theme],
                ["tone", s.tone],
                ["locations", "; ".join(s.locations)],
            ],
        ),
    )
    doc.add(Bullets([f"{c.name}: {c.description}" for c in s.protagonists]))


def _beats(doc: Document, r: RunRecord) -> None:
    if r.beat_sheet is None:
        return
    sheet = r.beat_sheet
    rows = [
        [b.id, b.name, f"{b.start_s:.1f}", f"{b.duration_s:.1f}", b.summary, b.change, b.location]
        for b in sheet.beats
    ]
    doc.add(
        Heading(2, f"Beat sheet: {sheet.structure}, {sheet.total_s:.1f} s"),
        Table(
            ["beat", "name", "start s", "length s", "what happens", "what changes", "where"], rows
        ),
    )
    if r.approvals:
        doc.add(
            Heading(2, "Approvals"),
            Table(
                ["when", "checkpoint", "decision", "by", "what"],
                [_approval_row(a) for a in r.approvals],
            ),
        )
    if r.notices:
        doc.add(
            Para("What the planner could not do with the human's words:"),
            Bullets([n.said for n in r.notices]),
        )
    if r.resumes:
        doc.add(Para(_resumes(r)))


def _approval_row(a) -> list[str]:
    where = a.checkpoint + (
        f" of beat {a.beat_id}" if a.beat_id and a.checkpoint != "beats" else ""
    )
    decision = a.decision + (f" shot {a.shot_id}" if a.shot_id else "")
    what = [f"{a.shot_id or a.beat_id or ''} {k} -> {v!r}".strip() for k, v in a.changes.items()]
    what += [a.note] if a.note else []
    return [_when(a.decided_at or a.ts), where, decision, _by(a), "; ".join(what)]


def _by(a) -> str:
    return "automatic (--yes)" if a.by == "auto" else f"human{f' ({a.who})' if a.who else ''}"


def _where(a) -> str:
    return "the beat sheet" if a.checkpoint == "beats" else f"the keyframes of beat {a.beat_id}"


def _when(ts: str) -> str:
    return ts[:19].replace("T", " ")


def _resumes(r: RunRecord) -> str:
    parts = []
    for e in r.resumes:
        how = (
            f"from {e.from_stage} (that stage and later ones made again)"
            if e.from_stage
            else (f"with the answer to {e.waiting}" if e.waiting else "from its last checkpoint")
        )
        changed = "".join(f", {k} {old!r} -> {new!r}" for k, (old, new) in e.changed.items())
        parts.append(
            f"{e.ts[:19].replace('T', ' ')} {how}{changed}"
            + (", log repaired" if e.log_repaired else "")
        )
    return f"Resumed {len(r.resumes)} time(s): " + "; ".join(parts) + "."


def _bible(doc: Document, r: RunRecord) -> None:
    if r.bible is None or r.started is None:
        return
    b, opts = r.bible, r.started.options
    rows = [
        ["style suffix", b.suffix],
        ["negative prompt", b.negative],
        ["palette", " ".join(b.palette)],
        ["frame", f"{b.width}x{b.height} ({b.aspect_ratio})"],
        ["frame rate", f"{opts.get('fps', 24)} fps"],
        ["grain", f"{b.grain:.2f}"],
        ["base seed", str(opts.get("seed"))],
        ["seed policy", b.seed_policy],
        ["max attempts per shot", str(opts.get("max_attempts"))],
        ["runtime", f"{opts.get('minutes')} min"],
    ]
    if r.cards:
        rows += [
            ["title card", f"{r.cards.title} ({r.cards.title_s:.1f} s)"],
            ["end card", f"{r.cards.end} ({r.cards.end_s:.1f} s)"],
            ["label", r.cards.label],
        ]
    doc.add(Heading(2, "Style bible and key parameters"), Table(["parameter", "value"], rows))
    every = {s.id for s in r.shots}
    thresholds = [
        [
            c.name,
            _num(c.threshold),
            "at least" if c.higher_is_better else "at most",
            "every shot" if set(shots) == every else _shot_span(shots),
        ]
        for c, shots in r.thresholds()
    ]
    if thresholds:
        doc.add(
            Heading(3, "Critique thresholds, as applied"),
            Table(["check", "threshold", "passes when the score is", "applied to"], thresholds),
        )


def _shot_span(shots: list[str]) -> str:
    """The shots a threshold judged, listed, or counted with the first and last when many."""
    if len(shots) <= 6:
        return ", ".join(shots)
    return f"{len(shots)} shots, {shots[0]} to {shots[-1]}"


def _backends(doc: Document, r: RunRecord) -> None:
    rows = [["planner", r.planner or "?", "story, beats, bible, shot list"]]
    for role, attempts in (("keyframes", r.keyframes), ("clips", r.clips)):
        used = sorted({f"{a.backend}:{a.model}" for lst in attempts.values() for a in lst})
        rows.append([role, ", ".join(used) or "none", _backend_note(used)])
    rows.append(["critics", ", ".join(r.check_names()) or "none", "thresholds above"])
    doc.add(Heading(2, "Backends and models"), Table(["role", "backend:model", "note"], rows))


def _backend_note(used: list[str]) -> str:
    return (
        "previz (storyboard, not generative)" if any(u.startswith("previz") for u in used) else ""
    )


def _shots(doc: Document, r: RunRecord) -> None:
    if not r.shots:
        return
    doc.add(Heading(2, "Shots"))
    beats = {b.id: b for b in r.beat_sheet.beats} if r.beat_sheet else {}
    current = None
    for shot in r.shots:
        if shot.beat_id != current:
            current = shot.beat_id
            beat = beats.get(current)
            doc.add(Heading(3, f"{current} {beat.name}: {beat.summary}" if beat else current))
        _shot(doc, r, shot)


def _shot(doc: Document, r: RunRecord, shot: Shot) -> None:
    doc.add(Heading(4, f"{shot.id}: {shot.role}, {shot.duration_s:.2f} s, then {shot.transition}"))
    chosen = r.chosen_keyframe(shot.id)
    if chosen:
        doc.add(Figure(chosen.artifact, f"{shot.id} keyframe, attempt {chosen.number}"))
    slots = shot.prompt.slots()
    items = [f"{name}: {slots[name]}" for name in ("subject", "action", "environment", "camera")]
    items.append("style: the style bible's suffix")
    if chosen and chosen.prompt and chosen.prompt != shot.prompt.render():
        items.append(f"drawn as (a note or a repair changed it): {chosen.prompt}")
    if shot.line:
        who = f" ({shot.line.speaker})" if shot.line.speaker else ""
        items.append(f"{shot.line.kind}{who}: {shot.line.text}")
    doc.add(Bullets(items))
    for kind in ("keyframe", "clip"):
        if r.critique(shot.id, kind, 1):
            doc.add(Para(f"{kind.capitalize()} attempts:"), _attempt_table(r, shot.id, kind))
        add_parameters(doc, r, shot.id, kind)
        decision = r.final_decision(shot.id, kind)
        if decision and decision.action == "accept-below-threshold":
            doc.add(Para(f"{kind.capitalize()} flagged below threshold: {decision.reason}"))


def _attempt_table(r: RunRecord, shot_id: str, kind: str) -> Table:
    checks = r.check_names(kind)
    decisions: dict[int | None, list[Decision]] = defaultdict(list)
    for d in r.ladder(shot_id, kind):
        decisions[d.attempt].append(d)
    sent_back: dict[int, list[str]] = defaultdict(list)
    if kind == "keyframe":
        for number, approval in r.sent_back.get(shot_id, []):
            sent_back[number].append(_human_said(approval))
    rows = []
    for attempt in r.attempts(shot_id, kind):
        critique = r.critique(shot_id, kind, attempt.number)
        scores = [_score(critique, name) for name in checks]
        said = [_decided(d) for d in decisions.get(attempt.number, [])]
        rows.append(
            [
                str(attempt.number),
                "by hand" if attempt.made_by == "human" else str(attempt.seed),
                *scores,
                critique.verdict if critique else "not critiqued",
                " / ".join(said + sent_back.get(attempt.number, [])),
            ]
        )
    return Table(["attempt", "seed", *checks, "verdict", "decision"], rows)


def _human_said(a) -> str:
    """A human's reroll, edit or rejection of a keyframe, as the attempt table shows it."""
    said = {
        "reroll": "a new keyframe",
        "edit": "; ".join(f"{k} slot rewritten as {v!r}" for k, v in a.changes.items()),
        "reject": a.note,
    }[a.decision]
    return f"{a.decision} by {_by(a)}: {said}"


def _decided(d: Decision) -> str:
    if d.action == "skip":
        return f"skip {d.rung}: {d.reason}"
    return f"{d.action}{f' ({d.rung})' if d.rung else ''}: {d.reason}"


def _score(critique: Critique | None, name: str) -> str:
    check = next((c for c in critique.checks if c.name == name), None) if critique else None
    if check is None or check.passed is None:
        return "not run"
    return f"{_num(check.score)} {'ok' if check.passed else 'FAIL'}"


# The brief: at least this share of the film's screen time shows generated visuals.
GENERATED_SHARE = 0.6


def _by_hand(doc: Document, r: RunRecord) -> None:
    """How much of the film's screen time shows generated visuals, and what the creator made
    by hand: a shot whose keyframe is theirs counts as made by hand, though its motion is
    generated from it. Title and end cards are text, and counted in neither."""
    if not r.shots:
        return
    total = sum(s.duration_s for s in r.shots)
    made = r.by_hand()
    hand = sum(s.duration_s for s, _ in made)
    share = (total - hand) / total if total else 1.0
    verdict = "meets" if share >= GENERATED_SHARE else "is below"
    doc.add(
        Heading(2, "Generated and made by hand"),
        Para(
            f"Generated visuals: {share:.0%} of the shots' screen time ({total - hand:.1f} s of "
            f"{total:.1f} s); this {verdict} the {GENERATED_SHARE:.0%} the brief requires."
        ),
    )
    if made:
        doc.add(Bullets([_hand_made(r, s, a) for s, a in made]))
    else:
        doc.add(Para("Made by hand: nothing; every keyframe was generated."))


def _hand_made(r: RunRecord, shot: Shot, attempt) -> str:
    critique = r.critique(shot.id, "keyframe", attempt.number)
    verdict = critique.verdict if critique else "not critiqued"
    source = Path(str(attempt.params.get("source", ""))).name or "a file"
    return (
        f"{shot.id} ({shot.duration_s:.2f} s): the creator's own keyframe ({source}), attempt "
        f"{attempt.number}, gate {verdict}; its clip was generated from it"
    )


def _problems(doc: Document, r: RunRecord) -> None:
    doc.add(Heading(2, "Problems met and how they were solved"))
    items = []
    for shot in r.shots:
        items.extend(_shot_problems(r, shot.id))
    items.extend(f"{e.stage}: {e.message}" for e in r.errors)
    doc.add(
        Bullets(items)
        if items
        else Para("No critique failed, and no keyframe was sent back by a human.")
    )


def _shot_problems(r: RunRecord, shot_id: str) -> list[str]:
    return (
        _problems_of(r, shot_id, "keyframe")
        + _sent_back_problems(r, shot_id)
        + _problems_of(r, shot_id, "clip")
    )


def _sent_back_problems(r: RunRecord, shot_id: str) -> list[str]:
    """What a human sent back at a checkpoint, and the keyframe the film kept."""
    lines = [
        f"{shot_id} attempt {number}: {_human_said(a)}"
        for number, a in r.sent_back.get(shot_id, [])
    ]
    chosen = r.chosen_keyframe(shot_id)
    if lines and chosen:
        lines.append(f"{shot_id}: keyframe attempt {chosen.number} kept")
    return lines


def _problems_of(r: RunRecord, shot_id: str, kind: str) -> list[str]:
    tried = [(a, r.critique(shot_id, kind, a.number)) for a in r.attempts(shot_id, kind)]
    what = shot_id if kind == "keyframe" else f"{shot_id} clip"
    unjudged = [
        f"{what} attempt {a.number} (seed {a.seed}) not judged: no check could run; "
        + "; ".join(_failure(c) for c in crit.checks)
        for a, crit in tried
        if crit is not None and crit.verdict == "not judged"
    ]
    failed = [(a, c) for a, c in tried if c is not None and c.verdict == "fail"]
    if not failed:
        return unjudged
    lines = unjudged + [
        f"{what} attempt {a.number} (seed {a.seed}) failed "
        + "; ".join(_failure(c) for c in crit.failed)
        for a, crit in failed
    ]
    final = r.final_decision(shot_id, kind)
    if final is None:
        lines.append(f"{what}: unresolved when the run stopped")
    elif final.action == "accept":
        rungs = [d.rung for d in r.ladder(shot_id, kind) if d.action == "reroll" and d.rung]
        lines.append(
            f"{what}: solved on the ladder ({' -> '.join(rungs)}); attempt {final.attempt} "
            f"passed ({final.reason})"
        )
    else:
        lines.append(f"{what}: not solved; {final.reason}")
    return lines


def _failure(check: CheckResult) -> str:
    return f"{check.name} ({check.reason})"


def _assembly(doc: Document, r: RunRecord) -> None:
    if not r.assembly:
        return
    rows = [[s.step, f"{s.seconds:.2f}", s.output] for s in r.assembly]
    doc.add(Heading(2, "Assembly"), Table(["step", "seconds", "output"], rows))
    doc.add(Code("\n\n".join(" ".join(_quote(a) for a in s.command) for s in r.assembly)))


def _quote(arg: str) -> str:
    return f"'{arg}'" if any(ch in arg for ch in " ;[]'\"") else arg


def _totals(doc: Document, r: RunRecord) -> None:
    per_shot = [len(r.keyframes.get(s.id, [])) for s in r.shots]
    rerolls = [max(n - 1, 0) for n in per_shot]
    flagged = [
        s.id
        for s in r.shots
        if any(
            (d := r.final_decision(s.id, kind)) and d.action == "accept-below-threshold"
            for kind in ("keyframe", "clip")
        )
    ]
    rows = [
        ["shots", str(len(r.shots))],
        ["keyframe attempts", str(sum(per_shot))],
        ["rerolls", str(sum(rerolls))],
        ["rerolls per shot", f"mean {mean(rerolls):.2f}, max {max(rerolls)}" if rerolls else "-"],
        ["shots below threshold", ", ".join(flagged) or "none"],
        ["ladder rungs climbed", _rung_counts(r, "reroll")],
        ["ladder rungs skipped", _rung_counts(r, "skip")],
        ["clips", str(sum(len(v) for v in r.clips.values()))],
        ["cost (USD)", _cost_total(r)],
        ["paid calls", str(len(r.costs))],
        ["prices", _prices(r)],
        ["language-model calls", _llm_totals(r)],
    ]
    rows += [[f"time: {stage}", f"{seconds:.1f} s"] for stage, seconds in r.stages.items()]
    if r.finished:
        rows.append(["time: total", f"{r.finished.seconds:.1f} s"])
    doc.add(Heading(2, "Totals"), Table(["measure", "value"], rows))


def _cost_total(r: RunRecord) -> str:
    """The known spend; where models had no price, that the total is unknown and which calls
    it leaves out: no invented figure."""
    known = sum(c.amount or 0.0 for c in r.costs) + sum(c.cost or 0.0 for c in r.llm_calls)
    unpriced = Counter(f"{c.backend}:{c.model}" for c in r.costs if c.amount is None)
    unpriced.update(f"{c.backend}:{c.model}" for c in r.llm_calls if c.cost is None)
    if not unpriced:
        return f"{known:.2f}"
    calls = ", ".join(f"{key}: {n} call{'s' * (n != 1)}" for key, n in sorted(unpriced.items()))
    return f"unknown: {known:.2f} for priced calls, plus calls at no known price ({calls})"


def _prices(r: RunRecord) -> str:
    versions = r.started.versions if r.started else {}
    text = f"published prices read on {versions.get('prices', '?')}"
    overridden = versions.get("prices overridden")
    return f"{text}; set in the config file: {overridden}" if overridden else text


def _llm_totals(r: RunRecord) -> str:
    if not r.llm_calls:
        return "none"
    tokens = sum(c.prompt_tokens + c.completion_tokens for c in r.llm_calls)
    seconds = sum(c.seconds for c in r.llm_calls)
    return f"{len(r.llm_calls)} calls, {tokens} tokens, {seconds:.1f} s"


def _rung_counts(r: RunRecord, action: str) -> str:
    counts = Counter(
        d.rung for ds in r.decisions.values() for d in ds if d.action == action and d.rung
    )
    return ", ".join(f"{rung} {n}" for rung, n in counts.items()) or "none"


def _conventions(doc: Document, r: RunRecord) -> None:
    structure = r.beat_sheet.structure if r.beat_sheet else "?"
    doc.add(
        Heading(2, "Conventions the plan rests on"),
        Bullets(
            [
                f"Story structure: {structure}, beats as fractions of the runtime "
                "(three acts about 25/50/25 %; qi-cheng-zhuan-he about 20/30/30/20 %).",
                "Shot grammar: open a location on an establishing wide shot, move in as emotion rises, "
                "cut to a reaction after an event, inserts for the object that matters; one camera move "
                "per shot.",
                "Prompts: five slots; the subject's identity block and the style suffix are identical "
                "in every shot.",
                "Subtitles: at most 2 lines, 42 characters a line in English and 16 in Chinese, 5/6 s "
                "to 7 s an event, never across a cut.",
                "Labels: a visible AI-generated corner label and AI-generated container metadata.",
            ]
        ),
    )


def _num(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
