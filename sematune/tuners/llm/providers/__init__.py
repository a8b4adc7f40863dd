"""Language-model providers behind one small interface (:class:`Provider`), built by name.

``gemini`` (google-genai, key from ``GEMINI_API_KEY``), ``openai`` (any OpenAI-compatible
server, key from ``OPENAI_API_KEY``; ``base_url`` for OpenRouter, vLLM, Ollama) and ``local``
(xllamacpp serving a GGUF on loopback, no key). Keys come from the environment only, so
they never enter a config, an override or a recorded file.
"""

from __future__ import annotations

import logging
import os
from typing import Optional

from sematune.errors import ConfigError
from sematune.tuners.llm.providers.base import Provider, ProviderError, Reply, Request

PROVIDERS = ("gemini", "openai", "local")
DEFAULT_MODELS = {"gemini": "gemini-2.5-flash", "openai": "gpt-4o-mini"}
KEY_VARIABLES = {"gemini": ("GEMINI_API_KEY", "GOOGLE_API_KEY"), "openai": ("OPENAI_API_KEY",)}

__all__ = ["PROVIDERS", "Provider", "ProviderError", "Reply", "Request", "make_provider"]


def api_key(provider: str, variable: Optional[str], base_url: Optional[str]) -> str:
    """The key from ``variable`` (or the provider's usual variables); a keyless local server gets a placeholder."""
    names = (variable,) if variable else KEY_VARIABLES[provider]
    for name in names:
        value = os.environ.get(str(name), "").strip()
        if value:
            return value
    if provider == "openai" and base_url:  # Ollama, vLLM, llama.cpp: no key, but the SDK wants one
        return "unused"
    raise ConfigError("tuner.api_key_env", f"tuner.provider={provider} needs an API key in the environment variable "
                      f"{' or '.join(str(n) for n in names)}, which is not set")


def make_provider(
    name: str,
    *,
    model: Optional[str],
    base_url: Optional[str] = None,
    api_key_env: Optional[str] = None,
    model_path: Optional[str] = None,
    timeout_s: float = 60.0,
    json_mode: str = "json_schema",
    thinking_budget: Optional[int] = None,
    context_tokens: int = 8192,
    parallel: int = 1,
) -> Provider:
    """The provider ``name`` (one of :data:`PROVIDERS`), checked before any host write."""
    for sdk_logger in ("httpx2", "httpx", "google_genai", "openai"):  # one INFO line per request otherwise
        logging.getLogger(sdk_logger).setLevel(logging.WARNING)
    if name == "local":
        from sematune.tuners.llm.providers.local import LocalProvider

        return LocalProvider(model_path=model_path, timeout_s=timeout_s, json_mode=json_mode,
                             context_tokens=context_tokens, parallel=parallel)
    if name == "openai":
        from sematune.tuners.llm.providers.openai_compatible import OpenAICompatibleProvider

        return OpenAICompatibleProvider(api_key=api_key(name, api_key_env, base_url), base_url=base_url or None,
                                        timeout_s=timeout_s, json_mode=json_mode,
                                        model=model or DEFAULT_MODELS["openai"])
    if name == "gemini":
        from sematune.tuners.llm.providers.gemini import GeminiProvider

        return GeminiProvider(api_key=api_key(name, api_key_env, base_url), base_url=base_url or None,
                              timeout_s=timeout_s, model=model or DEFAULT_MODELS["gemini"],
                              thinking_budget=thinking_budget)
    raise ConfigError("tuner.provider", f"{name!r} is not one of {list(PROVIDERS)}")
