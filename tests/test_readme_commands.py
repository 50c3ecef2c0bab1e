"""Every command in README.md and docs/*.md is a test: a README edit that breaks one breaks CI.

The fenced code blocks are read as shell (backslash continuations joined, comments cut, ``&&``
split, ``shlex`` words); each ``director`` command runs as written, in a temporary folder, with
the user's configuration out of reach and the hosted services replaced by fakes on 127.0.0.1
(base URLs and dummy keys; a block's ``export KEY=sk-...`` gets the fake's key); a file it names
that a reader brings (``--character Mara=mara.jpg``) is made for it. Each ``pip install``
resolves offline against what is installed. A command that names a run (``RUN``) runs against a
copy of a real run waiting at the checkpoint where it applies. ``[...]`` outside quotes is a
synopsis's optional part: each combination of them is run.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from director.tools.assemble.probe import probe
from tests.fakes.comfyui_server import FakeComfyUI
from tests.fakes.dashscope_server import FakeDashScope
from tests.fakes.openai_server import FakeOpenAI
from tests.test_openai_planner import screenwriter

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL = {"", "sh", "bash", "shell", "console", "zsh"}
FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([^`]*)$")
ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
# What the shell would do with these is not what a reader of the line expects of a command.
UNSUPPORTED = "|;<>&`"


# --- reading the documents ---------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    """One simple command of a fenced block, as written."""

    where: str  # "README.md:22"
    line: str  # the logical line it is on (continuations joined), as written
    argv: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()  # exported earlier in its block, or NAME=VALUE before it
    comment: str = ""  # the line's trailing comment
    variant: str = ""  # the optional [...] parts taken, by name
    error: str = ""  # why it could not be read as shell

    @property
    def id(self) -> str:
        return f"{self.where}+{self.variant}" if self.variant else self.where

    @property
    def is_director(self) -> bool:
        return self.argv[:1] == ("director",)

    @property
    def is_pip_install(self) -> bool:
        return self.argv[:2] == ("pip", "install")


def fenced_blocks(path: Path) -> Iterator[tuple[str, list[tuple[int, str]]]]:
    """(info string, [(line number, text)]) of each fenced block; an indented fence (inside a
    list item) has its indentation taken off its lines."""
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        indent, fence, info = opening.groups()
        body, i = [], i + 1
        while i < len(lines):
            if closes(lines[i], fence):
                break
            text = lines[i]
            body.append((i + 1, text[len(indent) :] if text.startswith(indent) else text.lstrip()))
            i += 1
        yield info.strip(), body
        i += 1


def closes(line: str, fence: str) -> bool:
    closing = FENCE.match(line)
    return bool(
        closing
        and closing[2][0] == fence[0]
        and len(closing[2]) >= len(fence)
        and not closing[3].strip()
    )


def is_shell(info: str, body: list[tuple[int, str]]) -> bool:
    """Not a block tagged as another language (toml, python), a directory tree or a diagram."""
    if info and info.split()[0].lower() not in SHELL:
        return False
    texts = [t for _, t in body if t.strip()]
    tree = any(re.match(r"^\S+/\s*$", t) or re.search(r"[├└│]", t) for t in texts)
    diagram = any(t.lstrip().startswith("->") or " -> " in t for t in texts)
    return not (tree or diagram)


def logical_lines(body: list[tuple[int, str]]) -> Iterator[tuple[int, str]]:
    """Lines with their backslash-newline continuations joined, numbered by their first line."""
    start, parts = None, []
    for number, text in body:
        start = number if start is None else start
        if re.search(r"(?<!\\)(\\\\)*\\$", text):  # an odd number of trailing backslashes
            parts.append(text[:-1])
            continue
        parts.append(text)
        yield start, "".join(parts)
        start, parts = None, []
    if parts:
        yield start, "".join(parts)


def scan(text: str) -> tuple[list[list[tuple[str, bool]]], str]:
    """A logical line split on ``&&`` outside quotes, its comment cut off (``#`` starting a word).
    Each command is a list of pieces (text, optional): ``[...]`` outside quotes, opening at a
    word's start and closing at a word's end, is an optional part of a synopsis."""
    commands: list[list[tuple[str, bool]]] = []
    pieces: list[tuple[str, bool]] = []
    buf: list[str] = []
    quote, optional, comment, i = "", False, "", 0

    def flush(is_optional: bool = False) -> None:
        if buf:
            pieces.append(("".join(buf), is_optional))
            buf.clear()

    while i < len(text):
        c = text[i]
        word_start = i == 0 or text[i - 1].isspace()
        if quote:
            buf.append(c)
            if c == "\\" and quote == '"' and i + 1 < len(text):
                buf.append(text[i + 1])
                i += 1
            elif c == quote:
                quote = ""
        elif c == "\\" and i + 1 < len(text):
            buf.append(text[i : i + 2])
            i += 1
        elif c in "'\"":
            quote = c
            buf.append(c)
        elif c == "#" and word_start:
            comment = text[i + 1 :].strip()
            break
        elif text.startswith("&&", i):
            if optional:
                raise ValueError("'&&' inside [...]")
            flush()
            commands.append(pieces)
            pieces = []
            i += 1
        elif c in UNSUPPORTED:
            raise ValueError(f"{c!r} outside quotes is not a plain command")
        elif c == "[" and word_start and not optional:
            flush()
            optional = True
        elif c == "]" and optional and (i + 1 == len(text) or text[i + 1].isspace()):
            flush(is_optional=True)
            optional = False
        else:
            buf.append(c)
        i += 1
    if quote:
        raise ValueError(f"unterminated {quote} quote")
    if optional:
        raise ValueError("unclosed [")
    flush()
    commands.append(pieces)
    return commands, comment


def expansions(pieces: list[tuple[str, bool]]) -> Iterator[tuple[str, str]]:
    """(text, variant) for each choice of the optional pieces: none of them first."""
    optional = [text for text, is_optional in pieces if is_optional]
    for taken in itertools.product((False, True), repeat=len(optional)):
        chosen = iter(taken)
        parts = [text for text, is_opt in pieces if not is_opt or next(chosen)]
        names = [t.split()[0].lstrip("-") for t, keep in zip(optional, taken, strict=True) if keep]
        yield " ".join(parts), "+".join(names)


def commands_of(path: Path) -> Iterator[Command]:
    name = path.relative_to(ROOT).as_posix()
    for info, body in fenced_blocks(path):
        if not is_shell(info, body):
            continue
        exported: dict[str, str] = {}
        for number, line in logical_lines(body):
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            where = f"{name}:{number}"
            try:
                parsed, comment = scan(stripped)
            except ValueError as exc:
                yield Command(where, stripped, tuple(stripped.split()[:1]), error=str(exc))
                continue
            for pieces in parsed:
                for text, variant in expansions(pieces):
                    try:
                        words = shlex.split(text)
                    except ValueError as exc:
                        yield Command(where, stripped, tuple(text.split()[:1]), error=str(exc))
                        continue
                    if words[:1] == ["export"]:
                        exported.update(w.split("=", 1) for w in words[1:] if "=" in w)
                        continue
                    env = dict(exported)
                    while words and ASSIGNMENT.match(words[0]):
                        env.update([words.pop(0).split("=", 1)])
                    if words:
                        yield Command(
                            where, stripped, tuple(words), tuple(env.items()), comment, variant
                        )


def collect() -> list[Command]:
    found = [c for path in DOCUMENTS for c in commands_of(path)]
    seen: Counter[tuple[str, str]] = Counter()
    unique = []
    for command in found:  # a second `director` on one line (and variant) is numbered -2
        key = (command.id, command.argv[0] if command.argv else "")
        seen[key] += 1
        if seen[key] > 1:
            command = Command(**{**command.__dict__, "where": f"{command.where}-{seen[key]}"})
        unique.append(command)
    return unique


COMMANDS = collect()
DIRECTOR = [c for c in COMMANDS if c.is_director]
PIP = [c for c in COMMANDS if c.is_pip_install]


def value_of(argv: list[str], option: str) -> tuple[int, str] | None:
    """(index of the value, value) of ``--option VALUE`` or ``--option=VALUE``."""
    for i, word in enumerate(argv):
        if word == option and i + 1 < len(argv):
            return i + 1, argv[i + 1]
        if word.startswith(option + "="):
            return i, word.split("=", 1)[1]
    return None


def makes_a_film(command: Command) -> bool:
    """A `director run` that approves every checkpoint itself."""
    argv = list(command.argv)
    auto = "--yes" in argv or "-y" in argv or (value_of(argv, "--approve") or (0, ""))[1] == "auto"
    return argv[1:2] == ["run"] and auto


def params(commands: list[Command]) -> list:
    return [
        pytest.param(c, id=c.id, marks=[pytest.mark.slow] if makes_a_film(c) else [])
        for c in commands
    ]


# --- the collector finds what the README shows ---------------------------------------------------


def test_the_collector_finds_the_documented_commands():
    assert not [c.id for c in COMMANDS if c.error], [(c.id, c.error) for c in COMMANDS if c.error]
    for group in (DIRECTOR, PIP):
        assert len({c.id for c in group}) == len(group)
    films = [c for c in DIRECTOR if makes_a_film(c) and c.where.startswith("README.md:")]
    offline = [c for c in films if not any(a.startswith("dashscope:") for a in c.argv)]
    chinese = [c for c in offline if re.search(r"[\u4e00-\u9fff]", " ".join(c.argv))]
    assert chinese and len(offline) > len(chinese), "the quick start's runs, English and Chinese"
    hosted = [c for c in films if any(a.startswith("dashscope:") for a in c.argv)]
    assert hosted and "DASHSCOPE_API_KEY" in dict(hosted[0].env), "the hosted run, its key"
    assert any(c.argv == ("pytest",) for c in COMMANDS), "the test command"
    assert any(c.argv[:2] == ("pip", "install") and ".[test]" in c.argv for c in PIP)
    said = {c.argv[1:3] for c in DIRECTOR if "RUN" in c.argv}
    assert {("status", "RUN"), ("approve", "RUN"), ("resume", "RUN")} <= said
    rejects = [c for c in DIRECTOR if "--reject" in c.argv]
    assert any("--shot" not in c.argv for c in rejects), "reject the beat"
    assert any({"--shot", "--slot"} <= set(c.argv) for c in rejects), "reject a shot's slot"
    assert all(c.where.startswith(("README.md:", "docs/")) for c in COMMANDS)


def test_the_reader_handles_shell_as_written():
    body = [
        (1, "export KEY=sk-...   # a key"),
        (2, 'director run --logline "a && b # c" \\'),
        (3, "  --yes && pip install '.[x]'"),
        (4, "director approve RUN --reject [--shot s1] --note '...' # redo"),
    ]
    lines = list(logical_lines(body))
    assert [n for n, _ in lines] == [1, 2, 4]
    (run, pip), comment = scan(lines[1][1])
    assert comment == ""
    assert shlex.split(run[0][0]) == ["director", "run", "--logline", "a && b # c", "--yes"]
    assert shlex.split(pip[0][0]) == ["pip", "install", ".[x]"]
    (reject,), comment = scan(lines[2][1])
    assert comment == "redo"
    assert [(shlex.split(text), v) for text, v in expansions(reject)] == [
        (["director", "approve", "RUN", "--reject", "--note", "..."], ""),
        (["director", "approve", "RUN", "--reject", "--shot", "s1", "--note", "..."], "shot"),
    ]
    with pytest.raises(ValueError):
        scan("director runs | head")


# --- pip install, offline -----------------------------------------------------------------------


@pytest.mark.parametrize("command", params(PIP))
def test_pip_install_resolves_offline(command: Command):
    """Resolved against the packages installed here (no index, no build isolation, no download):
    the project builds, every requirement and extra is met, and every extra named exists."""
    env = {**os.environ, "PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env["PIP_NO_INPUT"] = "1"
    argv = [sys.executable, "-m", "pip", "install", "--dry-run", "--no-index"]
    argv += ["--no-build-isolation", *command.argv[2:]]
    result = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "does not provide the extra" not in output, output[-3000:]
    assert not [line for line in output.splitlines() if line.startswith("ERROR")], output[-3000:]
    assert "Would install director-" in output


def test_every_extra_the_documents_name_exists():
    """Also those in the prose (`pip install '.[faces]'`), without running pip."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    extras = set(pyproject["project"]["optional-dependencies"])
    named = set()
    for path in DOCUMENTS:
        text = path.read_text(encoding="utf-8")
        for group in re.findall(r"pip install (?:-e )?['\"]?\.\[([^\]]*)\]", text):
            named |= {e.strip() for e in group.split(",")}
    assert named and named <= extras, named - extras


def test_ci_runs_the_readme_test_command():
    (line,) = {c.line for c in COMMANDS if c.argv == ("pytest",)}
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    commands = [s.strip() for s in script if s.strip() and not s.strip().startswith("#")]
    assert commands[-1] == line, f".ci/run ends with {commands[-1]!r}, the README says {line!r}"


# --- the director commands ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def services():
    """One DashScope (its task API and, on the same host, the OpenAI-compatible chat) and one
    OpenAI, both answering as a screenwriter that gets every stage right."""
    with FakeOpenAI() as openai_fake, FakeDashScope() as dashscope:
        openai_fake.chat_handler = screenwriter
        with FakeOpenAI(api_key=dashscope.api_key) as compatible:
            compatible.chat_handler = screenwriter
            dashscope.compatible = compatible
            yield dashscope, openai_fake


def environment(home: Path, services, command: Command | None = None) -> dict[str, str]:
    """os.environ without the user's director settings, config, caches and keys; the hosted
    services' base URLs and keys those of the fakes; the block's exports on top, a placeholder
    key (``sk-...``) made the fake's."""
    dashscope, openai_fake = services
    drop = ("DIRECTOR_", "DASHSCOPE_", "OPENAI_", "XDG_", "HF_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    keys = {"DASHSCOPE_API_KEY": dashscope.api_key, "OPENAI_API_KEY": openai_fake.api_key}
    env.update(
        keys,
        HOME=str(home / "home"),
        XDG_CONFIG_HOME=str(home / "config"),
        HF_HUB_CACHE=str(home / "no-hub-cache"),
        DASHSCOPE_HTTP_BASE_URL=dashscope.base_url,
        OPENAI_BASE_URL=openai_fake.base_url,
    )
    for name, value in command.env if command else ():
        if name in ("DASHSCOPE_HTTP_BASE_URL", "OPENAI_BASE_URL"):
            continue  # never a real service
        placeholder = "..." in value or "<" in value or value.upper().startswith("YOUR")
        env[name] = keys[name] if name in keys and placeholder else value
    return env


FIXTURES = ROOT / "tests" / "fixtures" / "scripts"
SCRIPTS = {
    ".fountain": "last_concert.fountain",
    ".md": "letters.md",
    ".csv": "lighthouse.csv",
    ".json": "robot_garden.json",
}
BEATS = {".md": "beats_only.md"}


def provide_inputs(argv: tuple[str, ...], cwd: Path) -> None:
    """The files a command names that a reader brings: a script or an outline (one of the
    samples in tests/fixtures/scripts, by its suffix), and for ``--character Mara=mara.jpg`` a photo
    of one real face where it names a picture that is not there: scikit-image's astronaut, cut
    above the badge on her suit that dlib takes for a second face once JPEG has blurred it."""
    photos = [
        argv[i + 1].partition("=")[2] if option in ("--character", "--replace") else argv[i + 1]
        for i, option in enumerate(argv[:-1])
        if option in ("--character", "--ref", "--style-ref", "--replace")
    ]
    for option, sample in (("--script", SCRIPTS), ("--beats", BEATS)):
        found = value_of(list(argv), option)
        if found and not (cwd / found[1]).exists():
            suffix = Path(found[1]).suffix
            (cwd / found[1]).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(FIXTURES / sample.get(suffix, sample[".md"]), cwd / found[1])
    for name in photos:
        path = cwd / name
        if name and not path.exists():
            from PIL import Image
            from skimage.data import astronaut

            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(astronaut()[:300]).convert("RGB").save(path)


def run_director(argv, cwd: Path, env: dict, timeout: float = 580) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "director", *argv],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,  # no terminal: a run without --yes defers its approvals
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def ok(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    return result


def refused(command: Command) -> bool:
    """The document says this command fails (its comment)."""
    return bool(re.search(r"\b(refused|refuses|fails|an error)\b", command.comment, re.I))


def check_refused(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert len([line for line in result.stderr.splitlines() if line.strip()]) == 1, result.stderr


@pytest.fixture(scope="module")
def comfyui():
    """A ComfyUI server, for the commands that name one (``--image comfyui:...``)."""
    with FakeComfyUI() as fake:
        yield fake


def on_comfyui(command: Command, cwd: Path, env: dict, request) -> None:
    """A command that uses ComfyUI talks to the fake, whatever address the block exports, and
    a workflow file it names is the reader's own: the built-in SDXL graph, saved as a file."""
    specs = [word.partition(":")[2] for word in command.argv if word.startswith("comfyui:")]
    if not specs:
        return
    env["COMFYUI_URL"] = request.getfixturevalue("comfyui").url
    for spec in specs:
        if spec.endswith(".json") and not (cwd / spec).exists():
            shutil.copy(ROOT / "director/tools/comfyui/workflows/sdxl.json", cwd / spec)


@pytest.mark.parametrize("command", params(DIRECTOR))
def test_director_command(command: Command, services, tmp_path, request):
    assert not command.error, command.error
    env = environment(tmp_path, services, command)
    on_comfyui(command, tmp_path, env, request)
    if "RUN" in command.argv:  # the deferred run is made only for these
        return check_on_a_run(command, request.getfixturevalue("deferred"), tmp_path, env)
    provide_inputs(command.argv, tmp_path)
    result = run_director(command.argv[1:], tmp_path, env)
    if refused(command):
        return check_refused(result)
    ok(result)
    if makes_a_film(command):
        check_the_film(command, tmp_path)


def check_the_film(command: Command, cwd: Path) -> None:
    argv = list(command.argv)
    runs = cwd / (value_of(argv, "--runs-dir") or (0, "runs"))[1]
    (run,) = [p for p in runs.iterdir() if p.is_dir()]
    plan = json.loads((run / "plan.json").read_text(encoding="utf-8"))
    size = (value_of(argv, "--size") or (0, "1280x720"))[1]  # the documented default
    info = probe(run / "film.mp4")
    assert (info.video_codec, f"{info.width}x{info.height}") == ("h264", size)
    total = sum(b["duration_s"] for b in plan["beat_sheet"]["beats"])
    assert abs(info.duration_s - total) <= 0.05 * total, (info.duration_s, total)
    assert (run / "workflow.md").is_file()
    if re.search(r"[\u4e00-\u9fff]", " ".join(argv)):  # "then written in Chinese"
        assert plan["story"]["language"] == "zh"


# --- commands on a run: a real one, waiting where each applies ----------------------------------

RUN_ID = "readme"
LOGLINE = "A keeper and a robot tend the last garden"


class Deferred:
    """A small offline run started in deferred mode, and a copy of its folder at each checkpoint
    it has stopped at, made on demand by approving and resuming it."""

    def __init__(self, root: Path, env: dict) -> None:
        self.root, self.env = root, env
        self.work = root / "work"
        self.work.mkdir(parents=True)
        small = ("--minutes", "0.25", "--size", "320x180", "--approve", "defer")
        ok(self.director("run", "--logline", LOGLINE, *small, "--run-id", RUN_ID))
        self.saved: dict[tuple[str, str | None], Path] = {}
        self.finished = False
        waiting = self.save()
        self.beats = [b["id"] for b in waiting["beats"]]

    def director(self, *argv: str) -> subprocess.CompletedProcess:
        return run_director(argv, self.work, self.env, timeout=300)

    def save(self) -> dict | None:
        waiting = json.loads(ok(self.director("status", RUN_ID, "--json")).stdout)["waiting"]
        if waiting is None:
            self.finished = True
        else:
            folder = self.root / "saved" / f"{len(self.saved)}"
            shutil.copytree(self.work / "runs" / RUN_ID, folder)
            self.saved[(waiting["checkpoint"], waiting.get("beat"))] = folder
        return waiting

    def at(self, checkpoint: str, beat: str | None = None) -> Path:
        """The folder of the run waiting at this checkpoint (the keyframes of ``beat``)."""
        while (checkpoint, beat) not in self.saved:
            assert not self.finished, f"the run never waited at {checkpoint} {beat}"
            ok(self.director("approve", RUN_ID))
            ok(self.director("resume", RUN_ID))
            self.save()
        return self.saved[(checkpoint, beat)]

    @property
    def shots(self) -> dict[str, str]:
        """Shot id -> its beat, from the plan (written once the beat sheet is approved)."""
        plan = json.loads((self.at("keyframes", self.beats[0]) / "plan.json").read_text())
        return {s["id"]: s["beat_id"] for s in plan["shots"]}


@pytest.fixture(scope="module")
def deferred(services, tmp_path_factory):
    root = tmp_path_factory.mktemp("deferred")
    return Deferred(root, environment(root, services))


def where_it_applies(argv: list[str], run: Deferred) -> tuple[str, str | None]:
    """The checkpoint a command answers, its placeholder ids made ones the run has: a beat the
    run has not (``--edit BEAT``) becomes its last, a shot it has not its first."""
    if argv[0] != "approve":
        return "beats", None
    edit = value_of(argv, "--edit")
    if "--regenerate" in argv or (edit and value_of(argv, "--field")):
        if edit and edit[1] not in run.beats:
            substitute(argv, edit, run.beats[-1])
        return "beats", None
    replace = value_of(argv, "--replace")
    if replace:  # your own frame for a shot: at that shot's keyframes
        shot, _, image = replace[1].partition("=")
        if shot not in run.shots:
            shot = next(iter(run.shots))
            substitute(argv, replace, f"{shot}={image}")
        return "keyframes", run.shots[shot]
    found = value_of(argv, "--reroll") or edit or value_of(argv, "--shot")
    if found is None:
        return ("keyframes", run.beats[0]) if "--reject" in argv else ("beats", None)
    shots = run.shots
    shot = found[1] if found[1] in shots else substitute(argv, found, next(iter(shots)))
    return "keyframes", shots[shot]


def substitute(argv: list[str], found: tuple[int, str], new: str) -> str:
    """Put ``new`` where value_of found a value (``--opt VALUE`` or ``--opt=VALUE``)."""
    i, old = found
    argv[i] = argv[i].removesuffix(old) + new
    return new


def check_on_a_run(command: Command, run: Deferred, cwd: Path, env: dict) -> None:
    argv = [RUN_ID if word == "RUN" else word for word in command.argv[1:]]
    where = where_it_applies(argv, run)
    shutil.copytree(run.at(*where), cwd / "runs" / RUN_ID)
    provide_inputs(tuple(argv), cwd)
    if argv[0] == "resume":  # "go on with the recorded answer": one is recorded first
        ok(run_director(["approve", RUN_ID], cwd, env))
    result = run_director(argv, cwd, env)
    if refused(command):
        return check_refused(result)
    ok(result)
    if argv[0] == "approve":  # it says how to go on (or, for --abort, that the run ends)
        assert f"director resume {RUN_ID}" in result.stdout
    if argv == ["resume", RUN_ID]:  # it went on: it waits somewhere else now, or has finished
        state = json.loads(ok(run_director(["status", RUN_ID, "--json"], cwd, env)).stdout)
        waiting = state["waiting"]
        assert waiting is None or (waiting["checkpoint"], waiting.get("beat")) != where
