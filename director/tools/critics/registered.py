"""The gate's critics as the registry holds them, built-ins and plugins alike.

A critic class (see ``director.tools.base.Critic``) declares what the gate needs to know of it:

- ``name`` and ``checks``: the names of the results it returns;
- ``defaults``: the thresholds it takes as keyword arguments, each with its default (None where
  the default depends on what measures it); every one is settable with ``--threshold
  NAME=VALUE`` or the config file's ``[thresholds]`` table, and printed in the workflow document;
- ``judges``: the attempts it judges: ``("keyframe",)``, ``("clip",)`` (every frame sampled from
  a clip) or both; a critic that declares nothing judges keyframes;
- ``for_run(setup)``, optionally: a classmethod that builds it for a run from a
  :class:`CriticSetup` (the cast, the image backend, model settings), or returns None when the
  film gives it nothing to judge. Without it, the critic is built with its thresholds alone.

A plugin declares its class under the ``director.critics`` entry-point group, as director's own
pyproject does for the built-ins, and runs in the gate of every run.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from director import registry
from director.errors import ToolMissing
from director.records import Character, Record

AttemptKind = Literal["keyframe", "clip"]
KINDS: tuple[AttemptKind, ...] = ("keyframe", "clip")
# What a critic that declares no ``judges`` judges: the gate's first use, the keyframe.
JUDGES_BY_DEFAULT: tuple[AttemptKind, ...] = ("keyframe",)


class CriticSetup(Record):
    """What a critic may be built from for one run."""

    thresholds: dict[str, float] = Field(
        default_factory=dict, description="every threshold the user set, by name"
    )
    cast: list[Character] = Field(default_factory=list, description="the film's characters")
    image_backend: str = Field(default="", description="the name of the run's image backend")
    renders_faces: bool = Field(
        default=True, description="whether the image backend draws real faces"
    )
    clip_model: str | None = None
    clip_weights: str | None = None
    insightface_root: str | None = None

    def thresholds_of(self, critic: Any) -> dict[str, float]:
        """The thresholds the user set that ``critic`` (a class) declares."""
        declared = defaults_of(critic)
        return {name: value for name, value in self.thresholds.items() if name in declared}


def critic_classes() -> dict[str, type]:
    """Registry name -> critic class, for every installed critic: built-ins first."""
    found = registry.classes("critics")
    for name, critic in found.items():
        _check_declaration(name, critic)
    return found


def defaults_of(critic: Any) -> dict[str, float | None]:
    return dict(getattr(critic, "defaults", None) or {})


def judges(critic: Any, kind: AttemptKind) -> bool:
    """Whether ``critic`` (a class or an instance) judges attempts of ``kind``."""
    return kind in (getattr(critic, "judges", None) or JUDGES_BY_DEFAULT)


def build(critic: type, setup: CriticSetup) -> Any | None:
    """``critic`` built for a run; None when it has nothing to judge in this film."""
    for_run = getattr(critic, "for_run", None)
    if for_run is not None:
        return for_run(setup)
    return critic(**setup.thresholds_of(critic))


def _check_declaration(name: str, critic: type) -> None:
    wrong = [k for k in getattr(critic, "judges", None) or JUDGES_BY_DEFAULT if k not in KINDS]
    if wrong or not getattr(critic, "checks", None):
        raise ToolMissing(
            f"The critic {name!r} ({critic.__module__}.{critic.__qualname__}) declares "
            f"{'judges ' + repr(wrong) if wrong else 'no checks'}.",
            "Its class must name its checks and judge 'keyframe', 'clip' or both; reinstall "
            "or update the package that provides it.",
        )
