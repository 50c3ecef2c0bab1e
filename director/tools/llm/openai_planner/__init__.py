"""The planner on a language model behind an OpenAI-compatible chat API, through ``openai``.

Three providers share it: ``openai`` (``--llm openai:gpt-4.1-mini``; ``OPENAI_API_KEY``,
``OPENAI_BASE_URL``), ``dashscope`` (Qwen through DashScope's compatible mode on the region's
host; ``DASHSCOPE_API_KEY``) and ``openai-compatible`` for any other server (vLLM, Ollama, a
proxy), named ``URL#MODEL``: ``--llm openai-compatible:http://localhost:11434/v1#qwen2.5:7b``.
The compatible server gets its own key, ``DIRECTOR_COMPATIBLE_API_KEY`` (or ``api_key`` in
``[providers.openai-compatible]``), never the OpenAI one; without one it gets a placeholder,
since many servers need no key and some want any non-empty one.

Each stage sends a system and a user prompt from ``director/prompts/llm/`` and asks for JSON in
the shape of an answer model (``director.tools.llm.answers``): with structured outputs
(``json_schema``, strict) where the endpoint has them; where it answers 400 to them, as some
Qwen models do, with JSON mode and the schema in the prompt, for the rest of the run. An answer
that does not parse or validate is shown to the model with the error, once; a second bad answer
stops the run. Every call is kept in ``calls`` (tokens, seconds, cost) and passed to ``on_call``.

The package holds the planner and its stages (``planner``), the DashScope and compatible-server
variants (``hosts``), the prompts each stage sends (``messages``) and the reading of the model's
replies (``replies``); every name is also reachable from the package itself.
"""

from director.tools.llm.openai_planner.hosts import (
    PLACEHOLDER_KEY,
    CompatiblePlanner,
    DashScopePlanner,
    compatible_url,
    parse_spec,
)
from director.tools.llm.openai_planner.planner import LLMCall, Mode, OpenAIPlanner

__all__ = [
    "PLACEHOLDER_KEY",
    "CompatiblePlanner",
    "DashScopePlanner",
    "LLMCall",
    "Mode",
    "OpenAIPlanner",
    "compatible_url",
    "parse_spec",
]
