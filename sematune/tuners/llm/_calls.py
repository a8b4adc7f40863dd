"""One logical model call: bounded retries with backoff, rate limits, parsing, bookkeeping, logging.

Every attempt's prompt and reply (or error) is written, secrets masked, to the tuner's
``llm/`` folder (an MLflow artifact of the run), and each call adds a line to
``llm/calls.jsonl`` with its tokens, latency and cost. A call that exhausts its attempts
returns ``None``: the tuner keeps the current configuration and counts the failure.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, TypeVar

from sematune.tracking.redact import redact_text
from sematune.tuners.base import TokenUsage
from sematune.tuners.llm.providers.base import Provider, ProviderError, Reply, Request

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class CallRecord:
    """What one logical call cost and how it ended (``error`` is the last attempt's)."""

    role: str
    window: int
    model: str
    attempts: int = 0
    ok: bool = False
    error: Optional[str] = None
    errors: list[str] = field(default_factory=list)
    latency_s: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    thinking_tokens: int = 0
    cost_usd: float = 0.0
    finish_reason: Optional[str] = None

    def usage(self) -> TokenUsage:
        return TokenUsage(input_tokens=self.input_tokens, output_tokens=self.output_tokens,
                          thinking_tokens=self.thinking_tokens, cost_usd=self.cost_usd, calls=1,
                          failed_calls=0 if self.ok else 1, latency_s=self.latency_s)


def add_usage(total: Optional[TokenUsage], more: TokenUsage) -> TokenUsage:
    """The sum of two usages (``total`` may be ``None``)."""
    if total is None:
        return more
    return TokenUsage(**{name: getattr(total, name) + getattr(more, name) for name in TokenUsage.model_fields})


class PriceTable:
    """USD per million tokens by model name; the longest matching prefix wins (``gpt-4o-mini-2024-…``)."""

    def __init__(self, prices: Optional[Mapping[str, Mapping[str, float]]]) -> None:
        self.prices = {str(k): {"input": float(v.get("input", 0.0)), "output": float(v.get("output", 0.0))}
                       for k, v in dict(prices or {}).items()}

    def cost(self, model: str, input_tokens: int, billable_output_tokens: int) -> float:
        match = max((name for name in self.prices if model.startswith(name) or model.endswith("/" + name)),
                    key=len, default=None)
        if match is None:
            return 0.0
        price = self.prices[match]
        return (input_tokens * price["input"] + billable_output_tokens * price["output"]) / 1e6


class Caller:
    """Runs a request against a provider with retries; thread-safe (the dual loop calls from two threads)."""

    def __init__(
        self,
        provider: Provider,
        *,
        prices: PriceTable,
        retries: int = 3,
        backoff_s: float = 1.0,
        max_wait_s: float = 60.0,
        log_dir: Optional[Path] = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.provider = provider
        self.prices = prices
        self.retries = int(retries)
        self.backoff_s = float(backoff_s)
        self.max_wait_s = float(max_wait_s)
        self.log_dir = log_dir
        self.sleep = sleep
        self.records: list[CallRecord] = []
        self._lock = threading.Lock()
        self._serial = 0

    def call(self, request: Request, *, role: str, window: int, parse: Callable[[Reply], T]) -> tuple[Optional[T], CallRecord]:
        """``parse(reply)`` of the first good attempt, or ``None`` after the last; always the record."""
        record = CallRecord(role=role, window=window, model=request.model)
        started = time.perf_counter()
        result: Optional[T] = None
        for attempt in range(1, self.retries + 2):
            record.attempts = attempt
            t0 = time.perf_counter()
            reply: Optional[Reply] = None
            wait: Optional[float] = None
            try:
                reply = self.provider.complete(request)
                self._count(record, reply)
                result = parse(reply)
                record.ok, record.error = True, None
            except ProviderError as exc:
                record.error = str(exc)
                wait = self._wait(exc, attempt)
            except ValueError as exc:  # the reply was not a usable answer: truncated, not JSON, wrong shape
                record.error = f"invalid: {exc}"
                wait = self._wait(ProviderError("invalid", str(exc)), attempt)
            except Exception as exc:  # a provider bug or a runtime that failed to start: no retry, no crash
                record.error = f"error: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
                log.debug("model call raised", exc_info=True)
            self._write_attempt(request, role, window, attempt, reply, record.error if not record.ok else None,
                                time.perf_counter() - t0)
            if record.ok:
                break
            record.errors.append(record.error or "")
            log.warning("model call (%s, window %d) attempt %d failed: %s", role, window, attempt, record.error)
            if wait is None or attempt > self.retries:
                break
            self.sleep(wait)
        record.latency_s = time.perf_counter() - started
        self._finish(record)
        return result, record

    def _wait(self, exc: ProviderError, attempt: int) -> Optional[float]:
        """Seconds before the next attempt, or ``None`` when retrying cannot help."""
        if exc.kind == "client":  # 400/401/404: the same request fails the same way
            return None
        if exc.retry_after is not None:
            return exc.retry_after if exc.retry_after <= self.max_wait_s else None
        if exc.kind == "invalid":
            return 0.0  # a new sample may be valid; no server to spare
        return min(self.backoff_s * 2 ** (attempt - 1), self.max_wait_s)

    def _count(self, record: CallRecord, reply: Reply) -> None:
        record.input_tokens += reply.input_tokens or 0
        record.output_tokens += reply.output_tokens or 0
        record.thinking_tokens += reply.thinking_tokens or 0
        record.finish_reason = reply.finish_reason
        record.model = reply.model or record.model
        record.cost_usd = self.prices.cost(record.model, record.input_tokens,
                                           record.output_tokens + record.thinking_tokens)

    def _write_attempt(self, request: Request, role: str, window: int, attempt: int, reply: Optional[Reply],
                       error: Optional[str], seconds: float) -> None:
        if self.log_dir is None:
            return
        with self._lock:
            self._serial += 1
            serial = self._serial
        body = {
            "role": role, "window": window, "attempt": attempt, "seconds": round(seconds, 4),
            "request": {"model": request.model, "temperature": request.temperature,
                        "max_output_tokens": request.max_output_tokens, "system": request.system,
                        "user": request.user, "schema": request.schema},
            "reply": None if reply is None else asdict(reply),
            "error": error,
        }
        try:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            path = self.log_dir / f"{serial:04d}_w{window:03d}_{role}_{attempt}.json"
            path.write_text(redact_text(json.dumps(body, indent=1, default=str)), encoding="utf-8")
        except OSError as exc:  # the log must never cost the run
            log.debug("could not write the call log: %s", exc)

    def _finish(self, record: CallRecord) -> None:
        with self._lock:
            self.records.append(record)
            if self.log_dir is None:
                return
            try:
                self.log_dir.mkdir(parents=True, exist_ok=True)
                with open(self.log_dir / "calls.jsonl", "a", encoding="utf-8") as fh:
                    fh.write(redact_text(json.dumps(asdict(record), default=str)) + "\n")
            except OSError as exc:
                log.debug("could not write calls.jsonl: %s", exc)

    def totals(self) -> dict[str, Any]:
        """Run totals by role and overall (for the summary)."""
        with self._lock:
            records = list(self.records)
        def bucket(rs: list[CallRecord]) -> dict[str, Any]:
            return {"calls": len(rs), "failed_calls": sum(not r.ok for r in rs),
                    "attempts": sum(r.attempts for r in rs),
                    "input_tokens": sum(r.input_tokens for r in rs), "output_tokens": sum(r.output_tokens for r in rs),
                    "thinking_tokens": sum(r.thinking_tokens for r in rs),
                    "cost_usd": round(sum(r.cost_usd for r in rs), 6),
                    "latency_s": round(sum(r.latency_s for r in rs), 4)}
        roles = sorted({r.role for r in records})
        return {"total": bucket(records), **{role: bucket([r for r in records if r.role == role]) for role in roles}}
