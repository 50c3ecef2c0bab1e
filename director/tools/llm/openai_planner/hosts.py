"""The planner's provider variants: Qwen through DashScope's compatible mode, and any other
OpenAI-compatible server named ``URL#MODEL``.

Both are ``OpenAIPlanner`` with another endpoint: DashScope on the region's host with its own
key, thinking turned off and seeds kept within its range; a compatible server (vLLM, Ollama, a
proxy) with ``DIRECTOR_COMPATIBLE_API_KEY`` (or ``api_key`` in ``[providers.openai-compatible]``),
never the OpenAI key, and a placeholder where it has none.
"""

from __future__ import annotations

from typing import Any

from director.errors import InputError
from director.tools.llm.openai_planner.planner import OpenAIPlanner
from director.tools.openai_client import Endpoint
from director.tools.pricing import PriceTable
from director.tools.providers import ProviderSettings

# Some compatible servers refuse requests without a key even when they check none.
PLACEHOLDER_KEY = "not-needed"


class DashScopePlanner(OpenAIPlanner):
    """Plans with Qwen through DashScope's OpenAI-compatible mode, on the region's host."""

    name = "dashscope"
    family = "Qwen chat models in DashScope's OpenAI-compatible mode (qwen-plus, qwen-max, ...)"
    model = "qwen-plus"

    def _endpoint(self) -> Endpoint:
        found = self.provider
        return Endpoint(
            service="DashScope (compatible mode)",
            api_key=found.require_key(),
            base_url=compatible_url(found.base_url or ""),
            key_variable="DASHSCOPE_API_KEY (or api_key in [providers.dashscope])",
            url_setting="DIRECTOR_DASHSCOPE_REGION or DASHSCOPE_HTTP_BASE_URL",
        )

    def _extra_body(self) -> dict[str, Any] | None:
        # Qwen's thinking models refuse non-streamed calls (and JSON mode) unless it is off.
        return {"enable_thinking": False}

    def _seed(self, seed: int) -> int:
        # DashScope takes seeds 0 to 2^31-1 and refuses others; a run's seed is any integer.
        return seed % 2**31


class CompatiblePlanner(OpenAIPlanner):
    """Plans with any OpenAI-compatible server, named ``URL#MODEL``."""

    name = "openai-compatible"
    family = "any chat model an OpenAI-compatible server serves (vLLM, Ollama, a proxy)"
    model = ""

    def __init__(
        self,
        model: str = "",
        *,
        provider_settings: ProviderSettings | None = None,
        prices: PriceTable | None = None,
        **options: Any,
    ) -> None:
        self.base_url, served = parse_spec(model)
        super().__init__(model, provider_settings=provider_settings, prices=prices, **options)
        self.served = served

    def _endpoint(self) -> Endpoint:
        key = self.provider.api_key
        return Endpoint(
            service=f"The server at {self.base_url}",
            api_key=key or PLACEHOLDER_KEY,
            base_url=self.base_url,
            key_variable="DIRECTOR_COMPATIBLE_API_KEY (or api_key in [providers.openai-compatible])",
            url_setting="the URL in openai-compatible:URL#MODEL",
        )


def compatible_url(native: str) -> str:
    """DashScope's compatible-mode base URL on the host of its native API URL."""
    root = native.rstrip("/").removesuffix("/api/v1")
    return f"{root}/compatible-mode/v1"


def parse_spec(spec: str) -> tuple[str, str]:
    """``URL#MODEL`` -> (URL, MODEL)."""
    url, _, model = spec.strip().partition("#")
    if not url.startswith(("http://", "https://")) or not model.strip():
        given = f", not {spec!r}" if spec.strip() else ""
        raise InputError(
            f"The openai-compatible planner needs a server and a model, named URL#MODEL{given}.",
            "For example: --llm openai-compatible:http://localhost:11434/v1#qwen2.5:7b",
        )
    return url.rstrip("/"), model.strip()
