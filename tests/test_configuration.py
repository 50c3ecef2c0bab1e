import pytest

from director.agent.configuration import RunOptions, resolve
from director.config import OPTIONS, Section, parse_size
from director.errors import ConfigError, InputError

LOGLINE = "A lighthouse keeper finds a robot on the rocks."


def test_defaults():
    o = resolve({"logline": LOGLINE})
    assert (o.minutes, o.width, o.height, o.max_attempts, o.seed) == (3.0, 1280, 720, 6, 2075)
    assert (o.llm, o.image, o.video, o.runs_dir) == ("offline", "previz", "previz", "runs")
    assert (o.max_run_attempts, o.budget) == (None, None)


def test_run_caps_come_from_flags_environment_or_config(tmp_path, monkeypatch):
    cfg = tmp_path / "config.toml"
    cfg.write_text("max_run_attempts = 40\nbudget = 2.5\n")
    monkeypatch.setenv("DIRECTOR_CONFIG", str(cfg))
    o = resolve({"logline": LOGLINE})
    assert (o.max_run_attempts, o.budget) == (40, 2.5)
    monkeypatch.setenv("DIRECTOR_BUDGET", "0.75")
    o = resolve({"logline": LOGLINE, "max_run_attempts": 12})
    assert (o.max_run_attempts, o.budget) == (12, 0.75)


@pytest.mark.parametrize("key, value", [("max_run_attempts", 0), ("budget", -1), ("budget", "x")])
def test_run_caps_must_be_positive_numbers(key, value):
    flag = "--" + key.replace("_", "-")
    with pytest.raises(InputError, match=flag):
        resolve({"logline": LOGLINE, key: value})


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


def test_style_references_must_exist_and_are_recorded_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    from PIL import Image

    Image.new("RGB", (32, 18), (90, 60, 30)).save(tmp_path / "look.png")
    o = resolve({"logline": LOGLINE, "style_ref": ["look.png"]})
    assert o.style_refs == [str(tmp_path / "look.png")]
    with pytest.raises(InputError, match="Style reference missing.png does not exist"):
        resolve({"logline": LOGLINE, "style_ref": ["missing.png"]})
    (tmp_path / "notes.png").write_bytes(b"png")
    with pytest.raises(InputError, match="Style reference notes.png is not an image"):
        resolve({"logline": LOGLINE, "style_ref": ["notes.png"]})


def test_thresholds_merge_the_config_table_and_the_flags(tmp_path, monkeypatch):
    cfg = tmp_path / "config.toml"
    cfg.write_text("[thresholds]\nmin_sharpness = 30\nmax_flicker = 8\n")
    monkeypatch.setenv("DIRECTOR_CONFIG", str(cfg))
    o = resolve({"logline": LOGLINE, "threshold": ["max_flicker=4.5", "identity=0.5"]})
    assert o.thresholds == {"min_sharpness": 30.0, "max_flicker": 4.5, "identity": 0.5}


@pytest.mark.parametrize(
    "table, message",
    [
        ("[thresholds]\nsharp = 3\n", "Unknown thresholds .*sharp"),
        ('[thresholds]\nmin_sharpness = "high"\n', "not a number"),
        ("thresholds = 3\n", "not a table"),
    ],
)
def test_bad_threshold_tables_are_refused(tmp_path, monkeypatch, table, message):
    cfg = tmp_path / "config.toml"
    cfg.write_text(table)
    monkeypatch.setenv("DIRECTOR_CONFIG", str(cfg))
    with pytest.raises(ConfigError, match=message):
        resolve({"logline": LOGLINE})


def test_every_critic_owns_its_thresholds():
    from director.tools.critics.thresholds import for_critic, known, owners

    table = known()
    assert {owner for owner, _ in table.values()} == set(owners())
    assert table["identity"] == ("identity", None)
    assert table["copy_paste_chip"][0] == "identity" and table["min_clipscore"][0] == "clip"
    values = {"min_sharpness": 9.0, "max_flicker": 3.0}
    assert for_critic(values, "technical") == {"min_sharpness": 9.0}
    assert for_critic(values, "clipgate") == {"max_flicker": 3.0}


DIFFUSERS = {"logline": LOGLINE, "image": "diffusers:/models/sdxl"}


@pytest.fixture
def no_diffusers_env(monkeypatch):
    import os

    for name in [n for n in os.environ if n.startswith("DIRECTOR_DIFFUSERS_")]:
        monkeypatch.delenv(name)


def test_diffusers_settings_flag_beats_environment_beats_config_file(
    tmp_path, monkeypatch, no_diffusers_env
):
    cfg = tmp_path / "config.toml"
    cfg.write_text('[diffusers]\nsteps = 10\ndtype = "float32"\ndevice = "cpu"\nmax_batch = 2\n')
    monkeypatch.setenv("DIRECTOR_CONFIG", str(cfg))
    assert resolve(DIFFUSERS).diffusers["steps"] == 10
    monkeypatch.setenv("DIRECTOR_DIFFUSERS_STEPS", "20")
    monkeypatch.setenv("DIRECTOR_DIFFUSERS_DEVICE", "cuda:1")
    assert resolve(DIFFUSERS).diffusers["steps"] == 20
    o = resolve({**DIFFUSERS, "steps": 30, "offload": True})
    assert o.diffusers == {
        "device": "cuda:1",
        "dtype": "float32",
        "offload": True,
        "steps": 30,
        "guidance": None,
        "max_batch": 2,
        "config": None,
        "lora": None,
        "attention": None,
        "compile": None,
        "vae_decode": None,
    }
    # not secret: recorded with the run's options
    assert o.model_dump(mode="json")["diffusers"]["steps"] == 30


@pytest.mark.parametrize(
    "flags, env, table, message",
    [
        ({"dtype": "float7"}, {}, "", "dtype is 'float7' (from --dtype)"),
        ({"device": "tpu9"}, {}, "", "device is 'tpu9' (from --device)"),
        ({"steps": 0}, {}, "", "steps is 0 (from --steps)"),
        ({}, {"DIRECTOR_DIFFUSERS_DEVICE": "tpu9"}, "", "from DIRECTOR_DIFFUSERS_DEVICE"),
        ({}, {}, 'dtype = "fp7"', "dtype in the config file's [diffusers] table"),
        ({}, {}, "offload = 3", "offload is 3"),
    ],
)
def test_bad_diffusers_settings_are_refused_with_where_they_came_from(
    tmp_path, monkeypatch, no_diffusers_env, flags, env, table, message
):
    cfg = tmp_path / "config.toml"
    cfg.write_text(f"[diffusers]\n{table}\n")
    monkeypatch.setenv("DIRECTOR_CONFIG", str(cfg))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(InputError) as err:
        resolve({**DIFFUSERS, **flags})
    assert message in str(err.value) and "For example" in str(err.value)


def test_diffusers_settings_belong_only_to_runs_that_use_diffusers(
    tmp_path, monkeypatch, no_diffusers_env
):
    cfg = tmp_path / "config.toml"
    cfg.write_text('[diffusers]\ndtype = "float16"\n')
    monkeypatch.setenv("DIRECTOR_CONFIG", str(cfg))
    assert resolve({"logline": LOGLINE}).diffusers == {}
    with pytest.raises(InputError, match="--device, --dtype set the diffusers backends"):
        resolve({"logline": LOGLINE, "device": "cuda", "dtype": "float16"})
    video = resolve({"logline": LOGLINE, "video": "diffusers:/models/wan"})
    assert video.diffusers["dtype"] == "float16"
    cfg.write_text("[diffusers]\nsampler = 1\n")
    with pytest.raises(ConfigError, match="Unknown keys in the .diffusers. table"):
        resolve(DIFFUSERS)


def test_each_option_is_written_once_and_the_run_flags_show_it():
    from click.testing import CliRunner

    from director.cli.run import run_command

    shown = " ".join(CliRunner().invoke(run_command, ["--help"], terminal_width=200).output.split())
    for option in OPTIONS.values():
        if not option.flag:
            continue
        assert option.help_text().rstrip(".") in shown, option.name
        ecosystem = {"comfyui_url": "COMFYUI_URL"}  # the variable ComfyUI's users already set
        assert option.env in (None, ecosystem.get(option.name, "DIRECTOR_" + option.name.upper()))
    assert "[env DIRECTOR_MAX_ATTEMPTS; default: 6," in shown


def test_the_flags_are_built_without_importing_pydantic():
    import subprocess
    import sys

    code = "import sys, director.cli; print('pydantic' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(
    "env, value, message",
    [
        ("DIRECTOR_MAX_ATTEMPTS", "0", "--max-attempts 0 is out of range"),
        ("DIRECTOR_BEST_OF", "17", "--best-of 17 is out of range"),
        ("DIRECTOR_SEED", "nan", "--seed 'nan' is not a number"),
        ("DIRECTOR_BUDGET", "inf", "--budget 'inf' is not a finite number"),
        ("DIRECTOR_MAX_RUN_ATTEMPTS", "-2", "--max-run-attempts -2 must be above zero"),
    ],
)
def test_values_from_the_environment_meet_the_same_checks_as_flags(
    monkeypatch, env, value, message
):
    monkeypatch.setenv(env, value)
    with pytest.raises(InputError, match=message):
        resolve({"logline": LOGLINE})


def test_the_run_options_are_frozen_and_keep_the_table_ranges():
    from pydantic import ValidationError

    options = resolve({"logline": LOGLINE})
    with pytest.raises(ValidationError):
        options.max_attempts = 9
    recorded = options.model_dump(mode="json")
    assert RunOptions.model_validate(recorded) == options  # run.json reads back on resume
    with pytest.raises(ValidationError):
        RunOptions.model_validate({**recorded, "max_attempts": OPTIONS["max_attempts"].maximum + 1})


def test_a_run_reads_the_config_file_once(tmp_path, monkeypatch, no_diffusers_env):
    import director.config

    cfg = tmp_path / "config.toml"
    cfg.write_text("max_attempts = 3\n[diffusers]\nsteps = 4\n[thresholds]\nmin_sharpness = 9\n")
    monkeypatch.setenv("DIRECTOR_CONFIG", str(cfg))
    reads = []
    real = director.config.read_config
    monkeypatch.setattr(director.config, "read_config", lambda *a: reads.append(a) or real(*a))
    options = resolve(DIFFUSERS)
    assert (options.max_attempts, options.diffusers["steps"]) == (3, 4)
    assert options.thresholds == {"min_sharpness": 9.0}
    assert len(reads) == 1


@pytest.mark.parametrize("table", ["prices", "providers", "diffusers"])
def test_a_table_that_is_not_a_table_is_refused_before_the_run(tmp_path, monkeypatch, table):
    cfg = tmp_path / "config.toml"
    cfg.write_text(f"{table} = 3\n")
    monkeypatch.setenv("DIRECTOR_CONFIG", str(cfg))
    with pytest.raises(ConfigError, match=f"{table} in .* is not a table") as caught:
        resolve({"logline": LOGLINE})
    assert f"[{table}" in caught.value.hint


def test_tools_take_the_table_they_are_handed_and_read_no_file(tmp_path, monkeypatch):
    from director.tools import diffusers_local, pricing, providers

    monkeypatch.setenv("DIRECTOR_CONFIG", str(tmp_path / "missing.toml"))  # read: an error
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    key = Section("providers.openai", {"api_key": "sk-handed"}, "cfg.toml")
    assert providers.settings("openai", key).api_key == "sk-handed"
    prices = Section("prices", {"openai:new-model": {"per_image": 0.5}}, "cfg.toml")
    assert pricing.load_prices(prices).find("openai", "new-model").amount == 0.5
    steps = Section("diffusers", {"steps": 7}, "cfg.toml")
    assert diffusers_local.resolve_settings(section=steps)["steps"] == 7
    with pytest.raises(ConfigError, match=r"\[providers.openai\] in cfg.toml"):
        providers.settings("openai", Section("providers.openai", {"api_kee": "x"}, "cfg.toml"))


def test_tools_handed_no_table_go_without_it_and_read_no_file(tmp_path, monkeypatch):
    from director.tools import diffusers_local, pricing, providers

    monkeypatch.setenv("DIRECTOR_CONFIG", str(tmp_path / "missing.toml"))  # read: an error
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("DIRECTOR_DIFFUSERS_STEPS", "9")
    assert providers.settings("openai").api_key is None
    assert pricing.load_prices().overridden == ()
    assert diffusers_local.resolve_settings()["steps"] == 9  # the environment alone


def test_a_diffusers_backend_takes_the_runs_settings_with_its_own_arguments_on_top(monkeypatch):
    from director.tools.diffusers_local import backend_settings

    monkeypatch.setenv("DIRECTOR_DIFFUSERS_STEPS", "9")  # resolved once, by the run: not again
    run = {"steps": 4, "guidance": 2.5, "device": "cpu"}
    chosen = backend_settings(run, {"guidance": 1.0, "dtype": None})
    assert (chosen["steps"], chosen["guidance"], chosen["device"], chosen["dtype"]) == (
        4, 1.0, "cpu", None,
    )  # fmt: skip
    with pytest.raises(InputError, match=r"dtype is 'float7' \(from the argument dtype\)"):
        backend_settings(run, {"dtype": "float7"})
    assert backend_settings(None, {})["steps"] == 9  # no run: the environment
