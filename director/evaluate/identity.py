"""Identity across the film, per character, with the face backend the gate uses.

- ``similarity``: each shot's face against the character's references (best and mean), as the
  gate's identity check measures it;
- ``cross`` and ``self``: ViStoryBench's Cross and Self Similarity (Zhuang et al. 2025,
  CIDS): the mean similarity of every shot's face to every reference, and the mean similarity
  of every pair of the character's shots;
- ``copy_paste``: the face's aligned crop compared pixel by pixel with each reference's and
  each reference's mirror image (a pasted photo flipped left to right is a copy too), and
  ``copy_rate``, ViStoryBench's CopyRate with the character's other shots in place of a
  second reference (see docs/evaluate.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np

from director.errors import DirectorError
from director.evaluate.film import Film, ShotFrame
from director.evaluate.measured import not_measured
from director.tools.critics.faces import Face, FaceBackend, assign, chip_similarity
from director.tools.critics.identity import DEFAULTS as COPY_LIMITS
from director.tools.critics.imaging import open_rgb, pixels

# Chordal distance below which a reference and another shot are one point: CopyRate is then
# undefined, and ViStoryBench reports 0.5.
DEGENERATE = 1e-3


@dataclass
class Reference:
    name: str  # the file's name, as labels show it
    face: Face
    mirror: Face | None


def measure_identity(
    film: Film, backend: FaceBackend | None, thresholds: dict[str, float]
) -> dict[str, Any]:
    """Character name -> their identity metrics, or why they were not measured."""
    if not film.cast:
        return {}
    why = _unmeasurable(film, backend)
    if why:
        return {name: not_measured(why) for name in film.cast}
    assert backend is not None
    limits = {**COPY_LIMITS, **{k: v for k, v in thresholds.items() if k in COPY_LIMITS}}
    threshold = thresholds.get("identity", backend.threshold)
    references: dict[str, list[Reference]] = {}
    result: dict[str, Any] = {}
    for name, paths in film.cast.items():
        found = _references(backend, paths)
        if isinstance(found, str):
            result[name] = not_measured(found)
        else:
            references[name] = found
    faces = _shot_faces(film, backend, references)
    for name, refs in references.items():
        result[name] = _character(name, refs, faces.get(name, {}), backend, threshold, limits)
    return result


def _unmeasurable(film: Film, backend: FaceBackend | None) -> str:
    if backend is None:
        return "no face model: install dlib-bin and face_recognition_models, or place an insightface model pack"
    skipped = _gate_reasons(film)
    return f"the gate could not judge identity either: {skipped}" if skipped else ""


def _gate_reasons(film: Film) -> str:
    """The gate's reason when it recorded identity as not run on every accepted frame with a
    character in it (storyboard frames draw no faces): the same holds for an evaluation."""
    reasons = []
    for frame in film.accepted:
        if not frame.shot.characters or frame.attempt is None:
            continue
        critique = film.record.critique(frame.shot.id, "keyframe", frame.attempt.number)
        checks = [c for c in critique.checks if c.name.startswith("identity")] if critique else []
        if not checks or any(c.passed is not None for c in checks):
            return ""
        reasons.append(checks[0].reason.removeprefix("not run: "))
    return reasons[0] if reasons else ""


def _references(backend: FaceBackend, paths: list[str]) -> list[Reference] | str:
    refs = []
    for path in paths:
        if not Path(path).is_file():
            return f"the reference image {path} is gone; restore it to measure identity"
        try:
            face = backend.reference_face(path)
        except DirectorError as exc:
            return str(exc)
        refs.append(Reference(Path(path).name, face, _mirror_face(backend, path)))
    return refs


def _mirror_face(backend: FaceBackend, path: str) -> Face | None:
    image = open_rgb(path)
    faces = backend.detect(np.ascontiguousarray(pixels(image)[:, ::-1]), expect=1)
    return faces[0] if len(faces) == 1 else None


def _shot_faces(
    film: Film, backend: FaceBackend, references: dict[str, list[Reference]]
) -> dict[str, dict[str, Face | str]]:
    """Character -> shot id -> the face given to them in the shot's keyframe, or why none."""
    found: dict[str, dict[str, Face | str]] = {}
    for frame in film.accepted:
        expected = [n for n in dict.fromkeys(frame.shot.characters) if n in references]
        if not expected:
            continue
        for name, face in _faces_in(frame, backend, expected, references).items():
            found.setdefault(name, {})[frame.shot.id] = face
    return found


def _faces_in(
    frame: ShotFrame, backend: FaceBackend, expected: list[str], refs: dict[str, list[Reference]]
) -> dict[str, Face | str]:
    image = open_rgb(frame.path) if frame.path else None
    if image is None:
        return {n: f"the keyframe {frame.path} cannot be read" for n in expected}
    faces = backend.detect(pixels(image), expect=len(expected))
    matches = assign(faces, {n: [r.face.embedding for r in refs[n]] for n in expected}, backend)
    return {
        n: m.face
        if m.face is not None
        else f"no face found ({len(faces)} detected, {backend.name})"
        for n, m in matches.items()
    }


def _character(
    name: str,
    refs: list[Reference],
    faces: dict[str, Face | str],
    backend: FaceBackend,
    threshold: float,
    limits: dict[str, float],
) -> dict[str, Any]:
    seen = {sid: f for sid, f in faces.items() if isinstance(f, Face)}
    sim = backend.similarity
    shots: dict[str, Any] = {}
    for sid, face in faces.items():
        if isinstance(face, str):
            shots[sid] = not_measured(face)
            continue
        to_refs = [sim(face.embedding, r.face.embedding) for r in refs]
        others = [f for other, f in seen.items() if other != sid]
        shots[sid] = {
            "similarity": round(max(to_refs), 4),
            "mean": round(float(np.mean(to_refs)), 4),
            "passed": max(to_refs) >= threshold,
            "box": [int(v) for v in face.box],
            "copy_paste": copy_paste(face, refs, backend, limits),
            "copy_rate": copy_rate(face, refs, others),
        }
    return {
        "backend": backend.name,
        "threshold": threshold,
        "references": [r.name for r in refs],
        "shots": shots,
        "cross": _cross(seen, refs, backend),
        "self": _self(seen, backend),
        "matrix": matrix(refs, seen, backend),
        "copy_paste_flagged": [
            s for s, v in shots.items() if v.get("copy_paste", {}).get("flagged")
        ],
    }


def _cross(seen: dict[str, Face], refs: list[Reference], backend: FaceBackend):
    """ViStoryBench's Cross Similarity: the mean over every (shot face, reference) pair."""
    if not seen:
        return not_measured("no shot shows the character's face")
    values = [
        backend.similarity(f.embedding, r.face.embedding) for f in seen.values() for r in refs
    ]
    return round(float(np.mean(values)), 4)


def _self(seen: dict[str, Face], backend: FaceBackend):
    """ViStoryBench's Self Similarity: the mean over every pair of the character's shots."""
    if len(seen) < 2:
        return not_measured(f"needs two shots showing the face; {len(seen)} did")
    pairs = combinations(seen.values(), 2)
    return round(
        float(np.mean([backend.similarity(a.embedding, b.embedding) for a, b in pairs])), 4
    )


def matrix(refs: list[Reference], seen: dict[str, Face], backend: FaceBackend) -> dict[str, Any]:
    """Every pairwise similarity of references and shot faces, for the heatmap."""
    labels = [f"ref {r.name}" for r in refs] + list(seen)
    faces = [r.face for r in refs] + list(seen.values())
    values = [
        [round(backend.similarity(a.embedding, b.embedding), 4) for b in faces] for a in faces
    ]
    return {"labels": labels, "values": values}


def copy_paste(
    face: Face, refs: list[Reference], backend: FaceBackend, limits: dict[str, float]
) -> dict[str, Any]:
    """How nearly the face is a reference's pixels, or its mirror image's: the largest chip
    similarity over both, which one it was, and whether it crosses the gate's copy limits."""
    scored = []
    for ref in refs:
        for source, other in (("reference", ref.face), ("mirror", ref.mirror)):
            if other is None:
                continue
            chip = chip_similarity(face.chip, other.chip)
            embedding = backend.similarity(face.embedding, other.embedding)
            scored.append((chip, embedding, f"{source} {ref.name}"))
    chip, embedding, source = max(scored)
    flagged = chip > limits["copy_paste_chip"] or embedding > limits["copy_paste_embedding"]
    return {
        "pixel": round(chip, 4),
        "embedding": round(embedding, 4),
        "nearest": source,
        "flagged": bool(flagged),
        "limits": {"pixel": limits["copy_paste_chip"], "embedding": limits["copy_paste_embedding"]},
    }


def copy_rate(face: Face, refs: list[Reference], others: list[Face]):
    """ViStoryBench's CopyRate, with the character's other shots as the second point: for the
    reference (or mirror) nearest the face, t, and each other shot, r,
    0.5 * (1 + (d(g, r) - d(g, t)) / d(t, r)) with chordal distances of unit embeddings,
    averaged over the other shots. 1: the face is the reference; 0.5: no nearer the reference
    than the film's other shots of the character; 0: it is another shot."""
    if not others:
        return not_measured("needs another shot showing the face")
    g = _unit(face.embedding)
    targets = [_unit(f.embedding) for r in refs for f in (r.face, r.mirror) if f is not None]
    t = min(targets, key=lambda x: _chord(g, x))
    rates = []
    for other in others:
        r = _unit(other.embedding)
        d_tr = _chord(t, r)
        rates.append(0.5 if d_tr < DEGENERATE else 0.5 * (1 + (_chord(g, r) - _chord(g, t)) / d_tr))
    return round(float(np.mean(rates)), 4)


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64).ravel()
    return v / max(float(np.linalg.norm(v)), 1e-12)


def _chord(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(max(2.0 * (1.0 - float(a @ b)), 1e-12)))
