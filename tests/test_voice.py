"""Voices: the offline scratch voice in English and Chinese (through the CLI, its lines found in
the film's sound at their shots), one voice per speaker, lines longer than their shots flagged,
and OpenAI speech through the real ``openai`` SDK against a loopback server that speaks the
published ``POST /v1/audio/speech`` protocol."""

from __future__ import annotations

import json
import math
import struct
import threading
import wave
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from director import registry
from director.cli.run import long_lines
from director.errors import ProviderError
from director.records import Line
from director.tools.assemble.mix import LoudnessTarget, measure_file
from director.tools.assemble.probe import probe
from director.tools.providers import ProviderSettings
from director.tools.voice.lines import speak_lines
from director.tools.voice.openai_speech import PCM_RATE, OpenAISpeech
from director.tools.voice.scratch import SAMPLE_RATE, ScratchVoice
from tests.test_assembly import RED, make_plan
from tests.test_cli import assert_clean_error, director
from tests.test_mix import decoded, level_db

EN = "In 2075 the last human on Earth tends a garden that robots keep bulldozing"
ZH = "2075年，地球上最后一个人类独自守着一座被机器人反复推平的花园"


def _run(root: Path, logline: str, run_id: str) -> tuple[dict, Path, list[dict]]:
    result = director(
        "run", "--logline", logline, "--yes", "--json", "--runs-dir", "runs",
        "--run-id", run_id, "--minutes", "0.25", "--size", "320x180", "--voice", "scratch",
        cwd=root,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    folder = root / "runs" / run_id
    events = [json.loads(line) for line in (folder / "events.jsonl").read_text().splitlines()]
    return json.loads(result.stdout), folder, events


@pytest.fixture(scope="module", params=["en", "zh"])
def voiced(request, tmp_path_factory):
    logline = EN if request.param == "en" else ZH
    return (request.param, *_run(tmp_path_factory.mktemp("voiced"), logline, request.param))


# --- the scratch voice through the CLI ------------------------------------------------------


def test_every_line_is_spoken_as_a_scratch_track_and_logged(voiced):
    language, summary, folder, events = voiced
    plan = json.loads((folder / "plan.json").read_text())
    lines = {s["id"]: s["line"] for s in plan["shots"] if s.get("line")}
    spoken = [e for e in events if e["type"] == "voice_line"]
    assert lines and [e["shot_id"] for e in spoken] == list(lines)
    for event in spoken:
        assert event["text"] == lines[event["shot_id"]]["text"]
        assert (event["backend"], event["model"], event["scratch"]) == (
            "scratch",
            "espeak-ng",
            True,
        )
        with wave.open(str(folder / event["path"])) as audio:
            assert audio.getframerate() == SAMPLE_RATE
            assert abs(audio.getnframes() / SAMPLE_RATE - event["duration_s"]) < 0.01
        assert 0.3 < event["duration_s"] < 12
    assert summary["long_lines"] == [
        {k: e[k] for k in ("shot_id", "text", "duration_s", "shot_s")}
        for e in spoken
        if not e["fits"]
    ]
    if language == "zh":
        assert all(any("\u4e00" <= c <= "\u9fff" for c in e["text"]) for e in spoken)


def test_the_lines_are_heard_at_their_shots_and_silence_elsewhere(voiced):
    _, summary, folder, events = voiced
    film = Path(summary["paths"]["film"])
    assert probe(film).audio_codec == "aac"
    sound = decoded(film)
    spoken = [e for e in events if e["type"] == "voice_line"]
    title_s = json.loads((folder / "plan.json").read_text())["cards"]["title_s"]
    silence = level_db(sound, 0.1, title_s - 0.1)  # the title card has no line and no music
    assert silence < -60
    for e in spoken:
        assert level_db(sound, e["start_s"], e["start_s"] + e["duration_s"]) > silence + 30
        assert level_db(sound, e["start_s"] - 0.4, e["start_s"] - 0.05) < -50 or e is spoken[0]


def test_the_voiced_film_meets_the_loudness_target_and_records_it(voiced):
    _, summary, folder, events = voiced
    target = LoudnessTarget()
    heard = measure_file(Path(summary["paths"]["film"]))
    assert abs(heard["integrated"] - target.integrated) <= 1.0, heard
    [logged] = [e for e in events if e["type"] == "loudness"]
    assert (logged["target_i"], logged["target_tp"]) == (-16.0, -1.0)
    assert abs(logged["output_i"] - heard["integrated"]) < 0.2
    assert (folder / "voice.wav").is_file() and not (folder / "music.wav").exists()


def test_an_unknown_voice_is_one_line(tmp_path):
    result = director("run", "--logline", EN, "--voice", "nobody", cwd=tmp_path)
    assert_clean_error(result, "no voice backend named 'nobody'")


# --- voices and fitting ---------------------------------------------------------------------


def test_the_scratch_voice_is_deterministic_in_english_and_chinese(tmp_path):
    voice = ScratchVoice()
    for language, text in (("en", "The garden waits for rain."), ("zh", "花园在等雨。")):
        first, second = tmp_path / f"{language}1.wav", tmp_path / f"{language}2.wav"
        voice.speak(text, voice="m3", language=language, dest=first)
        voice.speak(text, voice="m3", language=language, dest=second)
        assert first.read_bytes() == second.read_bytes()
        with wave.open(str(first)) as audio:
            assert audio.getframerate() == SAMPLE_RATE and audio.getnchannels() == 1
            assert 0.8 < audio.getnframes() / SAMPLE_RATE < 4


def test_each_speaker_keeps_one_voice_and_the_narrator_has_its_own():
    voice = ScratchVoice()
    names = ["Mara", "Kofi", "李明", "Ada", "Jun", "Noor"]
    assert [voice.voice_for(n) for n in names] == [voice.voice_for(n) for n in names]
    assert voice.voice_for("mara ") == voice.voice_for("Mara")
    assert voice.voice_for(None) not in {voice.voice_for(n) for n in names}
    assert len({voice.voice_for(n) for n in names}) > 2


def test_a_line_longer_than_its_shot_is_flagged_not_cut(tmp_path):
    long = "The rain came late that year, and the garden drank it slowly, row by row, all night."
    plan = make_plan(
        [
            (RED, "static", "cut", Line(kind="narration", text=long)),
            (RED, "static", "cut", Line(kind="dialogue", speaker="MARA", text="Go.")),
        ],
        shot_s=1.5,
    )
    first, second = speak_lines(plan, ScratchVoice(), tmp_path, 24)
    assert not first.fits and first.duration_s > 1.5  # kept whole, not cut to the shot
    assert second.fits
    events = tmp_path / "events.jsonl"
    records = [
        {"type": "voice_line", "shot_id": s.shot.id, "text": s.shot.line.text,
         "duration_s": s.duration_s, "shot_s": s.shot.duration_s, "fits": s.fits}
        for s in (first, second)
    ]  # fmt: skip
    records.append({"type": "assembly", "step": "film"})
    events.write_text("\n".join(json.dumps(r) for r in records))
    assert [x["shot_id"] for x in long_lines(events)] == [first.shot.id]


# --- OpenAI speech against a loopback server -------------------------------------------------

KEY = "sk-fake-speech-0123456789"
# The request body of POST /v1/audio/speech as OpenAI publishes it.
SPEECH_FIELDS = {"model", "input", "voice", "instructions", "response_format", "speed"}
FORMATS = {"mp3", "opus", "aac", "flac", "wav", "pcm"}
VOICES = {"alloy", "ash", "ballad", "coral", "echo", "fable", "onyx", "nova", "sage", "shimmer"}


class _Speech(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append(body)
        if self.headers.get("Authorization") != f"Bearer {KEY}":
            return self._error(401, "Incorrect API key provided.", "invalid_api_key")
        problem = _problem(self.path, body)
        if problem:
            return self._error(400, problem, None)
        seconds = 0.06 * len(body["input"])  # a sine as long as the text would take to say
        samples = (
            int(8000 * math.sin(2 * math.pi * 200 * i / PCM_RATE))
            for i in range(int(seconds * PCM_RATE))
        )
        audio = b"".join(struct.pack("<h", s) for s in samples)
        self.send_response(200)
        self.send_header("Content-Type", "audio/pcm")
        self.send_header("Content-Length", str(len(audio)))
        self.end_headers()
        self.wfile.write(audio)

    def _error(self, status: int, message: str, code: str | None) -> None:
        error = {"message": message, "type": "invalid_request_error", "code": code}
        raw = json.dumps({"error": error}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args) -> None:
        pass


def _problem(path: str, body: dict) -> str | None:
    if path != "/v1/audio/speech":
        return f"Invalid URL (POST {path})"
    if set(body) - SPEECH_FIELDS or not {"model", "input", "voice"} <= set(body):
        return f"Unrecognized or missing fields: {sorted(set(body) ^ SPEECH_FIELDS)}"
    if body.get("response_format", "mp3") not in FORMATS or body["voice"] not in VOICES:
        return "Invalid value for response_format or voice."
    return None


@pytest.fixture
def speech_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Speech)
    server.requests = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def _openai(server, key=KEY, model="gpt-4o-mini-tts") -> OpenAISpeech:
    url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    found = ProviderSettings(name="openai", api_key=key, base_url=url)
    return OpenAISpeech(model, max_retries=0, provider_settings=found)


def test_openai_speech_writes_the_line_as_a_wav(speech_server, tmp_path):
    backend = _openai(speech_server)
    dest = tmp_path / "line.wav"
    text = "The garden waits for rain."
    cost = backend.speak(text, voice=backend.voice_for("Mara"), language="en", dest=dest)
    [sent] = speech_server.requests
    assert sent == {
        "model": "gpt-4o-mini-tts",
        "input": text,
        "voice": backend.voice_for("Mara"),
        "response_format": "pcm",
    }
    with wave.open(str(dest)) as audio:
        assert (audio.getframerate(), audio.getnchannels()) == (PCM_RATE, 1)
        seconds = audio.getnframes() / PCM_RATE
    assert abs(seconds - 0.06 * len(text)) < 0.01
    assert cost == pytest.approx(seconds / 60 * 0.015, rel=1e-3)
    assert _openai(speech_server, model="tts-1").cost(text, seconds) == len(text) * 15 / 1e6


def test_openai_speech_names_the_key_when_refused(speech_server, tmp_path):
    backend = _openai(speech_server, key="sk-wrong-key-000000")
    with pytest.raises(ProviderError, match="OPENAI_API_KEY") as caught:
        backend.speak("Hello.", voice="onyx", language="en", dest=tmp_path / "x.wav")
    assert "sk-wrong" not in str(caught.value)
    assert not (tmp_path / "x.wav").exists()


def test_voices_are_a_registry_kind():
    assert {"scratch", "openai"} <= set(registry.classes("voices"))
    assert isinstance(registry.load("voices", "scratch"), ScratchVoice)


# --- what voices cost, and the budget ----------------------------------------------------------


def _openai_film(root: Path, server, *extra: str) -> tuple[dict, list[dict]]:
    env = {
        "OPENAI_API_KEY": KEY,
        "OPENAI_BASE_URL": f"http://127.0.0.1:{server.server_address[1]}/v1",
    }
    result = director(
        "run", "--logline", EN, "--yes", "--json", "--runs-dir", "runs", "--run-id", "o",
        "--minutes", "0.25", "--size", "320x180", "--voice", "openai", *extra,
        cwd=root, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    events = root / "runs" / "o" / "events.jsonl"
    return json.loads(result.stdout), [json.loads(x) for x in events.read_text().splitlines()]


def test_openai_voices_log_what_each_line_cost(speech_server, tmp_path):
    summary, events = _openai_film(tmp_path, speech_server)
    spoken = [e for e in events if e["type"] == "voice_line"]
    costs = [e for e in events if e["type"] == "cost"]
    assert spoken and [e["shot_id"] for e in costs] == [e["shot_id"] for e in spoken]
    for line, cost in zip(spoken, costs, strict=True):
        assert (cost["kind"], cost["backend"], cost["model"]) == (
            "voice",
            "openai",
            "gpt-4o-mini-tts",
        )
        assert cost["amount"] == line["cost"]
        assert cost["amount"] == pytest.approx(line["duration_s"] / 60 * 0.015, rel=1e-3)
        assert cost["detail"] == f"{line['duration_s']:g} s of audio"
    assert summary["cost"]["voices"] == pytest.approx(sum(e["cost"] for e in spoken), abs=1e-8)
    assert summary["cost"]["total"] == summary["cost"]["voices"]  # previz pictures are free


def test_the_budget_counts_voices_and_leaves_out_what_it_cannot_pay(speech_server, tmp_path):
    summary, events = _openai_film(tmp_path, speech_server, "--budget", "0.0000001")
    left = [e for e in events if e["type"] == "voice_failed"]
    assert left and not [e for e in events if e["type"] == "voice_line"]
    assert {e["code"] for e in left} == {"Budget"} and not speech_server.requests
    assert summary["unspoken_lines"] == [
        {k: e[k] for k in ("shot_id", "text", "code", "reason")} for e in left
    ]
    assert summary["cost"]["voices"] == 0 and Path(summary["paths"]["film"]).is_file()


def test_a_scratch_voice_costs_nothing_and_logs_no_cost(voiced):
    _, summary, _, events = voiced
    assert not [e for e in events if e["type"] == "cost"]
    assert summary["cost"] == {"total": 0, "voices": 0, "unpriced": []}
