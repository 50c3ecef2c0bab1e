"""``director cast``: the characters director keeps across films, with their reference photos."""

from __future__ import annotations

import json
from pathlib import Path

import click

from director.cli.options import insightface_root_option


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
@insightface_root_option
def add_command(name: str, refs: tuple[str, ...], desc: str, insightface_root: str | None) -> None:
    """Add NAME with its reference photos; each must show exactly one face.

    Every usable face backend (dlib; insightface where a model pack is present) embeds them."""
    from director.cli.options import resolve_insightface_root
    from director.memory.cast import CastStore
    from director.tools.critics.face_choice import usable_face_backends

    backends = usable_face_backends(resolve_insightface_root(insightface_root))
    character = CastStore().add(name, [Path(r) for r in refs], backends, description=desc)
    click.echo(f"Added {character.name} with {len(character.references)} reference(s).")


@cast_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_command(as_json: bool) -> None:
    """List the cast."""
    from director.memory.cast import CastStore, character_summary

    cast = CastStore().list()
    if as_json:
        click.echo(json.dumps([character_summary(c) for c in cast], ensure_ascii=False, indent=2))
    elif not cast:
        click.echo(
            "The cast is empty. Add someone with: director cast add NAME --ref IMG", err=True
        )
    for c in [] if as_json else cast:
        click.echo(f"{c.name}\t{len(c.references)} ref(s)\t{c.description}")


@cast_group.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show_command(name: str, as_json: bool) -> None:
    """Show NAME's description, references and embeddings."""
    from director.memory.cast import CastStore, character_summary

    summary = character_summary(CastStore().get(name))
    if as_json:
        click.echo(json.dumps(summary, ensure_ascii=False, indent=2))
        return
    click.echo(f"{summary['name']}: {summary['description'] or '(no description)'}")
    for ref in summary["references"]:
        click.echo(f"  ref {ref}")
    for backend, count in summary["embeddings"].items():
        click.echo(f"  {count} embedding(s) from {backend}")


@cast_group.command("remove")
@click.argument("name")
def remove_command(name: str) -> None:
    """Remove NAME and its stored references."""
    from director.memory.cast import CastStore

    CastStore().remove(name)
    click.echo(f"Removed {name}.")
