"""Shared fixtures: small hand-written plans, so graph tests control every shot."""

from __future__ import annotations

import pytest

from director.records import (
    Beat,
    BeatSheet,
    Cards,
    Character,
    Line,
    Plan,
    Shot,
    ShotPrompt,
    Story,
    StyleBible,
)


def make_plan(shot_count: int = 3, shot_s: float = 3.0, language: str = "en") -> Plan:
    """A complete plan of ``shot_count`` shots in two beats, 320x180."""
    mara = Character(name="Mara", description="a woman of seventy, wiry, grey braid, green coat")
    story = Story(
        logline="The last gardener defends her garden from robots.",
        language=language,
        title="The Last Garden",
        protagonists=[mara],
        world="Earth, 2075",
        want="keep the garden alive",
        obstacle="robots bulldoze it",
        theme="care",
        tone="quiet",
        locations=["the garden"],
    )
    cards = Cards(
        title="The Last Garden", title_s=1.5, end="THE END", end_s=1.5, label="AI-generated"
    )
    first = shot_count // 2 or 1
    durations = [first * shot_s + cards.title_s, (shot_count - first) * shot_s + cards.end_s]
    beats = [
        Beat(
            id=f"b0{i + 1}",
            index=i,
            name=n,
            summary=f"Mara {n.lower()} in the garden",
            change="she learns",
            location="the garden",
            start_s=sum(durations[:i]),
            duration_s=d,
        )
        for i, (n, d) in enumerate(zip(["Setup", "Turn"], durations, strict=True))
    ]
    bible = StyleBible(
        name="test",
        suffix="storyboard, muted greens",
        negative="text, watermark",
        palette=["#101820", "#2f4f3f", "#6b8f5e", "#c8b88a", "#f2ead3"],
        aspect_ratio="16:9",
        width=320,
        height=180,
        grain=0.1,
    )
    shots = [_shot(i, "b01" if i < first else "b02", shot_s, bible) for i in range(shot_count)]
    return Plan(
        story=story,
        beat_sheet=BeatSheet(structure="three-act", beats=beats),
        bible=bible,
        cards=cards,
        shots=shots,
    )


def _shot(i: int, beat_id: str, seconds: float, bible: StyleBible) -> Shot:
    prompt = ShotPrompt(
        subject="Mara, a woman of seventy in a green coat",
        action=f"kneels and touches seedling {i + 1}",
        environment="a walled garden at dawn, ruins behind",
        camera="medium shot, eye level, slow push in",
        style=bible.suffix,
        negative=bible.negative,
    )
    line = Line(kind="narration", text=f"Seedling {i + 1} is still alive.") if i % 2 == 0 else None
    return Shot(
        id=f"s{i + 1:03d}",
        beat_id=beat_id,
        index=i,
        role="medium",
        size="medium",
        angle="eye-level",
        move="push-in",
        duration_s=seconds,
        prompt=prompt,
        characters=["Mara"],
        line=line,
        transition="crossfade" if i == 0 else "cut",
        transition_s=0.5 if i == 0 else 0.0,
    )


def plain_shot(
    i: int,
    seconds: float,
    *,
    move: str = "static",
    line: Line | None = None,
    transition: str = "cut",
    transition_s: float = 0.0,
    prompt: ShotPrompt | None = None,
    size: str = "medium",
    characters: tuple[str, ...] = (),
) -> Shot:
    """Shot ``i`` of a one-beat plan: only what timing, assembly and the critics read is set."""
    prompt = prompt or ShotPrompt(
        subject="Mara",
        action="waits",
        environment="garden",
        camera="medium shot",
        style="storyboard",
    )
    return Shot(
        id=f"s{i + 1:03d}",
        beat_id="b01",
        index=i,
        role="close-up" if size == "close-up" else "medium",
        size=size,
        angle="eye-level",
        move=move,
        duration_s=seconds,
        prompt=prompt,
        characters=list(characters),
        line=line,
        transition=transition,
        transition_s=transition_s,
    )


def one_beat_plan(
    shots: list[Shot], cards: Cards, *, language: str = "en", bible: StyleBible | None = None
) -> Plan:
    """A plan of one beat that holds the cards and every shot."""
    story = Story(
        logline="The last gardener defends her garden.",
        language=language,
        title="Garden",
        protagonists=[],
        world="2075",
        want="w",
        obstacle="o",
        theme="t",
        tone="quiet",
    )
    total = cards.title_s + sum(s.duration_s for s in shots) + cards.end_s
    beat = Beat(
        id="b01",
        index=0,
        name="All",
        summary="s",
        change="c",
        location="garden",
        start_s=0.0,
        duration_s=total,
    )
    return Plan(
        story=story,
        beat_sheet=BeatSheet(structure="x", beats=[beat]),
        bible=bible,
        cards=cards,
        shots=shots,
    )


@pytest.fixture
def tiny_plan() -> Plan:
    return make_plan()


# Variables director or a library it drives reads: its own settings, the providers' keys and
# endpoints, model caches, where user data lives, and proxies (which would send a test's calls
# to loopback fake servers elsewhere). Cleared by prefix, so a new setting is cleared too.
CLEARED_PREFIXES = (
    "DIRECTOR_",
    "DASHSCOPE_",
    "OPENAI_",
    "COMFYUI_",
    "HF_",
    "HUGGINGFACE_",
    "TRANSFORMERS_",
    "DIFFUSERS_",
    "INSIGHTFACE_",
)
CLEARED_NAMES = {
    "XDG_DATA_HOME",
    "XDG_CACHE_HOME",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
}


def cleared(environ) -> list[str]:
    """The names of ``environ`` that no test may inherit from the developer's shell."""
    return [
        name
        for name in environ
        if name.upper().startswith(CLEARED_PREFIXES) or name.upper() in CLEARED_NAMES
    ]


@pytest.fixture(autouse=True)
def _isolated_config(tmp_path_factory, monkeypatch):
    """No test reads the user's config file, director's or a provider's environment variables."""
    import os

    for name in cleared(os.environ):
        monkeypatch.delenv(name, raising=False)
    home = tmp_path_factory.mktemp("config-home")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    # Nor anything under the user's home (open_clip's ~/.cache/clip, ~/.insightface).
    monkeypatch.setenv("HOME", str(tmp_path_factory.mktemp("home")))
    # Nor CLIP weights in the user's Hugging Face cache: without them prompt and style are not run.
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path_factory.mktemp("no-hub-cache")))
    # Nor the user's insightface packs: without a root naming one, identity uses dlib.
    monkeypatch.setenv("DIRECTOR_INSIGHTFACE_ROOT", str(tmp_path_factory.mktemp("no-packs")))


class NonLoopbackConnection(RuntimeError):
    """A test tried to reach a host other than this machine."""


class NetworkGuard:
    """Stops every connection and name lookup that would leave this machine, and remembers
    them, so that a test that catches the error still fails. Loopback (the fake servers on
    127.0.0.1) and Unix sockets are let through; subprocesses are not watched."""

    def __init__(self) -> None:
        self.attempts: list[str] = []

    def refuse(self, what: str) -> NonLoopbackConnection:
        self.attempts.append(what)
        return NonLoopbackConnection(f"tests never leave this machine: {what}")

    def check_host(self, host, what: str) -> None:
        if not is_local(host):
            raise self.refuse(f"{what} {host!r}")

    def check_address(self, address, what: str) -> None:
        if isinstance(address, tuple) and address:
            self.check_host(address[0], what)


def is_local(host) -> bool:
    """Loopback, the unspecified address, or no host at all (a Unix socket, a bind)."""
    import ipaddress

    if host is None or host in ("", "localhost", b"localhost"):
        return True
    text = host.decode() if isinstance(host, bytes) else str(host)
    try:
        address = ipaddress.ip_address(text.split("%")[0])
    except ValueError:
        return text.lower().endswith(".localhost")
    return address.is_loopback or address.is_unspecified


@pytest.fixture(autouse=True)
def network_guard():
    """Fails any test that opens a connection to, or looks up, a host other than this one."""
    import socket

    guard = NetworkGuard()
    connect, connect_ex = socket.socket.connect, socket.socket.connect_ex
    create_connection, getaddrinfo = socket.create_connection, socket.getaddrinfo

    def guarded_connect(sock, address):
        guard.check_address(address, "connect to")
        return connect(sock, address)

    def guarded_connect_ex(sock, address):
        guard.check_address(address, "connect to")
        return connect_ex(sock, address)

    def guarded_create_connection(address, *args, **kwargs):
        guard.check_address(address, "connect to")
        return create_connection(address, *args, **kwargs)

    def guarded_getaddrinfo(host, *args, **kwargs):
        guard.check_host(host, "look up")
        return getaddrinfo(host, *args, **kwargs)

    socket.socket.connect, socket.socket.connect_ex = guarded_connect, guarded_connect_ex
    socket.create_connection, socket.getaddrinfo = guarded_create_connection, guarded_getaddrinfo
    try:
        yield guard
    finally:
        socket.socket.connect, socket.socket.connect_ex = connect, connect_ex
        socket.create_connection, socket.getaddrinfo = create_connection, getaddrinfo
    if guard.attempts:
        pytest.fail("the test reached for the network: " + "; ".join(guard.attempts))


@pytest.fixture
def diffusers_config(monkeypatch, tmp_path):
    """The diffusers backends' settings come from each test, never from the developer's
    environment or config file; the test writes the config file it needs here."""
    import os

    for name in [n for n in os.environ if n.startswith("DIRECTOR_DIFFUSERS_")]:
        monkeypatch.delenv(name)
    path = tmp_path / "config.toml"
    path.write_text("")
    monkeypatch.setenv("DIRECTOR_CONFIG", str(path))
    return path


def file_settings() -> dict:
    """The diffusers settings a run resolves from the environment and the config file's
    [diffusers] table as they stand (the backends read no file: the run hands them these)."""
    from director.config import load_config_file
    from director.tools import diffusers_local as local

    return local.resolve_settings(section=load_config_file().section("diffusers"))
