"""``director cast``: the characters director keeps across films, with their reference photos."""

from __future__ import annotations

import json
from pathlib import Path

import click

from director.cli.options import insightface_root_option

VOICE = "PROVIDER[:MODEL]:VOICE"
VOICE_HELP = (
    "The character's voice in a voice backend, e.g. openai:nova or scratch:f2 (a run with that "
    "--voice speaks their lines in it); repeat for other backends."
)


@click.group("cast")
def cast_group() -> None:
    """Characters with reference photos and face embeddings, kept across films.

    Stored under DIRECTOR_HOME (default ~/.local/share/director).
    """


@cast_group.command("add")
@click.argument("name")
@click.option(
    "--ref",
    "refs",
    multiple=True,
    required=True,
    type=click.Path(dir_okay=False),
    help="A reference photo with exactly one face; repeat for several.",
)
@click.option("--desc", default="", help="Identity block: age, build, face, hair, costume, item.")
@click.option("--voice", "voices", multiple=True, metavar=VOICE, help=VOICE_HELP)
@insightface_root_option
def add_command(
    name: str, refs: tuple[str, ...], desc: str, voices: tuple[str, ...], insightface_root
) -> None:
    """Add NAME with its reference photos; each must show exactly one face.

    Every usable face backend (dlib; insightface where a model pack is present) embeds them."""
    from director.cli.options import resolve_insightface_root
    from director.memory.cast import CastStore
    from director.tools.critics.face_choice import usable_face_backends
    from director.tools.voice.casting import parse_voice

    chosen = [parse_voice(v) for v in voices]  # checked before any face is embedded
    backends = usable_face_backends(resolve_insightface_root(insightface_root))
    character = CastStore().add(
        name, [Path(r) for r in refs], backends, description=desc, voices=chosen
    )
    said = f" and voice {', '.join(v.spec for v in chosen)}" if chosen else ""
    click.echo(f"Added {character.name} with {len(character.references)} reference(s){said}.")


@cast_group.command("voice")
@click.argument("name")
@click.argument("voices", nargs=-1, metavar=VOICE + "...")
@click.option("--clear", is_flag=True, help="Forget NAME's other voices first.")
def voice_command(name: str, voices: tuple[str, ...], clear: bool) -> None:
    """Give NAME a voice in a voice backend (replacing its voice there); with --clear and no
    VOICE, forget its voices."""
    from director.errors import InputError
    from director.memory.cast import CastStore
    from director.tools.voice.casting import SPEC_HINT, parse_voice

    if not voices and not clear:
        raise InputError(f"No voice given for {name}.", SPEC_HINT)
    chosen = [parse_voice(v) for v in voices]
    store = CastStore()
    store.set_voices(name, chosen, clear=clear)
    now = ", ".join(v.spec for v in store.voices(name)) or "none (the automatic choice)"
    click.echo(f"{name}'s voices: {now}.")


@cast_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_command(as_json: bool) -> None:
    """List the cast."""
    from director.memory.cast import CastStore, character_summary

    store = CastStore()
    cast = store.list()
    voices = {c.name: store.voices(c.name) for c in cast}
    if as_json:
        found = [character_summary(c, voices[c.name]) for c in cast]
        click.echo(json.dumps(found, ensure_ascii=False, indent=2))
    elif not cast:
        click.echo(
            "The cast is empty. Add someone with: director cast add NAME --ref IMG", err=True
        )
    for c in [] if as_json else cast:
        spoken = ", ".join(v.spec for v in voices[c.name]) or "automatic voice"
        click.echo(f"{c.name}\t{len(c.references)} ref(s)\t{spoken}\t{c.description}")


@cast_group.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show_command(name: str, as_json: bool) -> None:
    """Show NAME's description, references, embeddings and voices."""
    from director.memory.cast import CastStore, character_summary

    store = CastStore()
    summary = character_summary(store.get(name), store.voices(name))
    if as_json:
        click.echo(json.dumps(summary, ensure_ascii=False, indent=2))
        return
    click.echo(f"{summary['name']}: {summary['description'] or '(no description)'}")
    for ref in summary["references"]:
        click.echo(f"  ref {ref}")
    for backend, count in summary["embeddings"].items():
        click.echo(f"  {count} embedding(s) from {backend}")
    for voice in summary["voices"]:
        click.echo(f"  voice {voice}")
    if not summary["voices"]:
        click.echo("  voice: automatic (one per name, chosen by the run's --voice backend)")


@cast_group.command("remove")
@click.argument("name")
def remove_command(name: str) -> None:
    """Remove NAME and its stored references."""
    from director.memory.cast import CastStore

    CastStore().remove(name)
    click.echo(f"Removed {name}.")
