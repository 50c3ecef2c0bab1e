"""The small interfaces every backend implements: one base class per kind of backend.

Generators separate submitting work from collecting its result, with a job id in between, so a
local pipeline, a hosted task and a remote worker look the same to the graph, and a resumed run
can collect a result it did not submit in this process.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from director.records import (
    BeatSheet,
    Cards,
    Character,
    CheckResult,
    Language,
    Record,
    Shot,
    Story,
    StyleBible,
)

# --- planners -----------------------------------------------------------------------------


class Planner(ABC):
    """Develops a logline into a story, a beat sheet, a style bible and a shot list."""

    name: ClassVar[str]
    model: str = ""
    # What ``director doctor`` says the backend expects: the family of models it speaks to,
    # and the models it knows by name (a hosted one prices and checks these).
    family: ClassVar[str] = ""
    known_models: ClassVar[tuple[str, ...]] = ()

    @abstractmethod
    def develop(
        self, logline: str, *, language: Language, seed: int, cast: Sequence[Character] = ()
    ) -> Story:
        """The story; ``cast`` (from the user) are its protagonists, names and identity blocks."""

    @abstractmethod
    def beat_sheet(
        self, story: Story, *, structure: str, runtime_s: float, seed: int, note: str = ""
    ) -> BeatSheet:
        """The beats; ``note`` is a human's note on an earlier draft, to follow in this one."""

    @abstractmethod
    def bible(
        self, story: Story, beat_sheet: BeatSheet, *, width: int, height: int, seed: int
    ) -> tuple[StyleBible, Cards]: ...

    @abstractmethod
    def shot_list(
        self, story: Story, beat_sheet: BeatSheet, bible: StyleBible, cards: Cards, *, seed: int
    ) -> list[Shot]: ...

    def repair_slot(
        self, shot: Shot, slots: dict[str, str], slot: str, failures: list[str]
    ) -> str | None:
        """New text for one prompt slot that failed the gate, or None to use director's rules.

        ``slots`` are the prompt's current slots (earlier repairs included), ``failures`` the
        failed checks' reasons. Planners backed by a language model override this."""
        return None


# --- generators ---------------------------------------------------------------------------


class ImageRequest(Record):
    shot: Shot
    bible: StyleBible
    seed: int
    width: int
    height: int
    prompt: str
    negative_prompt: str = ""
    # The ladder's stronger rungs; only backends that declare the capability receive them.
    references: list[str] = Field(
        default_factory=list, description="reference image paths to condition on"
    )
    reference_strength: float | None = Field(
        default=None, ge=0.0, le=1.0, description="how strongly to follow the references"
    )
    edit_source: str | None = Field(
        default=None, description="absolute path of an image to edit instead of a new render"
    )
    edit_region: list[int] | None = Field(
        default=None, description="left, top, right, bottom of the region to repaint"
    )


class ClipRequest(Record):
    shot: Shot
    keyframe: str = Field(description="absolute path of the accepted keyframe")
    seed: int
    duration_s: float = Field(description="clip length, including transition handles")
    fps: int = 24
    width: int
    height: int
    prompt: str = ""
    hold_bottom_px: int = Field(
        default=0, ge=0, description="rows at the bottom of the keyframe (a caption) kept still"
    )
    end_frame: str | None = Field(
        default=None,
        description="absolute path of a frame to end on, for first-and-last-frame models",
    )
    # Reference-to-video: photos of the characters in frame, so identity is conditioned in the
    # clip itself; only backends that declare ``accepts_references`` receive them.
    references: list[str] = Field(
        default_factory=list, description="reference photo paths of the characters in frame"
    )
    reference_names: list[str] = Field(
        default_factory=list, description="the character each reference photo shows, in order"
    )
    reference_strength: float | None = Field(
        default=None, ge=0.0, le=1.0, description="how strongly to follow the references"
    )


class Job(Record):
    """A submitted piece of generation work; ``request`` is enough to collect or redo it."""

    id: str
    backend: str
    model: str
    kind: str
    request: dict[str, Any]
    params: dict[str, Any] = Field(default_factory=dict, description="parameters as sent")
    cost: float = Field(
        default=0.0, ge=0.0, description="what the call cost in USD, set by collect()"
    )

    @classmethod
    def of(
        cls,
        backend: Any,
        request: Record,
        id: str = "",
        *,
        model: str | None = None,
        payload: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
    ) -> Job:
        """The job ``backend`` made of ``request``: ``payload`` is the request as the backend
        keeps it to collect or redo the work (the request itself by default), ``model`` the
        one it chose for this request when that is not its own."""
        return cls(
            id=id,
            backend=backend.name,
            model=model or backend.model,
            kind="clip" if isinstance(request, ClipRequest) else "image",
            request=payload if payload is not None else request.model_dump(mode="json"),
            params=params or {},
        )


class ImageBackend(ABC):
    name: ClassVar[str]
    model: str
    family: ClassVar[str] = ""  # as on Planner
    known_models: ClassVar[tuple[str, ...]] = ()
    # Whether frames show real faces that a face-identity critic can judge.
    renders_faces: ClassVar[bool] = True
    # Ladder rungs the backend can climb: conditioning on reference images (``references`` and
    # ``reference_strength`` in the request) and repainting a region of an image (``edit_*``).
    accepts_references: ClassVar[bool] = False
    edits: ClassVar[bool] = False
    # Whether the backend puts on the style LoRA its requests' bible names (``bible.lora``).
    takes_lora: ClassVar[bool] = False
    # How many jobs the graph may have submitted at once: first keyframes of later shots are
    # submitted while the current one is collected and judged.
    max_in_flight: int = 1
    # Set by the run: called with (shot id, text) while a job is collected, for backends that
    # hear how far their work has got (a ComfyUI sampler's steps).
    progress: Callable[[str, str], None] | None = None

    def estimate(self, request: ImageRequest) -> float | None:
        """What the call will cost in USD, before it is made (checked against --budget); None
        when the model has no known price. Hosted backends price it from director's price
        table (director.tools.pricing); local ones cost nothing."""
        return 0.0

    @abstractmethod
    def submit(self, request: ImageRequest) -> Job: ...

    @abstractmethod
    def collect(self, job: Job, dest: Path) -> None:
        """Write the finished image for ``job`` to ``dest`` (a PNG path)."""

    def held(self, job: Job) -> Any | None:
        """The picture of a job just collected, as the backend still holds it in memory (an RGB
        PIL image), so the gate judges it without reading the file back; None when it holds
        none. Given once per job."""
        return None

    def submit_many(self, requests: Sequence[ImageRequest]) -> list[Job]:
        """Submit best-of-k candidates together; backends that render them as one batch
        override this. Each Job can still be collected on its own."""
        return [self.submit(request) for request in requests]

    def generate(self, request: ImageRequest, dest: Path) -> Job:
        job = self.submit(request)
        self.collect(job, dest)
        return job

    def abort(self) -> None:  # noqa: B027 (optional hook)
        """The run was stopped by its user: stop the work submitted and not collected (a
        server of the user's own would otherwise render on for nothing)."""


class VideoBackend(ABC):
    name: ClassVar[str]
    model: str
    family: ClassVar[str] = ""  # as on Planner
    known_models: ClassVar[tuple[str, ...]] = ()
    # How many submitted jobs the graph may leave running while it works on other shots.
    max_in_flight: int = 1
    # Whether clips can be conditioned on the characters' reference photos (the ladder's
    # reference rung), and whether the chosen model wants them on every clip of a shot with a
    # cast member in frame (a reference-to-video model).
    accepts_references: bool = False
    references_always: bool = False
    progress: Callable[[str, str], None] | None = None  # as on ImageBackend

    def estimate(self, request: ClipRequest) -> float | None:
        """What the call will cost in USD, before it is made; None when unpriced."""
        return 0.0

    @abstractmethod
    def submit(self, request: ClipRequest) -> Job: ...

    @abstractmethod
    def collect(self, job: Job, dest: Path) -> None:
        """Write the finished clip for ``job`` to ``dest`` (an MP4 path)."""

    def generate(self, request: ClipRequest, dest: Path) -> Job:
        job = self.submit(request)
        self.collect(job, dest)
        return job

    def close(self) -> None:  # noqa: B027 (optional hook; most backends hold nothing)
        """Release what the backend holds (running jobs, temporary files); idempotent."""

    def abort(self) -> None:  # noqa: B027 (optional hook)
        """As on ImageBackend."""


# --- critics ------------------------------------------------------------------------------


class CriticContext(Record):
    """What a critic may compare a candidate with."""

    bible: StyleBible
    style_anchors: list[str] = Field(default_factory=list, description="image paths")
    accepted: dict[str, str] = Field(
        default_factory=dict, description="shot id -> accepted keyframe path, in film order"
    )


class Critic(ABC):
    """Scores a candidate image; returns one CheckResult per check it owns."""

    name: ClassVar[str]
    checks: ClassVar[tuple[str, ...]]
    # Its thresholds and their defaults (None: the default is its backend's own), and the
    # attempts it judges: keyframes, frames sampled from clips, or both.
    defaults: ClassVar[dict[str, float | None]] = {}
    judges: ClassVar[tuple[str, ...]] = ("keyframe",)

    @abstractmethod
    def check(self, image: Any, shot: Shot, context: CriticContext) -> list[CheckResult]:
        """``image`` is what the caller holds: a PIL image, an array or a path; critics read it
        with ``director.tools.critics.imaging.as_rgb``."""

    def check_batch(
        self, images: Sequence[Any], shots: Sequence[Shot], context: CriticContext
    ) -> list[list[CheckResult]]:
        """The checks of several candidates; critics on a model override it to score them in
        one forward pass."""
        return [self.check(image, shot, context) for image, shot in zip(images, shots, strict=True)]

    def not_run(self, reason: str) -> list[CheckResult]:
        return [CheckResult.not_run(n, reason) for n in self.checks]


# --- voices -------------------------------------------------------------------------------


class VoiceBackend(ABC):
    """Speaks a film's lines: one line of text in one named voice, written to a WAV file."""

    name: ClassVar[str]
    model: str = ""
    # A scratch voice is a guide for timing, like previz for pictures: never the film's voice.
    scratch: ClassVar[bool] = False
    # The voices the backend offers; the first is the narrator's, the others the characters'.
    voices: ClassVar[tuple[str, ...]] = ()
    # Set by the run: called with the provider's task or request id as soon as a hosted call
    # has one, before anything waits on the audio (the run logs it).
    on_task: Callable[[str], None] | None = None
    # What the last speak() was billed, as a director.tools.pricing.Cost (what was counted,
    # or why there is no price); None for a voice that bills nothing.
    last_cost: Any = None

    def voices_for(self, language: Language | None) -> tuple[str, ...]:
        """The voices that speak ``language``; backends whose voices differ by language
        override this (the narrator's first, as in ``voices``)."""
        return self.voices

    def voice_for(self, speaker: str | None, language: Language | None = None) -> str:
        """One voice per speaker, the same in every run: the narrator (``None``) has the first,
        a character the one its name hashes to among the others (of ``language``'s voices)."""
        voices = self.voices_for(language)
        if speaker is None or len(voices) < 2:
            return voices[0]
        import hashlib

        digest = hashlib.sha256(speaker.strip().lower().encode("utf-8")).digest()
        return voices[1 + int.from_bytes(digest[:4], "big") % (len(voices) - 1)]

    def estimate(self, text: str) -> float | None:
        """What speaking ``text`` will cost in USD, before the call (checked against --budget);
        None when the model has no known price. An offline voice costs nothing."""
        return 0.0

    @classmethod
    def check_voice(cls, voice: str, model: str = "") -> None:
        """Refuse (InputError) a voice name the backend cannot have, before anything is made:
        a voice chosen for a character or the narrator. By default any plain name passes and
        the service judges it; backends that know their voices check them."""
        import re

        from director.errors import InputError

        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}", voice):
            raise InputError(
                f"{voice!r} is not a voice name of the {cls.name} voice backend.",
                "Give the voice's name as the service spells it, e.g. nova.",
            )

    @abstractmethod
    def speak(self, text: str, *, voice: str, language: Language, dest: Path) -> float | None:
        """Write ``text`` spoken in ``voice`` to ``dest`` (WAV); returns what the call cost in
        USD, or None when it has no price (an offline voice costs nothing: 0.0)."""
