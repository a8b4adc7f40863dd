"""The provider contract: one request in (system text, user text, JSON schema), one reply out.

A provider wraps one SDK and translates its errors into :class:`ProviderError` with a ``kind``
(``timeout``, ``rate_limit``, ``server``, ``client``, ``connection``, ``empty``) and, for rate
limits, the server's ``Retry-After``. Retries, backoff and bookkeeping live in
:mod:`sematune.tuners.llm._calls`, not here: a provider makes exactly one attempt.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Mapping, Optional


@dataclass(frozen=True)
class Request:
    """What the tuner asks: a system prompt, the update, and the JSON schema of the answer."""

    system: str
    user: str
    schema: Mapping[str, Any]
    model: str
    temperature: float = 0.7
    max_output_tokens: int = 512
    seed: Optional[int] = None


@dataclass(frozen=True)
class Reply:
    """The model's text and what it cost in tokens (``None`` where the server did not say)."""

    text: str
    model: str
    finish_reason: Optional[str] = None
    input_tokens: Optional[int] = None
    output_tokens: Optional[int] = None
    thinking_tokens: Optional[int] = None


class ProviderError(Exception):
    """One failed attempt. ``retry_after`` is the server's hint in seconds (rate limits)."""

    def __init__(self, kind: str, message: str, retry_after: Optional[float] = None) -> None:
        self.kind = kind
        self.retry_after = retry_after
        super().__init__(f"{kind}: {' '.join(str(message).split())[:300]}")

    @property
    def retryable(self) -> bool:
        return self.kind in ("timeout", "rate_limit", "server", "connection", "empty")


class Provider(ABC):
    """A language model behind one SDK. ``name`` is what bookkeeping and prompts call it."""

    name: str = "provider"

    @abstractmethod
    def complete(self, request: Request) -> Reply:
        """One attempt; raises :class:`ProviderError` on any failure."""

    def default_model(self) -> str:
        """The model used when the config names none."""
        raise NotImplementedError

    def context_per_request(self) -> Optional[int]:
        """Tokens one request may use, prompt and answer together (``None``: a hosted model's large window)."""
        return None

    def close(self) -> None:
        """Release clients and servers."""


def retry_after_seconds(headers: Any) -> Optional[float]:
    """``Retry-After`` (seconds or ``retry-after-ms``) from a response's headers, if any."""
    if headers is None:
        return None
    try:
        ms = headers.get("retry-after-ms")
        if ms is not None:
            return max(float(ms) / 1000.0, 0.0)
        value = headers.get("retry-after")
        return max(float(value), 0.0) if value is not None else None
    except (TypeError, ValueError):
        return None
