"""Settings of hosted providers: API keys, base URLs and regions.

Keys come from the environment variable each SDK reads (``DASHSCOPE_API_KEY``,
``OPENAI_API_KEY``), else from the config file's ``[providers.NAME]`` table, which the caller
hands in (``director.config`` reads the file; a backend built without one resolves from the
environment alone). They live only in these objects: never in run
options, run.json, the event log, checkpoints or error messages.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from director.config import Section
from director.errors import ConfigError

# Provider -> (key variable, base URL variable): the variables the official SDKs read.
ENV = {
    "dashscope": ("DASHSCOPE_API_KEY", "DASHSCOPE_HTTP_BASE_URL"),
    "openai": ("OPENAI_API_KEY", "OPENAI_BASE_URL"),
    # A server of the user's own gets its own key, never the OpenAI one.
    "openai-compatible": ("DIRECTOR_COMPATIBLE_API_KEY", ""),
}
REGION_ENV = "DIRECTOR_DASHSCOPE_REGION"

# DashScope's native API per region; keys, models and hosts are per region.
DASHSCOPE_REGIONS = {
    "beijing": "https://dashscope.aliyuncs.com/api/v1",
    "singapore": "https://dashscope-intl.aliyuncs.com/api/v1",
}
KNOWN_KEYS = {"api_key", "base_url", "region"}


@dataclass(frozen=True)
class ProviderSettings:
    name: str
    api_key: str | None = field(default=None, repr=False)
    base_url: str | None = None
    region: str | None = None

    def require_key(self) -> str:
        """The key, or a ConfigError that names where to put one."""
        if self.api_key:
            return self.api_key
        variable = ENV.get(self.name, (f"{self.name.upper()}_API_KEY",))[0]
        raise ConfigError(
            f"No API key for {self.name}.",
            f"Set {variable}, or api_key in the [providers.{self.name}] table of the config file.",
        )

    def redact(self, text: str) -> str:
        """``text`` with the key, if it appears, replaced: for messages that echo a request."""
        return text.replace(self.api_key, "***") if self.api_key else text


def settings(name: str, table: Section | None = None) -> ProviderSettings:
    """A provider's settings: environment first, then its ``[providers.NAME]`` table handed in
    as ``table`` (none: the environment alone)."""
    values = _checked(name, table or Section(f"providers.{name}"))
    key_var, url_var = ENV.get(name, ("", ""))
    region = os.environ.get(REGION_ENV) if name == "dashscope" else None
    region = (region or values.get("region") or "").strip().lower() or None
    base_url = (url_var and os.environ.get(url_var)) or values.get("base_url")
    if name == "dashscope" and not base_url:
        base_url = _region_url(region or "beijing")
    return ProviderSettings(
        name=name,
        api_key=(key_var and os.environ.get(key_var)) or values.get("api_key"),
        base_url=base_url,
        region=region,
    )


def _region_url(region: str) -> str:
    if region not in DASHSCOPE_REGIONS:
        raise ConfigError(
            f"Unknown DashScope region {region!r}.",
            f"Use one of: {', '.join(DASHSCOPE_REGIONS)} ({REGION_ENV} or region in "
            "[providers.dashscope]); a key works only in the region that issued it.",
        )
    return DASHSCOPE_REGIONS[region]


def _checked(name: str, table: Section) -> dict:
    values = table.values
    if not isinstance(values, dict) or set(values) - KNOWN_KEYS:
        raise ConfigError(
            f"[providers.{name}] in {table.path} has unknown entries.",
            f"Known: {', '.join(sorted(KNOWN_KEYS))}.",
        )
    return dict(values)
