"""The LLM tuner: a language model reads what each knob means and what each window measured.

``loop: single`` asks one model before every tuning window (synchronously). ``loop: dual``
asks a fast model every window and keeps one request to a slow model in flight in the
background; a slow answer is applied at the first window boundary after it arrives (its values
override the fast model's), an answer older than ``slow_max_age`` windows is dropped and
recorded, and a new slow request is sent only when none is pending — the slow model never
blocks a window. At the end of the tuning phase a "freeze" request chooses the configuration
offered to the engine's confirm phase (:meth:`best_parameters`); after the run the model
writes a short gist of lessons learned, which ``prior_from`` feeds into a later run's prompt.

A failed call (after bounded retries) keeps the current configuration; ``max_consecutive_failures``
windows in a row without an answer end the run with a :class:`TunerError` (host restored).
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from sematune.errors import TunerError
from sematune.osparams.base import Value
from sematune.targets.base import BenchmarkMetrics
from sematune.tuners.base import Observation, TokenUsage, Tuner, TunerResponse
from sematune.tuners.llm._calls import Caller, CallRecord, PriceTable, add_usage
from sematune.tuners.llm._memory import Prior, load_prior
from sematune.tuners.llm._prompt import (
    FREEZE_POLICY, GIST_SYSTEM, GIST_USER, SIGNALS, PromptBuilder, PromptContext, phase_policy,
)
from sematune.tuners.llm._schema import parse_object, proposal_schema, split_proposal
from sematune.tuners.llm.providers import PROVIDERS, Provider, Reply, Request, make_provider
from sematune.tuners.llm.providers.openai_compatible import JSON_MODES
from sematune.validate import integer, one_of, require

log = logging.getLogger(__name__)

LOOPS = ("single", "dual")
#: A bounded gist: the grammar closes the string by then, so the JSON ends within the token budget
#: even when a small model degenerates into repetition.
GIST_CHARS = 800
GIST_SCHEMA = {"type": "object", "properties": {"lessons": {"type": "string", "maxLength": GIST_CHARS}},
               "required": ["lessons"], "additionalProperties": False}


class LlmTuner(Tuner):
    """Proposals from a language model (Gemini, any OpenAI-compatible server, or a local GGUF)."""

    extra = "llm"

    def __init__(
        self,
        *,
        provider: str = "local",
        model: Optional[str] = None,
        slow_model: Optional[str] = None,
        loop: str = "single",
        base_url: Optional[str] = None,
        api_key_env: Optional[str] = None,
        model_path: Optional[str] = None,
        json_mode: str = "json_schema",
        thinking_budget: Optional[int] = None,
        context_tokens: int = 8192,
        temperature: float = 0.7,
        max_output_tokens: int = 2048,
        timeout_s: float = 60.0,
        retries: int = 3,
        backoff_s: float = 1.0,
        max_wait_s: float = 60.0,
        max_consecutive_failures: int = 5,
        slow_max_age: int = 3,
        signals: str = "app",
        hide_objective: bool = False,
        history_limit: int = 30,
        max_prompt_chars: Optional[int] = None,
        top_k: int = 3,
        prices: Optional[Mapping[str, Mapping[str, float]]] = None,
        prior_from: Optional[str] = None,
        tracking_uri: Optional[str] = None,
        gist: bool = True,
        n_trials: int = 30,
        objective_metric: Optional[str] = None,
        constraint: Optional[Mapping[str, Any]] = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        one_of("tuner.provider", provider, PROVIDERS)
        one_of("tuner.loop", loop, LOOPS)
        one_of("tuner.signals", signals, SIGNALS)
        one_of("tuner.json_mode", json_mode, JSON_MODES)
        for key, value, low in (("retries", retries, 0), ("max_consecutive_failures", max_consecutive_failures, 1),
                                ("slow_max_age", slow_max_age, 1), ("history_limit", history_limit, 1),
                                ("top_k", top_k, 0), ("max_output_tokens", max_output_tokens, 16),
                                ("n_trials", n_trials, 1), ("context_tokens", context_tokens, 512)):
            integer(f"tuner.{key}", value, low)
        for key, value in (("timeout_s", timeout_s), ("backoff_s", backoff_s), ("max_wait_s", max_wait_s)):
            require(f"tuner.{key}", isinstance(value, (int, float)) and value >= 0, f"must be a number ≥ 0, not {value!r}")
        require("tuner.temperature", isinstance(temperature, (int, float)) and 0 <= temperature <= 2,
                f"must be between 0 and 2, not {temperature!r}")
        self.provider_name = provider
        self.loop = loop
        self.temperature = float(temperature)
        self.max_output_tokens = int(max_output_tokens)
        self.max_consecutive_failures = int(max_consecutive_failures)
        self.slow_max_age = int(slow_max_age)
        self.n_trials = int(n_trials)
        self.gist_enabled = bool(gist)
        self.prior: Optional[Prior] = load_prior(prior_from, tracking_uri) if prior_from else None
        self.provider: Provider = make_provider(provider, model=model, base_url=base_url, api_key_env=api_key_env,
                                                model_path=model_path, timeout_s=float(timeout_s), json_mode=json_mode,
                                                thinking_budget=thinking_budget, context_tokens=int(context_tokens),
                                                parallel=2 if loop == "dual" else 1)
        self.model = model or self.provider.default_model()
        self.slow_model = slow_model or self.model
        self.caller = Caller(self.provider, prices=PriceTable(prices), retries=int(retries),
                             backoff_s=float(backoff_s), max_wait_s=float(max_wait_s))
        self.prompts = PromptBuilder(PromptContext(
            space=self.space, goal=self.goal, metric=objective_metric, constraint=constraint, signals=signals,
            hide_objective=bool(hide_objective), history_limit=int(history_limit), top_k=int(top_k),
            prior=self.prior.text() if self.prior else None))
        self.prompts.ctx.max_update_chars = self._update_budget(max_prompt_chars)
        self._schema = proposal_schema(self.space)  # the answer's shape: fixed for the run
        self._results_dir: Optional[Path] = None
        self._failures = 0
        self._tags: dict[int, str] = {}  # window → which model's answer it measured
        self._pending_tag: Optional[str] = None
        self._pool: Optional[ThreadPoolExecutor] = None
        self._slow: Optional[tuple[int, Future[tuple[Optional[dict[str, Any]], CallRecord]]]] = None
        self.slow_stats = {"dispatched": 0, "applied": 0, "stale": 0, "failed": 0, "dropped_at_freeze": 0}
        self.freeze_choice: Optional[dict[str, Value]] = None
        self.freeze_justification = ""

    def _update_budget(self, max_prompt_chars: Optional[int]) -> Optional[int]:
        """Characters left for each update after the system prompt: from ``max_prompt_chars``, else from
        the model's context (a local model's is small: about 3 characters a token, and room for the
        answer: ~15 tokens a knob)."""
        if max_prompt_chars is None:
            context = self.provider.context_per_request()
            if context is None:
                return None
            answer_tokens = 300 + 15 * len(self.space)
            max_prompt_chars = max(context - answer_tokens, 512) * 3
        integer("tuner.max_prompt_chars", max_prompt_chars, 2000)
        return max(int(max_prompt_chars) - len(self.prompts.system("slow")) - 200, 1000)

    # -- where the tuner writes ---------------------------------------------------------------
    @property
    def results_dir(self) -> Optional[Path]:
        return self._results_dir

    @results_dir.setter
    def results_dir(self, path: Optional[Path]) -> None:
        """Set by the engine: prompts, replies and the gist go to ``<results_dir>/llm``."""
        self._results_dir = Path(path) if path else None
        self.caller.log_dir = self._results_dir / "llm" if self._results_dir else None

    # -- the contract -----------------------------------------------------------------------
    def suggest_parameters(
        self,
        metrics: Optional[BenchmarkMetrics],
        current_params: Mapping[str, Value],
        iteration: int,
        best_reward: float = 0.0,
        **kwargs: Any,
    ) -> TunerResponse:
        self.prompts.learn_defaults(kwargs.get("defaults"))
        history = list(self.history)
        usage: Optional[TokenUsage] = None
        notes: list[str] = []
        values: dict[str, Any] = {}
        tags: list[str] = []
        if self.loop == "dual":
            slow_values, slow_note, slow_usage = self._collect_slow(iteration)
            if slow_usage is not None:
                usage = add_usage(usage, slow_usage)
            if slow_note:
                notes.append(slow_note)
            role = "fast"
        else:
            slow_values, role = None, "single"
        answer, record = self._ask(role, iteration, history, current_params, self.model, metrics, best_reward)
        usage = add_usage(usage, record.usage())
        if answer is not None:
            fast_values, why = answer
            values.update(fast_values)
            tags.append(role)
            notes.append(f"[{role}] {why}" if self.loop == "dual" else why)
        else:
            notes.append(f"[{role}] model call failed ({record.error}); keeping the current configuration")
        if slow_values is not None:
            values.update(slow_values)  # the careful answer wins where both set a knob
            tags.insert(0, "slow")
        if self.loop == "dual" and self._slow is None:
            self._dispatch_slow(iteration, history, current_params, metrics, best_reward)
        self._pending_tag = "+".join(tags) if tags else "failed"
        self._count_failures(answer is not None or slow_values is not None, record.error)
        return TunerResponse(parameters=values, justification=" ".join(notes)[:1000], token_usage=usage,
                             confidence=None)

    def _count_failures(self, answered: bool, error: Optional[str]) -> None:
        """Reset on an answer; end the run after ``max_consecutive_failures`` windows without one."""
        if answered:
            self._failures = 0
            return
        self._failures += 1
        if self._failures >= self.max_consecutive_failures:
            raise TunerError(f"the {self.provider_name} model failed {self._failures} windows in a row "
                             f"(last error: {error}); the run stops, the host is restored")

    def observe(self, observation: Observation) -> None:
        super().observe(observation)
        if observation.phase == "tuning" and self._pending_tag is not None:
            self._tags[observation.window] = self._pending_tag
            self._pending_tag = None

    def best_parameters(self) -> Optional[dict[str, Value]]:
        """The model's choice for the stable phase (a synchronous "freeze" request)."""
        self._drop_slow_at_freeze()
        answer, record = self._ask("freeze", self.n_trials + 1, list(self.history), self._last_config(),
                                   self.slow_model)
        if answer is None:
            log.warning("the freeze request failed (%s); the engine picks from the measured windows", record.error)
            return None
        self.freeze_choice, self.freeze_justification = dict(answer[0]), answer[1]
        return dict(answer[0])

    def finish(self, completed: bool) -> dict[str, Any]:
        """Token and call totals, the dual loop's slow-answer counts and the gist (written to ``llm/gist.md``)."""
        out: dict[str, Any] = {"provider": self.provider_name, "model": self.model, "loop": self.loop}
        if self.loop == "dual":
            out["slow_model"] = self.slow_model
            out["slow"] = dict(self.slow_stats)
        if self.freeze_choice is not None:
            out["freeze"] = {"parameters": self.freeze_choice, "justification": self.freeze_justification}
        gist = self._gist() if completed and self.gist_enabled and any(r.ok for r in self.caller.records) else None
        if gist:
            out["gist"] = gist
        out["calls"] = self.caller.totals()
        return out

    def describe(self) -> dict[str, Any]:
        return {"provider": self.provider_name, "model": self.model, "loop": self.loop,
                "slow_model": self.slow_model if self.loop == "dual" else None,
                "signals": self.prompts.ctx.signals, "hide_objective": self.prompts.ctx.hide_objective,
                "prior_from": self.prior.source if self.prior else None}

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        self.provider.close()

    # -- model calls ------------------------------------------------------------------------
    def _request(self, role: str, user: str, model: str, schema: Mapping[str, Any], seed_offset: int) -> Request:
        return Request(system=self.prompts.system(role if role in ("fast", "slow", "trim") else "single"),
                       user=user, schema=schema, model=model, temperature=self.temperature,
                       max_output_tokens=self.max_output_tokens, seed=self.seed * 1000 + seed_offset)

    def _ask(self, role: str, iteration: int, history: Sequence[Observation], current: Mapping[str, Any],
             model: str, metrics: Optional[BenchmarkMetrics] = None, best_reward: Optional[float] = None,
             ) -> tuple[Optional[tuple[dict[str, Any], str]], CallRecord]:
        """One proposal (values, justification) from ``model``, or ``None`` with the failed call's record."""
        policy = FREEZE_POLICY if role == "freeze" else phase_policy(iteration, self.n_trials)
        user = self.prompts.update(history, current, iteration=min(iteration, self.n_trials), total=self.n_trials,
                                   policy=policy, tags=self._tags, metrics=metrics, best_reward=best_reward)
        request = self._request(role, user, model, self._schema, iteration)

        def parse(reply: Reply) -> tuple[dict[str, Any], str]:
            values, why = split_proposal(parse_object(reply.text, reply.finish_reason))
            if not values:
                raise ValueError("the answer set no knob")
            return values, why

        return self.caller.call(request, role=role, window=iteration, parse=parse)

    def _dispatch_slow(self, iteration: int, history: Sequence[Observation], current: Mapping[str, Any],
                       metrics: Optional[BenchmarkMetrics], best_reward: Optional[float]) -> None:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sematune-llm-slow")
        snapshot, config = list(history), dict(current)
        future = self._pool.submit(self._ask, "slow", iteration, snapshot, config, self.slow_model, metrics,
                                   best_reward)
        self._slow = (iteration, future)
        self.slow_stats["dispatched"] += 1

    def _collect_slow(self, iteration: int) -> tuple[Optional[dict[str, Any]], str, Optional[TokenUsage]]:
        """A finished slow answer that is fresh enough, with a note; stale or failed answers are dropped."""
        if self._slow is None or not self._slow[1].done():
            return None, "", None
        sent, future = self._slow
        self._slow = None
        try:
            answer, record = future.result()
        except Exception as exc:  # a bug in the slow path must not end the run
            self.slow_stats["failed"] += 1
            return None, f"[slow] request from window {sent} crashed ({exc}); dropped", None
        usage = record.usage()
        age = iteration - sent
        if answer is None:
            self.slow_stats["failed"] += 1
            return None, f"[slow] request from window {sent} failed ({record.error})", usage
        if age > self.slow_max_age:
            self.slow_stats["stale"] += 1
            return None, f"[slow] answer to window {sent} arrived {age} windows later; stale, dropped", usage
        self.slow_stats["applied"] += 1
        return dict(answer[0]), f"[slow, from window {sent}] {answer[1]}", usage

    def _drop_slow_at_freeze(self) -> None:
        if self._slow is not None:
            self._slow[1].cancel()
            self.slow_stats["dropped_at_freeze"] += 1
            self._slow = None

    def _last_config(self) -> dict[str, Any]:
        return dict(self.history[-1].parameters) if self.history else dict(self.prompts.ctx.defaults)

    def _gist(self) -> Optional[str]:
        history = list(self.history)
        user = self.prompts.update(history, self._last_config(), iteration=self.n_trials, total=self.n_trials,
                                   policy="The run is over.", tags=self._tags) + "\n\n" + GIST_USER
        request = Request(system=GIST_SYSTEM + "\n\n" + self.prompts.knobs(), user=user, schema=GIST_SCHEMA,
                          model=self.slow_model, temperature=self.temperature,
                          max_output_tokens=max(self.max_output_tokens, GIST_CHARS + 200), seed=self.seed)

        def parse(reply: Reply) -> str:
            text = str(parse_object(reply.text, reply.finish_reason).get("lessons") or "").strip()
            if not text:
                raise ValueError("an empty gist")
            return text

        gist, record = self.caller.call(request, role="gist", window=self.n_trials + 1, parse=parse)
        if gist and self.caller.log_dir is not None:
            try:
                self.caller.log_dir.mkdir(parents=True, exist_ok=True)
                (self.caller.log_dir / "gist.md").write_text(gist + "\n", encoding="utf-8")
            except OSError as exc:
                log.debug("could not write the gist: %s", exc)
        elif not gist:
            log.warning("the gist request failed: %s", record.error)
        return gist
