"""Identity: is each character in frame the person of their reference images, and is the face a
render rather than the reference photo pasted in?

Identity compares face embeddings, so it passes a new photo or render of the same person. The
copy-paste guard compares aligned face crops pixel by pixel: pasting the reference scores highest
on identity, and only a pixel comparison tells it from a genuinely new image of the face.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from director.records import Character, CheckResult, Shot
from director.tools.base import Critic, CriticContext
from director.tools.critics.faces import Face, FaceBackend, Match, assign, chip_similarity
from director.tools.critics.imaging import as_rgb, pixels
from director.tools.critics.registered import CriticSetup

DEFAULTS: dict[str, float] = {
    # Chip similarity (normalised cross-correlation of the grey centres of aligned 150 px crops)
    # above which a face is the reference photo pasted in. The reference pasted into a larger
    # frame measures 0.997; copies rescaled to half size, rotated 4 degrees, brightened or
    # relit with a left-to-right gradient, on new backgrounds, 0.96-0.99. The same face warped
    # by a few pixels (a changed expression) and colour-quantised measures 0.82-0.84, mirrored
    # 0.24, and other people 0.60 at most. On 12 faces of real photos
    # (bench/calibrate_identity.py, dlib; docs/calibration.md), each face's photo pasted into another
    # photo measures 0.97-1.00 at full size but 0.935-0.99 at half size recompressed as JPEG
    # quality 70 (faces of about 50 px), which 0.95 let through twice; different real photos of
    # one person measure 0.41 at most, other people 0.59, warped and quantised stand-ins for a
    # re-render 0.84.
    "copy_paste_chip": 0.90,
    # Embedding similarity above which the face can only be the same photo. Identical pixels
    # give 1.00; the reference pasted at full size already drops to 0.955 when the detector
    # frames it differently, a resampled copy to 0.80-0.82, so the chip comparison does most of
    # the work and this rule only catches the exact pixels. On real photos pasted copies
    # measure 0.73-1.00 and different photos of one person 0.58-0.68 (3 pairs): too few to
    # lower it without flagging a render that is simply very like its reference.
    "copy_paste_embedding": 0.97,
}


class IdentityCritic(Critic):
    name = "identity"
    checks = ("identity", "copy_paste")
    # ``identity`` defaults to the face backend's own calibrated threshold.
    defaults = {"identity": None, **DEFAULTS}
    # A face drifts within a clip as well as between shots: every sampled frame is judged.
    judges = ("keyframe", "clip")

    def __init__(
        self,
        backend: FaceBackend,
        characters: dict[str, list[str]],
        identity: float | None = None,
        **thresholds: float,
    ) -> None:
        unknown = set(thresholds) - set(DEFAULTS)
        if unknown:
            raise TypeError(f"unknown thresholds {sorted(unknown)}; known: {sorted(DEFAULTS)}")
        self.thresholds = {**DEFAULTS, **thresholds}
        self.backend = backend
        # Similarity at or above which a face is the character: the face backend's own
        # calibrated threshold unless the user set another.
        self.identity_threshold = backend.threshold if identity is None else identity
        # Reference faces are read once: every keyframe of the film is compared with them.
        self.references: dict[str, list[tuple[str, Face]]] = {
            name: [(Path(p).name, backend.reference_face(p)) for p in paths]
            for name, paths in characters.items()
            if paths
        }

    @classmethod
    def for_run(cls, setup: CriticSetup) -> Critic | None:
        """The identity check for the film's cast, a stand-in that says why it cannot run on
        storyboard figures, or None for a film without a cast. It uses insightface where a model
        pack is present under the setup's ``insightface_root``, else dlib."""
        if not setup.cast:
            return None
        if not setup.renders_faces:
            return IdentityNotRun(
                f"the {setup.image_backend} image backend draws storyboard figures, not "
                "faces, so identity cannot be judged on its frames"
            )
        from director.tools.critics.face_choice import choose_face_backend

        backend = choose_face_backend(setup.insightface_root)
        return cls.from_characters(backend, setup.cast, **setup.thresholds_of(cls))

    @classmethod
    def from_characters(
        cls, backend: FaceBackend, characters: Iterable[Character], **thresholds: float
    ) -> IdentityCritic:
        """``thresholds`` may hold ``identity`` and the copy-paste limits."""
        return cls(backend, {c.name: list(c.references) for c in characters}, **thresholds)

    def check(self, image: Any, shot: Shot, context: CriticContext) -> list[CheckResult]:
        expected = [n for n in dict.fromkeys(shot.characters) if n in self.references]
        if not expected:
            return self.not_run("not run: no character with references in frame")
        faces = self.backend.detect(pixels(as_rgb(image)), expect=len(expected))
        embeddings = {n: [f.embedding for _, f in self.references[n]] for n in expected}
        matches = assign(faces, embeddings, self.backend)
        several = len(expected) > 1
        results = [self.identity(n, matches[n], len(faces), several) for n in expected]
        return [*results, self.copy_paste({n: matches[n] for n in expected})]

    def identity(self, name: str, match: Match, detected: int, several: bool) -> CheckResult:
        check = f"identity:{name}" if several else "identity"
        threshold, backend = self.identity_threshold, self.backend.name
        if match.face is None or match.best is None:
            return CheckResult(
                name=check,
                score=None,
                threshold=threshold,
                passed=False,
                reason=f"{name}'s face not found: {detected} face(s) detected ({backend})",
                details={"faces": detected},
            )
        left, top, right, bottom = (int(v) for v in match.face.box)
        return CheckResult.measured(
            check,
            match.best,
            threshold,
            f"{name}: similarity to the references best {match.best:.3f}, mean "
            f"{match.mean:.3f} (min {threshold:.2f}, {backend})",
            details={"box": [left, top, right, bottom], "face_px": bottom - top},
        )

    def copy_paste(self, matches: dict[str, Match]) -> CheckResult:
        found = {n: m.face for n, m in matches.items() if m.face is not None}
        if not found:
            return CheckResult.not_run(
                "copy_paste", "not run: no character's face found to compare with the references"
            )
        name, ref, chip, embedding = max(
            (self._closest(n, face) for n, face in found.items()), key=lambda t: t[2]
        )
        chip_limit = self.thresholds["copy_paste_chip"]
        embedding_limit = self.thresholds["copy_paste_embedding"]
        pasted = chip > chip_limit or embedding > embedding_limit
        verdict = "is the reference pasted in" if pasted else "is a new image of"
        return CheckResult(
            name="copy_paste",
            score=round(chip, 4),
            threshold=chip_limit,
            passed=not pasted,
            reason=f"{name}'s face {verdict} {ref}: chip similarity {chip:.3f} (max "
            f"{chip_limit:.2f}), embedding similarity {embedding:.3f} (max {embedding_limit:.2f})",
            higher_is_better=False,
        )

    def _closest(self, name: str, face: Face) -> tuple[str, str, float, float]:
        """The reference a face is most nearly a copy of: (name, file, chip, embedding)."""
        scored = [
            (name, ref, chip_similarity(face.chip, r.chip), self._similar(face, r))
            for ref, r in self.references[name]
        ]
        return max(scored, key=lambda t: (t[2], t[3]))

    def _similar(self, a: Face, b: Face) -> float:
        return self.backend.similarity(a.embedding, b.embedding)


class IdentityNotRun(Critic):
    """Stands in for identity when the image backend draws no real faces (storyboards)."""

    name = "identity"
    checks = ("identity",)
    judges = IdentityCritic.judges

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def check(self, image: Any, shot: Shot, context: CriticContext) -> list[CheckResult]:
        if not shot.characters:
            return self.not_run("not run: no character in frame")
        return self.not_run(f"not run: {self.reason}")
