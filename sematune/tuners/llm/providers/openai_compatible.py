"""Any OpenAI-compatible chat-completions server through the official ``openai`` SDK.

That covers OpenAI itself, OpenRouter, vLLM, Ollama, llama.cpp's server and the local
provider's xllamacpp. The answer's schema goes in ``response_format`` in one of three
dialects (``json_mode``): ``json_schema`` (OpenAI, llama.cpp, vLLM, Ollama),
``json_object_schema`` (llama-cpp-python's server) or ``json_object`` (schema only in the
prompt). The SDK's own retries are off: :mod:`..._calls` owns retries and backoff.
"""

from __future__ import annotations

from typing import Any, Optional

from sematune._imports import optional_import
from sematune.tuners.llm.providers.base import Provider, ProviderError, Reply, Request, retry_after_seconds

JSON_MODES = ("json_schema", "json_object_schema", "json_object", "none")


def response_format(mode: str, schema: Any) -> Optional[dict[str, Any]]:
    """The ``response_format`` body for a JSON mode."""
    if mode == "json_schema":
        return {"type": "json_schema", "json_schema": {"name": "proposal", "schema": dict(schema), "strict": False}}
    if mode == "json_object_schema":
        return {"type": "json_object", "schema": dict(schema)}
    if mode == "json_object":
        return {"type": "json_object"}
    return None


class OpenAICompatibleProvider(Provider):
    """``openai.OpenAI(base_url=…, api_key=…)`` with one attempt per call."""

    name = "openai"

    def __init__(self, *, api_key: str, base_url: Optional[str], timeout_s: float, json_mode: str = "json_schema",
                 model: str = "gpt-4o-mini") -> None:
        openai = optional_import("openai", "llm")
        self._openai = openai
        self.json_mode = json_mode
        self.model = model
        self.client = openai.OpenAI(api_key=api_key, base_url=base_url, timeout=timeout_s, max_retries=0)

    def default_model(self) -> str:
        return self.model

    def complete(self, request: Request) -> Reply:
        openai = self._openai
        body: dict[str, Any] = {
            "model": request.model,
            "messages": [{"role": "system", "content": request.system}, {"role": "user", "content": request.user}],
            "temperature": request.temperature,
            "max_tokens": request.max_output_tokens,
        }
        if request.seed is not None:
            body["seed"] = request.seed
        fmt = response_format(self.json_mode, request.schema)
        if fmt is not None:
            body["response_format"] = fmt
        try:
            response = self.client.chat.completions.create(**body)
        except openai.APITimeoutError as exc:
            raise ProviderError("timeout", str(exc)) from exc
        except openai.APIConnectionError as exc:
            raise ProviderError("connection", str(exc)) from exc
        except openai.RateLimitError as exc:
            raise ProviderError("rate_limit", str(exc), retry_after_seconds(exc.response.headers)) from exc
        except openai.APIStatusError as exc:
            kind = "server" if exc.status_code >= 500 or exc.status_code in (408, 409) else "client"
            raise ProviderError(kind, f"HTTP {exc.status_code}: {exc.message}",
                                retry_after_seconds(exc.response.headers)) from exc
        except openai.OpenAIError as exc:  # a reply the SDK could not read
            raise ProviderError("server", f"{type(exc).__name__}: {exc}") from exc
        choices = getattr(response, "choices", None) or []
        if not choices or getattr(choices[0], "message", None) is None:
            raise ProviderError("empty", "the reply had no choices")
        choice = choices[0]
        text = choice.message.content or ""
        usage = getattr(response, "usage", None)
        details = getattr(usage, "completion_tokens_details", None)
        completion = getattr(usage, "completion_tokens", None)
        reasoning = getattr(details, "reasoning_tokens", None) or None
        if completion is not None and reasoning:  # OpenAI counts reasoning inside completion tokens
            completion = max(completion - reasoning, 0)
        return Reply(
            text=text,
            model=str(getattr(response, "model", None) or request.model),
            finish_reason=getattr(choice, "finish_reason", None),
            input_tokens=getattr(usage, "prompt_tokens", None),
            output_tokens=completion,
            thinking_tokens=reasoning,
        )

    def close(self) -> None:
        try:
            self.client.close()
        except Exception:  # closing must never fail a run
            pass
