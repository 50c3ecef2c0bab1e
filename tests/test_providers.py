"""Provider settings: keys and hosts from the environment or the config file, never elsewhere."""

from __future__ import annotations

import pytest

from director.agent.configuration import resolve
from director.config import load_config_file
from director.errors import ConfigError
from director.tools.providers import DASHSCOPE_REGIONS, settings


@pytest.fixture
def config(tmp_path, monkeypatch):
    for name in ("DASHSCOPE_API_KEY", "DASHSCOPE_HTTP_BASE_URL", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("DIRECTOR_DASHSCOPE_REGION", raising=False)
    path = tmp_path / "config.toml"
    monkeypatch.setenv("DIRECTOR_CONFIG", str(path))
    return path


def _from_file(name: str):
    """A provider's settings as a command builds them: its table of the config file."""
    return settings(name, load_config_file().section(f"providers.{name}"))


def test_keys_come_from_the_environment_before_the_config_file(config, monkeypatch):
    config.write_text('[providers.openai]\napi_key = "sk-file"\n')
    assert _from_file("openai").api_key == "sk-file"
    assert settings("openai").api_key is None  # no table handed: the environment alone
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    assert _from_file("openai").require_key() == "sk-env"
    assert "sk-env" not in repr(_from_file("openai"))


def test_a_missing_key_names_the_variable_to_set(config):
    config.write_text("")
    with pytest.raises(ConfigError, match="Set DASHSCOPE_API_KEY"):
        settings("dashscope").require_key()


def test_dashscope_region_picks_the_host_and_the_sdk_variable_overrides_it(config, monkeypatch):
    config.write_text('[providers.dashscope]\nregion = "Singapore"\n')
    assert _from_file("dashscope").base_url == DASHSCOPE_REGIONS["singapore"]
    monkeypatch.setenv("DIRECTOR_DASHSCOPE_REGION", "beijing")
    assert _from_file("dashscope").base_url == DASHSCOPE_REGIONS["beijing"]
    monkeypatch.setenv("DASHSCOPE_HTTP_BASE_URL", "http://127.0.0.1:9/api/v1")
    assert _from_file("dashscope").base_url == "http://127.0.0.1:9/api/v1"
    monkeypatch.setenv("DIRECTOR_DASHSCOPE_REGION", "mars")
    monkeypatch.delenv("DASHSCOPE_HTTP_BASE_URL")
    with pytest.raises(ConfigError, match="Unknown DashScope region 'mars'"):
        _from_file("dashscope")


def test_unknown_provider_entries_are_refused(config):
    config.write_text('[providers.openai]\napi_kee = "x"\n')
    with pytest.raises(ConfigError, match="unknown entries"):
        _from_file("openai")


def test_keys_in_the_config_file_never_reach_the_run_options(config):
    config.write_text('[providers.openai]\napi_key = "sk-secret"\n')
    options = resolve({"logline": "A keeper finds a robot."})
    assert "sk-secret" not in options.model_dump_json()


def test_redact_hides_the_key_in_echoed_text(config, monkeypatch):
    config.write_text("")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-abc")
    assert settings("openai").redact("Bearer sk-abc failed") == "Bearer *** failed"


def test_the_registry_hands_a_backend_its_providers_table(config):
    from director import registry
    from director.tools.image.openai_images import OpenAIImage

    config.write_text(
        '[providers.openai]\napi_key = "sk-file"\nbase_url = "http://127.0.0.1:9/v1"\n'
    )
    image = registry.load("image", "openai")
    planner = registry.load("planners", "openai:gpt-4.1", file=load_config_file())
    for endpoint in (image.endpoint, planner.endpoint):
        assert (endpoint.api_key, endpoint.base_url) == ("sk-file", "http://127.0.0.1:9/v1")
    with pytest.raises(ConfigError, match="No API key for openai"):
        OpenAIImage()  # built without its table: the environment alone
