"""The command line as a user meets it: exit codes, one-line errors, nothing half-written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

LOGLINE = "In 2075 the last human on Earth tends a garden that robots keep bulldozing"


def director(*args: str, cwd: Path, env: dict | None = None, timeout: float = 300):
    command = [sys.executable, "-m", "director", *args]
    merged = {**os.environ, **(env or {})}
    return subprocess.run(
        command, cwd=cwd, env=merged, capture_output=True, text=True, timeout=timeout
    )


def assert_clean_error(result, fragment: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert fragment in lines[0]


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--logline", "   "], "The logline is empty"),
        (["--logline", "x" * 2001], "limit is 2000"),
        (["--logline", LOGLINE, "--minutes", "0.1"], "out of range"),
        (["--logline", LOGLINE, "--minutes", "25"], "out of range"),
        (["--logline", LOGLINE, "--size", "huge"], "is not WIDTHxHEIGHT"),
        (["--logline", LOGLINE, "--run-id", "../escape"], "not safe"),
        (["--logline", LOGLINE, "--structure", "five-act"], "five-act"),
        (["--logline", LOGLINE, "--music", "/no/such/song.mp3"], "is not a file"),
        (["--logline", LOGLINE, "--best-of", "9"], "--best-of 9 is more than --max-attempts 6"),
        (["--logline", LOGLINE, "--music", "not-audio.txt"], "is not audio that ffmpeg can read"),
        (["--logline", LOGLINE, "--budget", "nan"], "is not a finite number"),
        (["--logline", LOGLINE, "--budget", "inf"], "is not a finite number"),
        (["--logline", LOGLINE, "--minutes", "nan"], "is not a finite number"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_leaves_nothing(tmp_path, args, fragment):
    (tmp_path / "not-audio.txt").write_text("these are words, not sound")
    result = director("run", *args, "--yes", "--runs-dir", "runs", cwd=tmp_path)
    assert_clean_error(result, fragment)
    runs = tmp_path / "runs"
    assert not runs.exists() or not any(p for p in runs.iterdir() if p.is_dir())


def test_unwritable_runs_folder(tmp_path):
    (tmp_path / "blocker").write_text("a file, not a folder")
    result = director(
        "run", "--logline", LOGLINE, "--yes", "--runs-dir", "blocker/runs", cwd=tmp_path
    )
    assert_clean_error(result, "Cannot write to the runs folder")


def test_missing_ffmpeg(tmp_path):
    result = director(
        "run",
        "--logline",
        LOGLINE,
        "--yes",
        "--runs-dir",
        "runs",
        cwd=tmp_path,
        env={"DIRECTOR_FFMPEG": str(tmp_path / "no-ffmpeg")},
    )
    assert_clean_error(result, "ffmpeg")
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_existing_run_id_is_refused(tmp_path):
    (tmp_path / "runs" / "mine").mkdir(parents=True)
    result = director(
        "run", "--logline", LOGLINE, "--yes", "--runs-dir", "runs", "--run-id", "mine", cwd=tmp_path
    )
    assert_clean_error(result, "already exists")


def test_replay_of_an_unknown_run(tmp_path):
    result = director("replay", "nope", "--runs-dir", "runs", cwd=tmp_path)
    assert_clean_error(result, "No run 'nope'")


def test_runs_on_an_empty_folder(tmp_path):
    result = director("runs", "--runs-dir", "runs", cwd=tmp_path)
    assert result.returncode == 0 and "No runs" in result.stderr


def test_help_does_not_import_heavy_modules():
    code = (
        "import sys, director.cli; "
        "heavy = [m for m in ('langgraph', 'PIL', 'numpy', 'rich', 'ffmpeg') if m in sys.modules]; "
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_logline_with_terminal_escapes_and_nul_is_cleaned_where_it_enters(tmp_path):
    hostile = "A keeper\x1b]0;owned\x07 tends the last\x7f garden"
    result = director(
        *("run", "--logline", hostile, "--minutes", "0.25", "--size", "320x180"),
        *("--yes", "-q", "--run-id", "esc", "--runs-dir", "runs"),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    run = tmp_path / "runs" / "esc"
    for name in ("run.json", "plan.json", "events.jsonl", "film.srt", "workflow.md"):
        text = (run / name).read_text(encoding="utf-8")
        assert "\x1b" not in text and "\x07" not in text and "\x7f" not in text, name
    shown = director("status", "esc", "--runs-dir", "runs", cwd=tmp_path)
    assert shown.returncode == 0 and "\x1b" not in shown.stdout and "\x07" not in shown.stdout
    recorded = json.loads((run / "run.json").read_text(encoding="utf-8"))
    assert "A keeper]0;owned tends the last garden" in json.dumps(recorded, ensure_ascii=False)


def test_a_logline_of_undecodable_bytes_is_refused_in_one_line(tmp_path):
    result = director("run", "--logline", "bad \udcff\udcfe bytes", "--yes", cwd=tmp_path)
    assert_clean_error(result, "not valid text")


def test_a_budget_that_is_not_a_number_from_the_environment_is_one_line(tmp_path):
    result = director(
        "run", "--logline", LOGLINE, "--yes", cwd=tmp_path, env={"DIRECTOR_BUDGET": "nan"}
    )
    assert_clean_error(result, "is not a finite number")


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o027, 0o640)])
def test_outputs_are_readable_as_the_umask_allows(tmp_path, mask, mode):
    import stat

    def run_with_umask():
        os.umask(mask)

    result = subprocess.run(
        [sys.executable, "-m", "director", "run", "-l", LOGLINE, "--minutes", "0.25", "--yes"],
        cwd=tmp_path,
        env={**os.environ, "DIRECTOR_SIZE": "320x180"},
        input="",
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=run_with_umask,
    )
    assert result.returncode == 0, result.stderr
    run = next((tmp_path / "runs").iterdir())
    names = ("run.json", "plan.json", "workflow.md", "film.mp4", "film.srt", "contact_sheet.png")
    outputs = [run / n for n in names] + list((run / "keyframes").rglob("*.png"))
    for path in outputs:
        assert stat.S_IMODE(path.stat().st_mode) == mode, path


@pytest.mark.parametrize("columns", ["80", "120", "200"])
def test_runs_prints_every_run_id_whole_in_any_terminal_width(tmp_path, columns):
    long_id = "2026-12-06-a-very-long-run-name-for-the-lighthouse-keeper-and-the-robot-v2"
    run = director(
        *("run", "--logline", LOGLINE, "--minutes", "0.25", "--size", "320x180"),
        *("--yes", "-q", "--run-id", long_id),
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    listed = director("runs", cwd=tmp_path, env={"COLUMNS": columns})
    assert listed.returncode == 0, listed.stderr
    assert long_id in listed.stdout and "completed" in listed.stdout


@pytest.mark.parametrize("log", [b"", b"\xff\xfe\x00\x01garbage\n", b"{not json}\n{}\n"])
def test_replay_never_replaces_a_good_document_with_what_a_broken_log_gives(tmp_path, log):
    made = director(
        *("run", "--logline", LOGLINE, "--minutes", "0.25", "--size", "320x180"),
        *("--yes", "-q", "--run-id", "doc"),
        cwd=tmp_path,
    )
    assert made.returncode == 0, made.stderr
    run = tmp_path / "runs" / "doc"
    document = (run / "workflow.md").read_bytes()
    (run / "events.jsonl").write_bytes(log)
    result = director("replay", "doc", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert len([line for line in result.stderr.splitlines() if line.strip()]) == 1
    assert (run / "workflow.md").read_bytes() == document


def test_a_corrupt_cast_store_or_a_home_that_is_a_file_is_one_line(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    garbage = bytes(range(256)) * 16
    (home / "cast.sqlite").write_bytes(garbage)
    result = director("cast", "list", cwd=tmp_path, env={"DIRECTOR_HOME": str(home)})
    assert_clean_error(result, "cannot be read as a database")
    assert (home / "cast.sqlite").read_bytes() == garbage  # the user's file is left as it was
    (tmp_path / "a-file").write_text("not a folder")
    result = director("cast", "list", cwd=tmp_path, env={"DIRECTOR_HOME": str(tmp_path / "a-file")})
    assert_clean_error(result, "is not a folder")


def test_a_config_file_that_is_not_text_is_one_line(tmp_path):
    config = tmp_path / "config.toml"
    config.write_bytes(b'size = "320x180"\n\xff\xfe\x00\x01')
    result = director(
        "run", "--logline", LOGLINE, "--yes", cwd=tmp_path, env={"DIRECTOR_CONFIG": str(config)}
    )
    assert_clean_error(result, "is not UTF-8 text")
    doctor = director("doctor", cwd=tmp_path, env={"DIRECTOR_CONFIG": str(config)})
    assert doctor.returncode == 0 and "unexpected" not in doctor.stdout + doctor.stderr


def test_the_command_reference_lists_every_command(tmp_path):
    """docs/cli.md opens with `director --help`: its command list is the program's."""
    shown = director("--help", cwd=tmp_path, env={"COLUMNS": "80"})
    assert shown.returncode == 0, shown.stderr
    listed = shown.stdout.split("Commands:\n", 1)[1].splitlines()
    doc = (Path(__file__).parent.parent / "docs" / "cli.md").read_text(encoding="utf-8")
    documented = doc.split("Commands:\n", 1)[1].split("```", 1)[0].splitlines()
    assert [line.split()[0] for line in documented if line.strip()] == [
        line.split()[0] for line in listed if line.strip()
    ]
