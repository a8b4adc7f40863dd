"""Gemini through the official ``google-genai`` SDK (key from ``GEMINI_API_KEY``).

The answer's JSON schema is sent as ``response_json_schema`` with
``response_mime_type=application/json``. ``base_url`` reaches a Gemini-protocol endpoint other
than Google's (a proxy, or the tests' local server). The SDK makes one attempt per call;
:mod:`..._calls` owns retries.
"""

from __future__ import annotations

from typing import Any, Optional

from sematune._imports import optional_import
from sematune.tuners.llm.providers.base import Provider, ProviderError, Reply, Request, retry_after_seconds


class GeminiProvider(Provider):
    """``google.genai.Client`` kept for the run (a temporary client closes its HTTP pool)."""

    name = "gemini"

    def __init__(self, *, api_key: str, base_url: Optional[str], timeout_s: float, model: str = "gemini-2.5-flash",
                 thinking_budget: Optional[int] = None) -> None:
        genai = optional_import("google.genai", "llm")
        self._types = optional_import("google.genai.types", "llm")
        self._errors = optional_import("google.genai.errors", "llm")
        options: dict[str, Any] = {"timeout": int(timeout_s * 1000)}
        if base_url:
            options["base_url"] = base_url
        self.model = model
        self.thinking_budget = thinking_budget
        self.client = genai.Client(api_key=api_key, http_options=self._types.HttpOptions(**options))

    def default_model(self) -> str:
        return self.model

    def complete(self, request: Request) -> Reply:
        types, errors = self._types, self._errors
        config: dict[str, Any] = {
            "system_instruction": request.system,
            "temperature": request.temperature,
            "max_output_tokens": request.max_output_tokens,
            "response_mime_type": "application/json",
            "response_json_schema": dict(request.schema),
        }
        if request.seed is not None:
            config["seed"] = request.seed
        if self.thinking_budget is not None:
            config["thinking_config"] = types.ThinkingConfig(thinking_budget=self.thinking_budget)
        try:
            response = self.client.models.generate_content(
                model=request.model, contents=request.user, config=types.GenerateContentConfig(**config))
        except errors.APIError as exc:
            code = int(getattr(exc, "code", 0) or 0)
            headers = getattr(getattr(exc, "response", None), "headers", None)
            kind = "rate_limit" if code == 429 else "server" if code >= 500 or code == 408 else "client"
            raise ProviderError(kind, f"HTTP {code}: {exc}", retry_after_seconds(headers)) from exc
        except Exception as exc:  # httpx2 errors surface unwrapped: refused, reset, timed out
            kind = "timeout" if "timeout" in type(exc).__name__.lower() else "connection"
            if isinstance(exc, (OSError, ConnectionError)) or _is_http_error(exc):
                raise ProviderError(kind, f"{type(exc).__name__}: {exc}") from exc
            raise ProviderError("server", f"unreadable reply: {type(exc).__name__}: {exc}") from exc
        candidates = getattr(response, "candidates", None) or []
        finish = getattr(candidates[0], "finish_reason", None) if candidates else None
        finish_name = getattr(finish, "name", None) or (str(finish) if finish is not None else None)
        try:
            text = response.text
        except Exception:  # the SDK raises on some blocked replies
            text = None
        if not text:
            raise ProviderError("empty", f"no text in the reply (finish reason {finish_name})")
        usage = getattr(response, "usage_metadata", None)
        return Reply(
            text=text,
            model=str(getattr(response, "model_version", None) or request.model),
            finish_reason=finish_name,
            input_tokens=getattr(usage, "prompt_token_count", None),
            output_tokens=getattr(usage, "candidates_token_count", None),
            thinking_tokens=getattr(usage, "thoughts_token_count", None),
        )

    def close(self) -> None:
        try:
            self.client.close()
        except Exception:  # closing must never fail a run
            pass


def _is_http_error(exc: BaseException) -> bool:
    """An ``httpx2`` transport error (the SDK's HTTP client), without importing it eagerly."""
    return any(cls.__module__.split(".")[0] in ("httpx2", "httpcore2", "httpx", "httpcore")
               for cls in type(exc).__mro__)
