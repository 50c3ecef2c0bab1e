"""The clip gate: checks on the frames of a rendered clip, the way keyframes are checked.

A clip is decoded once (ffmpeg, frames piped out as PPM) into a few evenly spaced frames, the
first and the last among them, and every frame's mean brightness. Three kinds of check follow:

- ``flicker``: brightness that jumps away and comes back within a few frames (strobing, a
  single-frame flash), while camera moves, fades and cuts, which change brightness smoothly or
  once, score near zero;
- ``continuity``: when the plan marks the shot continuous with the previous one, whether the
  previous clip's last frame and this clip's first frame show the same place under the same
  light: how much their colour distributions (CIELAB histograms) overlap, whatever the framing,
  since a cut on action continues the action in a new shot size or angle;
- each image critic's checks (identity, ...) on every sampled frame, folded into one clip-level
  check per name that holds only when it holds on every frame.

The defaults were chosen with ``bench/calibrate_clip_gate.py``, which renders storyboard clips
with the previz video backend (every camera move, several films, crossfades and fades) and
broken clips (strobes, flashes, mid-clip cuts, unrelated next shots, jumps in time of day), and
prints every check's pass rate and score spread.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from director.errors import InputError
from director.records import CheckResult, Shot
from director.tools.base import Critic, CriticContext
from director.tools.critics.clipgate_frames import (
    LUMA_STEP_WIDTH,
    SAMPLES,
    TAIL_S,
    ClipFrames,
    frame_luma,
    last_frame,
    mean_luma,
    read_clip,
    sample_frames,
)
from director.tools.critics.clipgate_measures import (
    FLASH_FRAMES,
    LAB_BINS,
    LAB_RANGE,
    LAB_SPREAD,
    THUMB_WIDTH,
    WINDOW_SHARE,
    ContinuityParts,
    continuity_parts,
    flicker_spikes,
    histogram_intersection,
    lab_histogram,
)

__all__ = [
    "DEFAULTS",
    "FLASH_FRAMES",
    "FLICKER_MIN_FRAMES",
    "LAB_BINS",
    "LAB_RANGE",
    "LAB_SPREAD",
    "LUMA_STEP_WIDTH",
    "SAMPLES",
    "TAIL_S",
    "THUMB_WIDTH",
    "WINDOW_SHARE",
    "ClipFrames",
    "ClipGate",
    "ContinuityParts",
    "continuity_parts",
    "flicker_spikes",
    "fold",
    "frame_luma",
    "histogram_intersection",
    "lab_histogram",
    "last_frame",
    "mean_luma",
    "read_clip",
    "sample_frames",
]

DEFAULTS: dict[str, float] = {
    # Largest brightness spike (``flicker_spikes``, luma 0-255): how far a run of 1-3 frames
    # stands out of the trend on both sides. Storyboard clips measure at most 0.34 with any
    # camera move, 0.33 across crossfades of 0.5-0.75 s and 1.5 across fades through black
    # (365 clips). Brightening the whole frame by 4 for 1-3 frames measures 1.5-3.9 (barely
    # visible; passes); by 8, 7.1-8.1, and every other frame by 4 (a strobe) 5.9-7.8 (fail);
    # a white or a black frame 65-190.
    "max_flicker": 5.0,
    # Continuity (``continuity_parts``): how well the colours and light of the two frames
    # overlap (CIELAB histograms, whole frames or one frame against half-size windows of the
    # other), so a new framing of the same place and light passes. The planner's continuous
    # pairs drawn by previz (cuts on action, wide to medium, full to medium close-up) score
    # 0.79-0.89; a clip started from the previous clip's last frame 0.97-0.98, 0.80-0.98 with
    # the drift a video model adds (3-8% shift, 8-15% zoom, 10 luma either way, blur, noise).
    # The same place drawn at night scores 0.36-0.67, the same shot by day then at night
    # 0.28-0.52, a shot of another film 0.26-0.64, a previous clip that cuts away halfway
    # 0.31-0.67. Half the light 0.36-0.62, a colour cast (R +16, B -16) 0.48-0.64. Colour
    # cannot tell apart two places or times of day drawn in one palette and light: another
    # place of the same film (0.56-0.90) and dawn, day or dusk jumps (0.43-0.85) pass in a
    # quarter to a half of the cases.
    "min_continuity": 0.72,
}

# Fewest frames flicker can judge: a frame with two frames on each side.
FLICKER_MIN_FRAMES = 5


class ClipGate:
    """Checks a rendered clip: flicker, continuity with the previous shot's clip, and every
    image critic's checks on frames sampled from it.

    Give it the critics whose checks hold frame by frame (identity, technical quality, the
    latter only at full size: ``max_width`` shrinks the frames they see); a copy guard against
    accepted keyframes would find every frame a copy of its own keyframe. The run's gate gives
    it the registered critics that declare they judge clips.
    """

    # Declared as a critic's are: the thresholds the gate's own measures take.
    name = "clipgate"
    checks = ("flicker", "continuity")
    defaults = DEFAULTS
    judges = ("clip",)

    def __init__(
        self,
        critics: Sequence[Critic] = (),
        *,
        samples: int = SAMPLES,
        max_width: int | None = None,
        **thresholds: float,
    ) -> None:
        unknown = set(thresholds) - set(DEFAULTS)
        if unknown:
            raise TypeError(f"unknown thresholds {sorted(unknown)}; known: {sorted(DEFAULTS)}")
        if samples < 2:
            raise InputError(
                f"The clip gate cannot sample {samples} frame(s) per clip.",
                "Sample at least 2 frames: the first and the last.",
            )
        self.critics = list(critics)
        self.samples, self.max_width = samples, max_width
        self.thresholds = {**DEFAULTS, **thresholds}

    def check_clip(
        self,
        clip_path: str | Path,
        shot: Shot,
        previous_clip_path: str | Path | None,
        context: CriticContext,
    ) -> list[CheckResult]:
        """Flicker, continuity, then the critics' checks folded over the sampled frames.

        Raises InputError when a clip is missing or cannot be decoded.
        """
        clip = read_clip(clip_path, self.samples, max_width=self.max_width)
        return [
            self.flicker(clip),
            self.continuity(clip, shot, previous_clip_path),
            *self.frame_checks(clip, shot, context),
        ]

    def flicker(self, clip: ClipFrames) -> CheckResult:
        if len(clip.luma) < FLICKER_MIN_FRAMES:
            return CheckResult.not_run(
                "flicker",
                f"not run: the clip has {len(clip.luma)} frame(s); flicker needs "
                f"{FLICKER_MIN_FRAMES}",
            )
        spikes, limit = flicker_spikes(clip.luma), self.thresholds["max_flicker"]
        worst = int(spikes.argmax())
        when = _seconds(clip.times[worst])
        return CheckResult.measured(
            "flicker",
            float(spikes[worst]),
            limit,
            f"brightness stands out of its trend by {spikes[worst]:.1f} (0-255) at {when} s, "
            f"frame {worst}; {int((spikes > limit).sum())} of {len(spikes)} frames over "
            f"{limit:g}",
            higher_is_better=False,
            digits=3,
            details={
                "worst_frame": worst,
                "worst_time_s": when,
                "frames_over": int((spikes > limit).sum()),
                "frames": len(spikes),
            },
        )

    def continuity(
        self, clip: ClipFrames, shot: Shot, previous_clip_path: str | Path | None
    ) -> CheckResult:
        if not shot.continuous:
            return CheckResult.not_run(
                "continuity", "not run: the shot does not continue the previous one"
            )
        if previous_clip_path is None:
            return CheckResult.not_run("continuity", "not run: no previous clip to continue from")
        then, before = last_frame(previous_clip_path, max_width=self.max_width)
        parts = continuity_parts(before, clip.samples[0][1])
        limit, name = self.thresholds["min_continuity"], Path(previous_clip_path).name
        return CheckResult.measured(
            "continuity",
            parts.score,
            limit,
            f"first frame vs the last frame of {name} ({then:.2f} s): colours and light "
            f"overlap {parts.score:.3f} (min {limit:.2f}), best as {parts.matched} (whole "
            f"frames {parts.whole:.2f}); mean lightness {parts.lightness_shift:+.1f} L*, mean "
            f"tint moved {parts.tint_shift:.1f} a*b*",
            details={
                "matched": parts.matched,
                "whole_frames": round(parts.whole, 4),
                "lightness_shift": round(parts.lightness_shift, 2),
                "tint_shift": round(parts.tint_shift, 2),
                "previous_clip": name,
                "previous_time_s": _seconds(then),
            },
        )

    def frame_checks(
        self, clip: ClipFrames, shot: Shot, context: CriticContext
    ) -> list[CheckResult]:
        """Each critic's checks on every sampled frame, folded into one result per name."""
        results: dict[str, list[tuple[float, CheckResult]]] = {}
        for critic in self.critics:
            for when, image in clip.samples:
                for result in critic.check(image, shot, context):
                    results.setdefault(result.name, []).append((when, result))
        return [fold(name, per_frame) for name, per_frame in results.items()]


def fold(name: str, per_frame: list[tuple[float, CheckResult]]) -> CheckResult:
    """One clip-level result from a check's result on each sampled frame: it passes only if it
    passes on every frame that ran, and shows the worst frame's score, threshold and reason.
    Not run on every frame: not run, with the first frame's reason."""
    ran = [(when, r) for when, r in per_frame if r.passed is not None]
    if not ran:
        first = per_frame[0][1]
        return first.model_copy(update={"name": name, "details": {}})
    when, worst = min(ran, key=lambda item: _badness(item[1]))
    failed = sum(1 for _, r in ran if r.passed is False)
    skipped = len(per_frame) - len(ran)
    note = f"; not run on {skipped}" if skipped else ""
    return CheckResult(
        name=name,
        score=worst.score,
        threshold=worst.threshold,
        passed=failed == 0,
        reason=f"worst of {len(ran)} frames, at {_seconds(when)} s: {worst.reason} "
        f"(failed on {failed} of {len(ran)}{note})",
        higher_is_better=worst.higher_is_better,
        details={
            **worst.details,
            "worst_time_s": _seconds(when),
            "failed_frames": failed,
            "frames": [
                {"time_s": _seconds(t), "score": r.score, "passed": r.passed} for t, r in per_frame
            ],
        },
    )


def _badness(result: CheckResult) -> tuple[bool, bool, float]:
    """Sort key, worst first: failed before passed, no score (nothing found) before a score,
    then the score on the wrong side."""
    score = result.score if result.score is not None else 0.0
    return (
        bool(result.passed),
        result.score is not None,
        score if result.higher_is_better else -score,
    )


def _seconds(value: float) -> float | None:
    return None if np.isnan(value) else round(float(value), 3)
