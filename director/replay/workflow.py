"""Run log -> workflow document: how the film was made, from the events and artifacts alone.

Everything here is read from ``events.jsonl`` (and, for the HTML page, the keyframe images);
paths are relative to the run folder, so a copied run folder replays to the same document.

The sections come in the order a jury grades them: the film, the creative process, how the
characters and the style were kept consistent, the models and key parameters, the problems met
and how each was solved, the human decisions, the generated share, the sound, and the full
record of every shot as an appendix. Each section is a function ``(doc, record)`` in
``SECTIONS``; its level-2 heading is numbered and listed in the contents by ``build_document``.
Fixed words come from ``director.replay.words`` in the document's language.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter, defaultdict
from pathlib import Path
from statistics import mean

from director.errors import InputError
from director.files import write_text_atomic
from director.memory.events import read_events
from director.memory.runs import RunPaths
from director.records import CheckResult, Critique, Decision, Shot
from director.replay import evidence
from director.replay.comfyui import COLUMNS, FOLDER, add_parameters, on_comfyui
from director.replay.document import (
    Bullets,
    Contents,
    Document,
    Figure,
    Heading,
    Para,
    Table,
    Video,
    to_html,
    to_markdown,
)
from director.replay.evaluation import _evaluation, documenting
from director.replay.record import RunRecord, fold
from director.replay.words import Words, document_language


def write_workflow(paths: RunPaths, html: bool = False, lang: str | None = None) -> list[Path]:
    """The workflow document, rebuilt from the run's log. A log that cannot rebuild it (empty,
    or without the run's start) never replaces a document that exists."""
    record = fold(read_events(paths.events))
    if record.started is None:
        raise InputError(
            f"{paths.events} holds no run to document (it is empty or lost its first event); "
            f"{'the existing workflow.md is left as it is' if paths.workflow.exists() else 'nothing was written'}.",
            "Restore events.jsonl from a copy of the run folder, then replay again.",
        )
    with documenting(paths.root):  # the evaluation section reads the folder's evaluation.json
        doc = build_document(record, lang)
    # The document first: a run folder it cannot write into is left as it was.
    write_text_atomic(paths.workflow, to_markdown(doc))
    evidence.write_evidence(record, paths.root, document_language(record, lang))  # linked files
    written = [paths.workflow]
    if html:
        page = paths.root / "workflow.html"
        write_text_atomic(page, to_html(doc, paths.root))
        written.append(page)
    return written


def build_document(r: RunRecord, lang: str | None = None) -> Document:
    """The document in ``lang`` (None: the recorded language, else the film's)."""
    r = dataclasses.replace(r, doc_lang=document_language(r, lang))
    w = _words(r)
    title = r.story.title if r.story else (r.started.run_id if r.started else "run")
    doc = Document(title=w("title", title=title))
    for section in SECTIONS:
        section(doc, r)
    _number(doc, w)
    return doc


def _words(r: RunRecord) -> Words:
    return Words(r.doc_lang or document_language(r))


def _number(doc: Document, w: Words) -> None:
    """Number the level-2 headings and put the contents after the first section."""
    sections = [b for b in doc.blocks if isinstance(b, Heading) and b.level == 2]
    for n, heading in enumerate(sections, 1):
        heading.text, heading.anchor = f"{n}. {heading.text}", f"section-{n}"
    if len(sections) < 2:
        return
    at = doc.blocks.index(sections[1])
    contents = [Heading(2, w("h_contents")), Contents(sections)]
    doc.blocks[at:at] = contents


# --- 1. the film -------------------------------------------------------------------------------


def _film(doc: Document, r: RunRecord) -> None:
    if r.started is None:
        return
    w = _words(r)
    doc.add(Heading(2, w("h_film")), Para(w("logline", logline=r.started.logline)))
    status = w(f"status_{r.finished.status}") if r.finished else w("incomplete")
    time = _duration(r.finished.seconds, w) if r.finished else w("unknown")
    doc.add(
        Table(
            [w("run"), w("status"), w("started"), w("wall_time")],
            [[r.started.run_id, status, _when(r.started.ts), time]],
        )
    )
    film, found = evidence.film_path(r), evidence.poster_shot(r)
    if film and found:
        length = w("length", n=sum(s.duration_s for s in r.shots))
        alt = w("film_alt", title=_title(r), length=length, shot=found[0].id)
        srt = (r.finished.outputs.get("srt") if r.finished else None) or "-"
        doc.add(Video(film, evidence.POSTER, alt), Para(w("film_files", film=film, srt=srt)))
    aborted = next((a for a in reversed(r.approvals) if a.decision == "abort"), None)
    if r.finished and r.finished.status == "aborted" and aborted:
        doc.add(Para(w("aborted_by", by=_by(aborted, w), where=_where(aborted, w))))
    elif not film:
        status = w(f"status_{r.finished.status}") if r.finished else w("no_film_waiting")
        doc.add(Para(w("no_film", status=status)))
    opts = r.started.options
    if "previz" in (opts.get("image"), opts.get("video")):
        doc.add(Para(w("previz_note")))
    for error in r.errors:
        doc.add(Para(w("error_in", stage=error.stage, message=error.message)))
    if r.stops:
        first, last = _when(r.stops[0].ts), _when(r.stops[-1].ts)
        times = w.n("times", len(r.stops))
        doc.add(Para(w("stopped", times=times, first=first, last=last)))


def _title(r: RunRecord) -> str:
    return r.story.title if r.story else (r.started.run_id if r.started else "run")


# --- 2. the creative process -------------------------------------------------------------------


def _process(doc: Document, r: RunRecord) -> None:
    if r.started is None:
        return
    w = _words(r)
    doc.add(Heading(2, w("h_process")), Para(" ".join(_narrative(r, w))))
    _story(doc, r, w)
    _beats(doc, r, w)
    _totals(doc, r, w)
    structure = r.beat_sheet.structure if r.beat_sheet else "?"
    doc.add(
        Heading(3, w("h_conventions")),
        Bullets([line.format(structure=structure) for line in w.raw("conventions")]),
    )


def _narrative(r: RunRecord, w: Words) -> list[str]:
    said = []
    if r.beat_sheet is not None:
        said.append(
            w(
                "process_plan",
                planner=r.planner or "?",
                structure=r.beat_sheet.structure,
                beats=w.n("n_beats", len(r.beat_sheet.beats)),
                shots=w.n("n_shots", len(r.shots)),
                runtime=w("length", n=sum(s.duration_s for s in r.shots)),
            )
        )
    keyframes = [a for lst in r.keyframes.values() for a in lst]
    if keyframes:
        first = sum(
            1
            for s in r.shots
            if (d := r.final_decision(s.id)) and d.action == "accept" and d.attempt == 1
        )
        said.append(
            w(
                "process_keyframes",
                backend=_used(keyframes, w),
                attempts=w.n("n_attempts", len(keyframes)),
                rerolls=w.n("n_rerolls", _rerolls(r)),
                first=first,
            )
        )
    clips = [a for lst in r.clips.values() for a in lst]
    if clips:
        said.append(
            w("process_clips", backend=_used(clips, w), attempts=w.n("n_attempts", len(clips)))
        )
    human = [a for a in r.approvals if a.by == "human"]
    auto = [a for a in r.approvals if a.by == "auto"]
    said.append(
        w(
            "process_humans",
            decisions=w.n("n_decisions", len(human)),
            auto=w.n("n_checkpoints", len(auto)),
        )
    )
    time = _duration(r.finished.seconds, w) if r.finished else w("unknown")
    said.append(w("process_time", time=time, cost=w("cost_usd", amount=_cost_total(r))))
    return said


def _used(attempts, w: Words) -> str:
    return w.join(sorted({f"{a.backend}:{a.model}" for a in attempts}))


def _rerolls(r: RunRecord) -> int:
    return sum(max(len(r.keyframes.get(s.id, [])) - 1, 0) for s in r.shots)


def _story(doc: Document, r: RunRecord, w: Words) -> None:
    if r.story is None:
        return
    s = r.story
    rows = [
        [w("f_title"), s.title],
        [w("f_language"), s.language],
        [w("f_world"), s.world],
        [w("f_want"), s.want],
        [w("f_obstacle"), s.obstacle],
        [w("f_theme"), s.theme],
        [w("f_tone"), s.tone],
        [w("f_locations"), "; ".join(s.locations)],
    ]
    doc.add(Heading(3, w("h_story")), Table([w("field"), w("value")], rows))


def _beats(doc: Document, r: RunRecord, w: Words) -> None:
    if r.beat_sheet is None:
        return
    sheet = r.beat_sheet
    rows = [
        [b.id, b.name, f"{b.start_s:.1f}", f"{b.duration_s:.1f}", b.summary, b.change, b.location]
        for b in sheet.beats
    ]
    heading = w("h_beats", structure=sheet.structure, length=w("length", n=sheet.total_s))
    doc.add(Heading(3, heading), Table(list(w.raw("beat_headers")), rows))


def _totals(doc: Document, r: RunRecord, w: Words) -> None:
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
    spread = w("t_rerolls_value", mean=f"{mean(rerolls):.2f}", max=max(rerolls)) if rerolls else "-"
    rows = [
        [w("t_shots"), str(len(r.shots))],
        [w("t_keyframe_attempts"), str(sum(per_shot))],
        [w("t_rerolls"), str(sum(rerolls))],
        [w("t_rerolls_per_shot"), spread],
        [w("t_below"), ", ".join(flagged) or w("none")],
        [w("t_climbed"), _rung_counts(r, "reroll", w)],
        [w("t_skipped"), _rung_counts(r, "skip", w)],
        [w("t_clips"), str(sum(len(v) for v in r.clips.values()))],
        [w("t_cost"), _cost_total(r)],
        [w("t_paid"), str(len(r.costs))],
        [w("t_prices"), _prices(r, w)],
        [w("t_llm"), _llm_totals(r, w)],
    ]
    rows += [
        [w("t_time", stage=w.named("stages", stage)), _duration(seconds, w)]
        for stage, seconds in r.stages.items()
    ]
    if r.finished:
        rows.append([w("t_time", stage=w("t_total")), _duration(r.finished.seconds, w)])
    doc.add(Heading(3, w("h_totals")), Table([w("measure"), w("value")], rows))


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


def _prices(r: RunRecord, w: Words) -> str:
    versions = r.started.versions if r.started else {}
    text = w("prices_read", date=versions.get("prices", "?"))
    overridden = versions.get("prices overridden")
    return w("prices_overridden", text=text, which=overridden) if overridden else text


def _llm_totals(r: RunRecord, w: Words) -> str:
    if not r.llm_calls:
        return w("none")
    tokens = sum(c.prompt_tokens + c.completion_tokens for c in r.llm_calls)
    seconds = sum(c.seconds for c in r.llm_calls)
    return w("llm_totals", n=len(r.llm_calls), tokens=tokens, time=_duration(seconds, w))


def _rung_counts(r: RunRecord, action: str, w: Words) -> str:
    counts = Counter(
        d.rung for ds in r.decisions.values() for d in ds if d.action == action and d.rung
    )
    return ", ".join(f"{rung} {n}" for rung, n in counts.items()) or w("none")


# --- 3. consistency: characters and style ------------------------------------------------------

STYLE_CHECKS = ("style", "style_palette", "style_colours")


def _consistency(doc: Document, r: RunRecord) -> None:
    if r.story is None and r.bible is None:
        return
    w = _words(r)
    doc.add(Heading(2, w("h_consistency")))
    _characters(doc, r, w)
    _style(doc, r, w)
    _consistency_table(doc, r, w)
    _style_scores(doc, r, w)
    if any(r.chosen_keyframe(s.id) for s in r.shots):
        doc.add(
            Heading(3, w("h_grid")),
            Figure(evidence.GRID, w("grid_alt", n=len(r.shots))),
        )


def _characters(doc: Document, r: RunRecord, w: Words) -> None:
    people = r.story.protagonists if r.story else []
    if not people:
        return
    doc.add(Heading(3, w("h_characters")))
    for c in people:
        doc.add(Para(w("character_block", name=c.name, description=c.description)))
        for name, n, source in evidence.references(r):
            if name == c.name:
                alt = w("reference_alt", name=name, n=n, file=Path(source).name)
                doc.add(Figure(evidence.reference_path(name, n), alt))
    if not evidence.references(r):
        doc.add(Para(w("no_references")))
    doc.add(Para(w("identity_block_note")))


def _style(doc: Document, r: RunRecord, w: Words) -> None:
    if r.bible is None:
        return
    b = r.bible
    items = [
        w("style_suffix", suffix=b.suffix),
        w("negative", negative=b.negative),
        w("palette", palette=" ".join(b.palette)),
        w("grain", grain=f"{b.grain:.2f}"),
    ]
    anchors = evidence.anchors(r)
    if anchors:
        names = w.join([Path(src).name for _, src in anchors])
        items.append(w("style_anchors", anchors=names))
    doc.add(Heading(3, w("h_style")), Bullets(items + _lora(r, w)))
    for n, source in anchors:
        alt = w("style_anchor_alt", n=n, file=Path(source).name)
        doc.add(Figure(evidence.anchor_path(n), alt))


def _lora(r: RunRecord, w: Words) -> list[str]:
    said = []
    spec = evidence.lora_spec(r)
    if spec is not None:
        path, strength = spec
        strength = strength or w("lora_default_strength")
        said.append(w("lora_option", name=Path(path).stem, strength=strength, path=path))
        if evidence.lora_notes_source(r) is not None:
            said.append(w("lora_notes", path=evidence.LORA_NOTES))
    if r.bible is not None and r.bible.lora:
        said.append(w("lora_bible", lora=r.bible.lora))
    comfyui = r.started.options.get("comfyui_lora") if r.started else None
    if comfyui and spec is None:  # the older flag; --lora carries it since
        said.append(w("lora_comfyui", lora=comfyui))
    return said or [w("no_lora")]


def _consistency_checks(r: RunRecord) -> list[str]:
    return [
        n
        for n in r.check_names("keyframe")
        if n.split(":")[0] in ("identity", "copy_paste", *STYLE_CHECKS)
    ]


def _consistency_table(doc: Document, r: RunRecord, w: Words) -> None:
    """Each shot's accepted keyframe against the consistency checks; a check that never ran
    is said once, with its reason and how many attempts it skipped."""
    names = _consistency_checks(r)
    if not r.shots or not names:
        return
    never = r.never_ran("keyframe")
    shown = [n for n in names if n not in never]
    heads = [_threshold_head(r, n, w) for n in shown]
    rows = []
    for shot in r.shots:
        chosen = r.chosen_keyframe(shot.id)
        critique = r.critique(shot.id, "keyframe", chosen.number) if chosen else None
        cells = [
            _cell(critique, n, w, with_threshold=heads[i] == n) if critique else "-"
            for i, n in enumerate(shown)
        ]
        if not chosen:
            cells = [w("no_keyframe_yet")] * len(shown)
        who = ", ".join(shot.characters) or "-"
        rows.append([shot.id, who, str(len(r.attempts(shot.id))), *cells])
    doc.add(Heading(3, w("h_consistency_table")))
    if shown:
        doc.add(Table([w("shot"), w("in_frame"), w("attempts"), *heads], rows))
    for name in names:
        if name in never:
            doc.add(Para(_never_said(r, name, never[name], w)))


def _never_said(r: RunRecord, name: str, reason: str, w: Words) -> str:
    shots = r.not_run("keyframe").get((name, reason), [])
    return w(
        "not_run_once",
        check=name,
        attempts=w.n("n_attempts", len(shots)),
        shots=_shot_span(list(dict.fromkeys(shots)), r, w),
        why=_why(reason),
    )


def _threshold_head(r: RunRecord, name: str, w: Words) -> str:
    """The check's name with its threshold when one threshold judged every shot; else the
    name alone, and each cell names its own."""
    applied = {(c.threshold, c.higher_is_better) for c, _ in r.thresholds() if c.name == name}
    if len(applied) != 1:
        return name
    threshold, higher = next(iter(applied))
    return w("min_header" if higher else "max_header", check=name, threshold=_num(threshold))


def _cell(critique: Critique, name: str, w: Words, with_threshold: bool = False) -> str:
    check = next((c for c in critique.checks if c.name == name), None)
    if check is None:
        return "-"
    if check.passed is None:
        return w("not_run_because", why=_short(check.reason))
    verdict = w("ok") if check.passed else w("fail")
    if check.score is None:
        return f"{verdict}: {check.reason}"
    if with_threshold and check.threshold is not None:
        return w(
            "score_vs", score=_num(check.score), threshold=_num(check.threshold), verdict=verdict
        )
    return f"{_num(check.score)} {verdict}"


def _style_scores(doc: Document, r: RunRecord, w: Words) -> None:
    rows = []
    for name in [n for n in r.check_names("keyframe") if n in STYLE_CHECKS]:
        chosen = [
            c
            for s in r.shots
            if (k := r.chosen_keyframe(s.id)) and (crit := r.critique(s.id, "keyframe", k.number))
            for c in crit.checks
            if c.name == name and c.score is not None
        ]
        if not chosen:
            continue
        failed = sum(
            1
            for (_, kind, _), crit in r.critiques.items()
            if kind == "keyframe"
            for c in crit.checks
            if c.name == name and c.passed is False
        )
        scores = [c.score for c in chosen]
        thresholds = sorted({c.threshold for c in chosen if c.threshold is not None})
        rows.append(
            [
                name,
                w.raw("style_what").get(name, ""),
                ", ".join(_num(t) for t in thresholds) or "-",
                str(len(chosen)),
                _num(min(scores)),
                _num(mean(scores)),
                _num(max(scores)),
                str(failed),
            ]
        )
    doc.add(Heading(3, w("h_style_scores")))
    doc.add(Table(list(w.raw("style_headers")), rows) if rows else Para(w("no_style_scores")))


# --- 4. models and key parameters --------------------------------------------------------------

HIDDEN_PARAMS = {"graph", "comfyui", "server", "seed", "caption_px", "text_sent", "source"}


def _models(doc: Document, r: RunRecord) -> None:
    if r.started is None:
        return
    w = _words(r)
    doc.add(Heading(2, w("h_models")), Heading(3, w("h_stages")))
    doc.add(Table(list(w.raw("stage_headers")), _stage_rows(r, w)))
    for kind in ("keyframe", "clip"):
        _settings(doc, r, kind, w)
    _comfyui(doc, r, w)
    _run_parameters(doc, r, w)
    _thresholds(doc, r, w)
    _not_run(doc, r, w)
    _assembly(doc, r, w)


def _stage_rows(r: RunRecord, w: Words) -> list[list[str]]:
    rows = [[w("s_planner"), r.planner or "?", w("w_planner")]]
    for stage, table in (("s_keyframes", r.keyframes), ("s_clips", r.clips)):
        attempts = [a for lst in table.values() for a in lst]
        used = _used(attempts, w) or w("none")
        work = w(
            "w_attempts",
            attempts=w.n("n_attempts", len(attempts)),
            shots=w.n("n_shots", len(table)),
        )
        if any(a.backend == "previz" for a in attempts):
            work += w("clause_sep") + w("previz_backend")
        rows.append([w(stage), used, work])
    names = r.check_names()
    rows.append([w("s_critics"), w.join(names) or w("none"), w.n("w_checks", len(names))])
    lines = r.spoken()
    if lines:
        voices = w.join(sorted({f"{e.backend}:{e.model}" for e in lines}))
        rows.append([w("s_voices"), voices, w.n("w_lines", len(lines))])
    if r.assembly:
        steps = w.join(sorted({s.step for s in r.assembly}, key=[s.step for s in r.assembly].index))
        rows.append(
            [w("s_assembly"), "ffmpeg", w("w_assembly", steps=steps, file=evidence.COMMANDS)]
        )
    return rows


def _settings(doc: Document, r: RunRecord, kind: str, w: Words) -> None:
    """Each generator's settings as sent, one value where every attempt used the same one."""
    table = r.keyframes if kind == "keyframe" else r.clips
    by_model: dict[str, list] = defaultdict(list)
    for attempts in table.values():
        for a in attempts:
            if a.made_by != "human":
                by_model[f"{a.backend}:{a.model}"].append(a)
    for used, attempts in by_model.items():
        values: dict[str, list] = defaultdict(list)
        for a in attempts:
            for key, value in a.params.items():
                if key not in HIDDEN_PARAMS and _shown_value(value):
                    values[key].append(value)
        if not values:
            continue
        rows = [[key, _spread(found, w)] for key, found in values.items()]
        doc.add(
            Heading(4, w("h_generator", backend=used)),
            Table([w("parameter"), w("value")], rows),
        )


def _shown_value(value) -> bool:
    if isinstance(value, bool | int | float):
        return True
    return isinstance(value, str) and 0 < len(value) <= 120


def _spread(values: list, w: Words) -> str:
    distinct = list(dict.fromkeys(values))
    if len(distinct) == 1:
        return _value(distinct[0])
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in distinct):
        return w("varies", n=len(distinct), low=_value(min(distinct)), high=_value(max(distinct)))
    shown = [_value(v) for v in distinct[:3]]
    if len(distinct) > 3:
        return w("varies_list", values=w("and_more", shown=w.join(shown), n=len(distinct) - 3))
    return w("varies_list", values=w.join(shown))


def _value(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _comfyui(doc: Document, r: RunRecord, w: Words) -> None:
    rows = []
    for kind, table in (("k_keyframe", r.keyframes), ("k_clip", r.clips)):
        attempts = [a for lst in table.values() for a in on_comfyui(lst)]
        start = len(rows)
        for key, header in COLUMNS:
            found = [
                a.params["comfyui"][key] for a in attempts if key in (a.params.get("comfyui") or {})
            ]
            found = [v for v in found if _shown_value(v)]
            if found:
                rows.append([w(kind), header, _spread(found, w)])
        workflows = [
            str(a.params.get("workflow", "")) for a in attempts if a.params.get("workflow")
        ]
        if workflows:
            rows.insert(start, [w(kind), "workflow", _spread(workflows, w)])
    if rows:
        doc.add(
            Heading(4, w("h_comfyui")),
            Table([w.raw("stage_headers")[0], w("parameter"), w("value")], rows),
            Para(w("comfyui_graphs", folder=FOLDER)),
        )


def _run_parameters(doc: Document, r: RunRecord, w: Words) -> None:
    if r.bible is None or r.started is None:
        return
    b, opts = r.bible, r.started.options
    rows = [
        [w("p_frame"), f"{b.width}x{b.height} ({b.aspect_ratio})"],
        [w("p_fps"), f"{opts.get('fps', 24)} fps"],
        [w("p_seed"), str(opts.get("seed"))],
        [w("p_seed_policy"), b.seed_policy],
        [w("p_max_attempts"), str(opts.get("max_attempts"))],
        [w("p_runtime"), w("min", n=opts.get("minutes"))],
    ]
    if r.cards:
        rows += [
            [w("p_title_card"), f"{r.cards.title} ({w('length', n=r.cards.title_s)})"],
            [w("p_end_card"), f"{r.cards.end} ({w('length', n=r.cards.end_s)})"],
            [w("p_label"), r.cards.label],
        ]
    doc.add(Heading(3, w("h_run_parameters")), Table([w("parameter"), w("value")], rows))


def _thresholds(doc: Document, r: RunRecord, w: Words) -> None:
    every = {s.id for s in r.shots}
    rows = [
        [
            c.name,
            _num(c.threshold),
            w("at_least") if c.higher_is_better else w("at_most"),
            w("every_shot") if set(shots) == every else _shot_span(shots, r, w),
        ]
        for c, shots in r.thresholds()
    ]
    if rows:
        doc.add(
            Heading(3, w("h_thresholds")),
            Table(list(w.raw("threshold_headers")), rows),
        )


def _not_run(doc: Document, r: RunRecord, w: Words) -> None:
    """Every check that did not run, once per reason, with how many attempts it skipped."""
    rows = [
        [name, _why(reason), str(len(shots)), _shot_span(list(dict.fromkeys(shots)), r, w)]
        for (name, reason), shots in r.not_run().items()
    ]
    if rows:
        doc.add(Heading(3, w("h_not_run")), Table(list(w.raw("not_run_headers")), rows))


def _assembly(doc: Document, r: RunRecord, w: Words) -> None:
    if not r.assembly:
        return
    rows = [[s.step, _duration(s.seconds, w), s.output] for s in r.assembly]
    doc.add(
        Heading(3, w("h_assembly")),
        Table(list(w.raw("assembly_headers")), rows),
        Para(w("assembly_commands", file=evidence.COMMANDS)),
    )


def _shot_span(shots: list[str], r: RunRecord | None = None, w: Words | None = None) -> str:
    """The shots a threshold judged, listed, or counted with the first and last when many."""
    every = [s.id for s in r.shots] if r is not None else []
    if w is not None and every and set(shots) == set(every) and len(shots) > 1:
        return w("every_shot")
    if len(shots) <= 6:
        return ", ".join(shots)
    if w is None:
        return f"{len(shots)} shots, {shots[0]} to {shots[-1]}"
    return w("shot_span", n=len(shots), first=shots[0], last=shots[-1])


# --- 5. problems met and how they were solved --------------------------------------------------


def _problems(doc: Document, r: RunRecord) -> None:
    w = _words(r)
    doc.add(Heading(2, w("h_problems")))
    unjudged = _unjudged(r, w)
    found = False
    for shot in r.shots:
        for kind in ("keyframe", "clip"):
            lines = _problems_of(r, shot.id, kind, w)
            if kind == "keyframe":
                lines += _sent_back_problems(r, shot.id, w)
            lines = [line for line in lines if line not in unjudged.repeated]
            if not lines:
                continue
            found = True
            doc.add(Heading(3, w("problem_heading", shot=shot.id, what=w(f"k_{kind}"))))
            pair = evidence.problem(r, shot) if kind == "keyframe" else None
            if pair is not None:
                failed = pair.critique is not None and pair.critique.verdict == "fail"
                alt = w(
                    "problem_alt" if failed else "problem_alt_sent",
                    shot=shot.id,
                    failed=pair.failed.number,
                    kept=pair.kept.number,
                )
                doc.add(Figure(evidence.problem_path(shot.id), alt))
            doc.add(Bullets(lines))
    if unjudged.summary:
        found = True
        doc.add(Bullets(unjudged.summary))
    if r.errors:
        found = True
        doc.add(
            Heading(3, w("errors_met")),
            Bullets([w("error_in", stage=e.stage, message=e.message) for e in r.errors]),
        )
    climbed = list(
        dict.fromkeys(
            d.rung for ds in r.decisions.values() for d in ds if d.rung and d.action == "reroll"
        )
    )
    if climbed:
        rungs = w.join([w.named("rung_names", rung) for rung in climbed])
        doc.add(Para(w("ladder_rungs", rungs=rungs)))
    if not found:
        doc.add(Para(w("no_problems")))


@dataclasses.dataclass
class _Unjudged:
    repeated: set[str]  # per-attempt lines folded into the summary
    summary: list[str]


def _unjudged(r: RunRecord, w: Words) -> _Unjudged:
    """Attempts no check could judge: one line each, or one line with the count for a reason
    shared by several."""
    by_reason: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for (shot_id, kind, number), crit in r.critiques.items():
        if crit.verdict == "not judged":
            attempt = next((a for a in r.attempts(shot_id, kind) if a.number == number), None)
            if attempt is not None:
                which = w("attempt_of", what=_what(shot_id, kind, w), n=number)
                line = _unjudged_line(r, attempt, crit, w)
                by_reason[_failures(crit.checks)].append((which, line))
    repeated, summary = set(), []
    for why, found in by_reason.items():
        if len(found) > 1:
            repeated.update(line for _, line in found)
            named = [which for which, _ in found]
            which = w.join(named[:6])
            if len(named) > 6:
                which = w("and_more", shown=which, n=len(named) - 6)
            summary.append(w("unjudged_summary", n=len(found), which=which, why=why))
    return _Unjudged(repeated, summary)


def _what(shot_id: str, kind: str, w: Words) -> str:
    return shot_id if kind == "keyframe" else f"{shot_id} {w('k_clip')}"


def _unjudged_line(r: RunRecord, attempt, crit: Critique, w: Words) -> str:
    return w(
        "attempt_unjudged",
        what=_what(attempt.shot_id, attempt.kind, w),
        n=attempt.number,
        seed=attempt.seed,
        why=_failures(crit.checks),
    )


def _problems_of(r: RunRecord, shot_id: str, kind: str, w: Words) -> list[str]:
    tried = [(a, r.critique(shot_id, kind, a.number)) for a in r.attempts(shot_id, kind)]
    what = _what(shot_id, kind, w)
    lines = [
        _unjudged_line(r, a, crit, w)
        for a, crit in tried
        if crit is not None and crit.verdict == "not judged"
    ]
    failed = [(a, c) for a, c in tried if c is not None and c.verdict == "fail"]
    if not failed:
        return lines
    lines += _failed_lines(failed, what, w)
    final = r.final_decision(shot_id, kind)
    if final is None:
        lines.append(w("unresolved", what=what))
    elif final.action == "accept":
        rungs = [d.rung for d in r.ladder(shot_id, kind) if d.action == "reroll" and d.rung]
        key = "solved" if rungs else "solved_no_rung"
        if rungs and _reason(final, r, w) == w("accept_cell"):
            key = "solved_plain"
        lines.append(
            w(
                key,
                what=what,
                rungs=" -> ".join(rungs),
                n=final.attempt,
                reason=_reason(final, r, w),
            )
        )
    else:
        lines.append(w("not_solved", what=what, reason=final.reason))
    return lines


def _failed_lines(failed: list, what: str, w: Words) -> list[str]:
    """One line per failed attempt; attempts that failed with the very same words, once."""
    groups: dict[str, list] = defaultdict(list)
    for a, crit in failed:
        groups[_failures(crit.failed)].append(a)
    lines = []
    for failures, attempts in groups.items():
        if len(attempts) == 1:
            a = attempts[0]
            lines.append(w("attempt_failed", what=what, n=a.number, seed=a.seed, failures=failures))
            continue
        numbers = w.join([str(a.number) for a in attempts])
        seeds = w.join([str(a.seed) for a in attempts])
        lines.append(
            w(
                "attempts_failed_same",
                what=what,
                numbers=numbers,
                seeds=seeds,
                n=len(attempts),
                failures=failures,
            )
        )
    return lines


def _sent_back_problems(r: RunRecord, shot_id: str, w: Words) -> list[str]:
    """What a human sent back at a checkpoint, and the keyframe the film kept."""
    lines = [
        w("sent_back", shot=shot_id, n=number, said=_human_said(a, w))
        for number, a in r.sent_back.get(shot_id, [])
    ]
    chosen = r.chosen_keyframe(shot_id)
    if lines and chosen:
        lines.append(w("kept", shot=shot_id, n=chosen.number))
    return lines


def _failures(checks: list[CheckResult]) -> str:
    return "; ".join(f"{c.name} ({c.reason})" for c in checks)


def _reason(d: Decision, r: RunRecord, w: Words) -> str:
    """A decision's reason; the policy's 'all N checks passed (...)' said as one short phrase."""
    critique = r.critique(d.shot_id or "", d.kind, d.attempt or 0)
    passed = critique is not None and critique.verdict == "pass"
    if d.action == "accept" and passed and d.reason.startswith("all "):
        return w("accept_cell")
    return d.reason


# --- 6. human decisions ------------------------------------------------------------------------


def _human(doc: Document, r: RunRecord) -> None:
    if r.started is None:
        return
    w = _words(r)
    doc.add(Heading(2, w("h_human")))
    auto = [a for a in r.approvals if a.by == "auto"]
    human = [a for a in r.approvals if a.by != "auto"]
    if auto:
        where = w.join([_checkpoint(a, w) for a in auto])
        doc.add(Para(w("approvals_auto", n=w.n("n_checkpoints", len(auto)), where=where)))
    if human:
        doc.add(
            Heading(3, w("h_approvals")),
            Table(list(w.raw("approval_headers")), [_approval_row(a, w) for a in human]),
        )
    elif r.approvals:
        doc.add(Para(w("no_human")))
    if r.notices:
        doc.add(Para(w("notices")), Bullets([n.said for n in r.notices]))
    if r.resumes:
        doc.add(Para(_resumes(r, w)))


def _checkpoint(a, w: Words) -> str:
    if a.checkpoint == "beats" or not a.beat_id:
        return w("checkpoint_beats")
    return w("checkpoint_keyframes", beat=a.beat_id)


def _approval_row(a, w: Words) -> list[str]:
    where = a.checkpoint + (
        f" of beat {a.beat_id}" if a.beat_id and a.checkpoint != "beats" else ""
    )
    if w.lang != "en":
        where = _checkpoint(a, w)
    decision = w.named("decisions", a.decision)
    if a.shot_id:
        decision = w("decision_shot", decision=decision, shot=a.shot_id)
    what = [f"{a.shot_id or a.beat_id or ''} {k} -> {v!r}".strip() for k, v in a.changes.items()]
    what += [a.note] if a.note else []
    return [_when(a.decided_at or a.ts), where, decision, _by(a, w), "; ".join(what)]


def _by(a, w: Words) -> str:
    if a.by == "auto":
        return w("by_auto")
    return w("by_human") + (f" ({a.who})" if a.who else "")


def _where(a, w: Words) -> str:
    if a.checkpoint == "beats":
        return w("where_beats")
    return w("where_keyframes", beat=a.beat_id)


def _resumes(r: RunRecord, w: Words) -> str:
    """How often the run was resumed, the first and last time, and each way once with its count."""
    ways = Counter()
    changes = []
    for e in r.resumes:
        how = (
            w("resume_from", stage=e.from_stage)
            if e.from_stage
            else (w("resume_answer", waiting=e.waiting) if e.waiting else w("resume_checkpoint"))
        )
        if e.log_repaired:
            how += f", {w('resume_repaired')}"
        ways[how] += 1
        changes += [f"{k} {old!r} -> {new!r}" for k, (old, new) in e.changed.items()]
    said = [how if n == 1 else w("count_of", what=how, n=n) for how, n in ways.items()]
    if changes:
        said.append(w("resume_changed", changes=", ".join(changes)))
    return w(
        "resumed",
        times=w.n("times", len(r.resumes)),
        first=_when(r.resumes[0].ts),
        last=_when(r.resumes[-1].ts),
        how=w("clause_sep").join(said),
    )


def _human_said(a, w: Words) -> str:
    """A human's reroll, edit or rejection of a keyframe, as the attempt table shows it."""
    said = {
        "reroll": w("said_reroll"),
        "edit": "; ".join(w("said_edit", slot=k, text=repr(v)) for k, v in a.changes.items()),
        "reject": a.note,
    }[a.decision]
    return w("human_said", decision=w.named("decisions", a.decision), by=_by(a, w), said=said)


# --- 7. generated and made by hand -------------------------------------------------------------

# The brief: at least this share of the film's screen time shows generated visuals.
GENERATED_SHARE = 0.6


def _by_hand(doc: Document, r: RunRecord) -> None:
    """How much of the film's screen time shows generated visuals, and what the creator made
    by hand: a shot whose keyframe is theirs counts as made by hand, though its motion is
    generated from it. Title and end cards are text, and counted in neither."""
    if not r.shots:
        return
    w = _words(r)
    total = sum(s.duration_s for s in r.shots)
    made = r.by_hand()
    hand = sum(s.duration_s for s, _ in made)
    share = (total - hand) / total if total else 1.0
    doc.add(
        Heading(2, w("h_by_hand")),
        Para(
            w(
                "generated_share",
                share=f"{share:.0%}",
                generated=w("length", n=total - hand),
                total=w("length", n=total),
                verdict=w("meets") if share >= GENERATED_SHARE else w("below"),
                required=f"{GENERATED_SHARE:.0%}",
            )
        ),
    )
    if made:
        doc.add(Bullets([_hand_made(r, s, a, w) for s, a in made]))
    else:
        doc.add(Para(w("nothing_by_hand")))


def _hand_made(r: RunRecord, shot: Shot, attempt, w: Words) -> str:
    critique = r.critique(shot.id, "keyframe", attempt.number)
    verdict = critique.verdict if critique else w("not_critiqued")
    source = Path(str(attempt.params.get("source", ""))).name or w("a_file")
    return w(
        "hand_made",
        shot=shot.id,
        length=f"{shot.duration_s:.2f} s",
        source=source,
        n=attempt.number,
        verdict=verdict,
    )


# --- 8. voices and sound -----------------------------------------------------------------------


def _sound(doc: Document, r: RunRecord) -> None:
    lines = r.spoken()
    music = r.started.options.get("music") if r.started else None
    if not lines and r.loudness is None and not music and not r.line_fits:
        return
    w = _words(r)
    doc.add(Heading(2, w("h_sound")))
    if r.line_fits:
        doc.add(Bullets([_line_fit(w, f) for f in r.line_fits]))
    if lines:
        rows = [
            [
                e.shot_id,
                e.speaker or w("narrator"),
                e.text,
                f"{e.backend}:{e.model} {e.voice}",
                f"{e.start_s:.1f} s",
                f"{e.duration_s:.1f} s",
                w("yes") if e.scratch else w("no"),
                w("yes")
                if e.fits
                else w("too_long", length=f"{e.duration_s:.1f} s", shot=f"{e.shot_s:.1f} s"),
            ]
            for e in lines
        ]
        doc.add(Table(list(w.raw("lines_headers")), rows))
        if any(e.scratch for e in lines):
            doc.add(Para(w("scratch_note")))
    if music:
        doc.add(Para(w("music", music=Path(str(music)).name)))
    if r.loudness is not None:
        m = r.loudness
        doc.add(
            Para(
                w(
                    "loudness",
                    out_i=f"{m.output_i:.1f}",
                    target_i=f"{m.target_i:.1f}",
                    in_i=f"{m.input_i:.1f}",
                    out_tp=f"{m.output_tp:.1f}",
                    target_tp=f"{m.target_tp:.1f}",
                    lra=f"{m.input_lra:.1f}",
                )
            )
        )


def _line_fit(w: Words, fit) -> str:
    """A line timed against its shot at planning: the shot lengthened, or the line flagged."""
    said = {"shot": fit.shot_id, "needed": f"{fit.needed_s:g}", "now": f"{fit.shot_s:g}"}
    if not fit.fits:
        return w("line_flagged", **said)
    donors = ", ".join(f"{sid} ({seconds:g} s)" for sid, seconds in fit.taken.items())
    return w("line_fitted", planned=f"{fit.planned_s:g}", donors=donors, **said)


# --- 9. appendix: every shot -------------------------------------------------------------------


def _appendix(doc: Document, r: RunRecord) -> None:
    if not r.shots:
        return
    w = _words(r)
    doc.add(
        Heading(2, w("h_appendix")),
        Para(w("appendix_intro", style=w("h_consistency"), models=w("h_models"))),
    )
    accepted = [
        d
        for s in r.shots
        for kind in ("keyframe", "clip")
        if (d := r.final_decision(s.id, kind)) and _reason(d, r, w) == w("accept_cell")
    ]
    if accepted:
        doc.add(Para(w("accepted_count", attempts=w.n("n_attempts", len(accepted)))))
    beats = {b.id: b for b in r.beat_sheet.beats} if r.beat_sheet else {}
    current = None
    for shot in r.shots:
        if shot.beat_id != current:
            current = shot.beat_id
            beat = beats.get(current)
            said = (
                w("beat_heading", beat=current, name=beat.name, summary=beat.summary)
                if beat
                else current
            )
            doc.add(Heading(3, said))
        _shot(doc, r, shot, w)


def _shot(doc: Document, r: RunRecord, shot: Shot, w: Words) -> None:
    heading = w(
        "shot_heading",
        shot=shot.id,
        role=w.named("roles", shot.role),
        length=w("length2", n=shot.duration_s),
        transition=w.named("transitions", shot.transition),
    )
    doc.add(Heading(4, heading))
    chosen = r.chosen_keyframe(shot.id)
    if chosen:
        doc.add(Figure(chosen.artifact, w("keyframe_alt", shot=shot.id, n=chosen.number)))
    slots = shot.prompt.slots()
    names = w.raw("slot_names")
    items = [
        w("slot", slot=names[name], text=_slot_text(r, name, slots[name], w))
        for name in ("subject", "action", "environment", "camera")
    ]
    if chosen and chosen.prompt and chosen.prompt != shot.prompt.render():
        items.append(w("drawn_as", prompt=chosen.prompt))
    if shot.line:
        who = f" ({shot.line.speaker})" if shot.line.speaker else ""
        items.append(
            w("slot", slot=w.named("line_kind", shot.line.kind) + who, text=shot.line.text)
        )
    doc.add(Bullets(items))
    for kind in ("keyframe", "clip"):
        if r.critique(shot.id, kind, 1):
            doc.add(
                Para(w("attempts_of", kind=_capital(w(f"k_{kind}")))),
                _attempt_table(r, shot.id, kind, w),
            )
        add_parameters(doc, r, shot.id, kind, w.lang)
        decision = r.final_decision(shot.id, kind)
        if decision and decision.action == "accept-below-threshold":
            doc.add(Para(w("flagged", kind=_capital(w(f"k_{kind}")), reason=decision.reason)))


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _slot_text(r: RunRecord, slot: str, text: str, w: Words) -> str:
    """A subject that opens with a character's identity block names the block instead."""
    if slot != "subject" or r.story is None:
        return text
    for c in r.story.protagonists:
        if c.description and text.startswith(c.description):
            rest = text[len(c.description) :].lstrip(" ,，")
            named = w("identity_of", name=c.name, section=w("h_characters"))
            return f"{named}, {rest}" if rest else named
    return text


def _attempt_table(r: RunRecord, shot_id: str, kind: str, w: Words) -> Table:
    never = r.never_ran(kind)
    checks = [n for n in r.check_names(kind) if n not in never]
    decisions: dict[int | None, list[Decision]] = defaultdict(list)
    for d in r.ladder(shot_id, kind):
        decisions[d.attempt].append(d)
    sent_back: dict[int, list[str]] = defaultdict(list)
    if kind == "keyframe":
        for number, approval in r.sent_back.get(shot_id, []):
            sent_back[number].append(_human_said(approval, w))
    rows = []
    for attempt in r.attempts(shot_id, kind):
        critique = r.critique(shot_id, kind, attempt.number)
        scores = [_cell(critique, name, w) if critique else "-" for name in checks]
        said = [_decided(d, r, w) for d in decisions.get(attempt.number, [])]
        rows.append(
            [
                str(attempt.number),
                w("by_hand_cell") if attempt.made_by == "human" else str(attempt.seed),
                *scores,
                w.named("verdicts", critique.verdict) if critique else w("not_critiqued"),
                " / ".join(said + sent_back.get(attempt.number, [])),
            ]
        )
    heads = [w("attempt"), w("seed"), *checks, w("verdict"), w("decision")]
    return Table(heads, rows)


def _decided(d: Decision, r: RunRecord, w: Words) -> str:
    if d.action == "skip":
        return f"skip {d.rung}: {d.reason}"
    reason = _reason(d, r, w)
    if reason == w("accept_cell"):
        return reason
    return f"{d.action}{f' ({d.rung})' if d.rung else ''}: {reason}"


# --- shared ------------------------------------------------------------------------------------


def _why(reason: str) -> str:
    return re.sub(r"^not run:\s*", "", reason.strip()) or "-"


def _short(reason: str, limit: int = 90) -> str:
    """A not-run reason short enough for a table cell: without its 'not run:' and, when long,
    without the parenthesis that says where it looked."""
    why = _why(reason)
    if len(why) > limit and " (" in why:
        why = why.split(" (", 1)[0]
    return why


def _when(ts: str) -> str:
    """A timestamp to the second."""
    return ts[:19].replace("T", " ")


def _duration(seconds: float, w: Words) -> str:
    """A length of time to the second: '42 s', '2 min 8 s', '1 h 2 min 3 s'."""
    total = round(seconds)
    if total < 60:
        return w("seconds", n=total)
    minutes, s = divmod(total, 60)
    if minutes < 60:
        return w("minutes_seconds", m=minutes, s=s)
    h, m = divmod(minutes, 60)
    return w("hours_minutes_seconds", h=h, m=m, s=s)


def _num(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"


SECTIONS = (
    _film,
    _process,
    _consistency,
    _models,
    _problems,
    _human,
    _by_hand,
    _sound,
    _evaluation,
    _appendix,
)
