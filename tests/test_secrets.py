"""Credentials inside a URL never reach a file or the terminal: run.json, the log, the
checkpoints and the documents hold the URL with ``***`` in their place, and a resume takes
them from the setting that holds them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakes.openai_server import FakeOpenAI
from tests.test_openai_planner import screenwriter

SECRET = "s3cretPassw0rd"

pytestmark = pytest.mark.slow


def _director(cwd: Path, *args: str, env: dict | None = None):
    base = {k: v for k, v in os.environ.items() if not k.startswith("DIRECTOR_")}
    base["XDG_CONFIG_HOME"] = str(cwd / "config")
    return subprocess.run(
        [sys.executable, "-m", "director", *args],
        cwd=cwd,
        env={**base, **(env or {})},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _leaks(run: Path) -> list[str]:
    return [
        str(p.relative_to(run))
        for p in run.rglob("*")
        if p.is_file() and SECRET.encode() in p.read_bytes()
    ]


def test_url_credentials_are_never_written_and_a_resume_takes_them_from_the_setting(tmp_path):
    with FakeOpenAI() as llm:
        llm.chat_handler = screenwriter
        llm.basic_auth = ("planner", SECRET)
        host = llm.base_url.split("://", 1)[1]
        spec = f"openai-compatible:http://planner:{SECRET}@{host}#qwen2.5:7b"
        env = {"DIRECTOR_COMPATIBLE_API_KEY": llm.api_key}
        started = _director(
            tmp_path,
            *("run", "--logline", "A keeper and a robot tend the last garden"),
            *("--minutes", "0.25", "--size", "320x180", "--llm", spec, "--run-id", "s"),
            env=env,
        )  # deferred: it stops at the beat sheet
        assert started.returncode == 0, started.stderr
        run = tmp_path / "runs" / "s"
        assert SECRET not in started.stdout + started.stderr
        assert _leaks(run) == []
        assert "http://***@127.0.0.1" in (run / "run.json").read_text(encoding="utf-8")

        lost = _director(tmp_path, "resume", "s", "--yes", env=env)
        assert lost.returncode == 2 and "DIRECTOR_LLM" in lost.stderr
        assert SECRET not in lost.stderr

        resumed = _director(tmp_path, "resume", "s", "--yes", env={**env, "DIRECTOR_LLM": spec})
        assert resumed.returncode == 0, resumed.stderr
        assert (run / "film.mp4").exists() and _leaks(run) == []
        assert SECRET not in resumed.stdout + resumed.stderr
