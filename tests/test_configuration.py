import pytest

from director.agent.configuration import parse_size, resolve
from director.errors import ConfigError, InputError

LOGLINE = "A lighthouse keeper finds a robot on the rocks."


def test_defaults():
    o = resolve({"logline": LOGLINE})
    assert (o.minutes, o.width, o.height, o.max_attempts, o.seed) == (3.0, 1280, 720, 4, 2075)
    assert (o.llm, o.image, o.video, o.runs_dir) == ("offline", "previz", "previz", "runs")


def test_flag_beats_environment_beats_config_file(tmp_path, monkeypatch):
    cfg = tmp_path / "config.toml"
    cfg.write_text('size = "640x360"\nmax_attempts = 2\nruns_dir = "from-file"\n')
    monkeypatch.setenv("DIRECTOR_CONFIG", str(cfg))
    monkeypatch.setenv("DIRECTOR_SIZE", "800x450")
    o = resolve({"logline": LOGLINE, "max_attempts": 6})
    assert (o.width, o.height) == (800, 450)
    assert o.max_attempts == 6
    assert o.runs_dir == "from-file"


def test_unknown_config_keys_are_named(tmp_path, monkeypatch):
    cfg = tmp_path / "config.toml"
    cfg.write_text("colour = 1\n")
    monkeypatch.setenv("DIRECTOR_CONFIG", str(cfg))
    with pytest.raises(ConfigError, match="Unknown keys .*colour"):
        resolve({"logline": LOGLINE})


@pytest.mark.parametrize(
    "logline, message",
    [
        ("", "empty"),
        ("   \n ", "empty"),
        ("x" * 2001, "2001 characters"),
    ],
)
def test_bad_loglines(logline, message):
    with pytest.raises(InputError, match=message):
        resolve({"logline": logline})


@pytest.mark.parametrize("minutes", [0.1, 20.5, -1])
def test_minutes_out_of_range(minutes):
    with pytest.raises(InputError, match="out of range"):
        resolve({"logline": LOGLINE, "minutes": minutes})


@pytest.mark.parametrize(
    "text, expected",
    [("1280x720", (1280, 720)), ("720*1280", (720, 1280)), (" 640X360 ", (640, 360))],
)
def test_sizes(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["big", "1281x720", "100x100", "1280"])
def test_bad_sizes(text):
    with pytest.raises(InputError):
        parse_size(text)
