"""The providers and the call loop, through the real openai and google-genai SDKs, against the fake server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sematune.errors import ConfigError
from sematune.tuners.llm._calls import Caller, PriceTable
from sematune.tuners.llm._schema import parse_object, proposal_schema, split_proposal
from sematune.tuners.llm.providers import ProviderError, Reply, Request, make_provider
from tests.llm.conftest import SECRET
from tests.llm.fake_llm import FakeLLM

SCHEMA = {"type": "object", "properties": {"justification": {"type": "string", "maxLength": 50},
                                           "vm_dirty_ratio": {"type": "integer", "minimum": 1, "maximum": 80}},
          "required": ["justification", "vm_dirty_ratio"]}


def provider(name: str, server: FakeLLM, **kw):
    base = server.url + "/v1" if name == "openai" else server.url
    return make_provider(name, model=kw.pop("model", "fake-model"), base_url=base, timeout_s=kw.pop("timeout_s", 5),
                         **kw)


def request(model: str = "fake-model") -> Request:
    return Request(system="you tune", user="next?", schema=SCHEMA, model=model, temperature=0.2,
                   max_output_tokens=64, seed=7)


def parse(reply: Reply) -> dict:
    return split_proposal(parse_object(reply.text, reply.finish_reason))[0]


@pytest.mark.parametrize("name", ["openai", "gemini"])
def test_a_reply_round_trips_through_the_real_sdk(fake_llm: FakeLLM, keys: str, name: str) -> None:
    fake_llm.script({"json": {"justification": "lower write-back", "vm_dirty_ratio": 12}})
    reply = provider(name, fake_llm).complete(request())
    assert json.loads(reply.text) == {"justification": "lower write-back", "vm_dirty_ratio": 12}
    assert reply.input_tokens and reply.output_tokens
    sent = fake_llm.requests[-1]
    if name == "openai":
        assert sent["path"] == "/v1/chat/completions"
        assert sent["headers"]["authorization"] == f"Bearer {SECRET}"
        assert sent["body"]["response_format"]["json_schema"]["schema"] == SCHEMA
        assert sent["body"]["messages"][0] == {"role": "system", "content": "you tune"}
        assert sent["body"]["seed"] == 7
    else:
        assert sent["path"].endswith("/models/fake-model:generateContent")
        assert sent["headers"]["x-goog-api-key"] == SECRET
        config = sent["body"]["generationConfig"]
        assert config["responseJsonSchema"] == SCHEMA and config["responseMimeType"] == "application/json"
        assert reply.thinking_tokens == 3


@pytest.mark.parametrize("name", ["openai", "gemini"])
def test_faults_become_provider_errors_of_the_right_kind(fake_llm: FakeLLM, keys: str, name: str) -> None:
    p = provider(name, fake_llm, timeout_s=0.5)
    fake_llm.script({"status": 429, "retry_after": 0}, {"status": 500}, {"status": 400}, {"delay": 1.5})
    kinds = []
    for _ in range(4):
        with pytest.raises(ProviderError) as caught:
            p.complete(request())
        kinds.append(caught.value.kind)
    assert kinds == ["rate_limit", "server", "client", "timeout"]
    p.close()


@pytest.mark.parametrize("name", ["openai", "gemini"])
def test_a_refused_connection_is_a_connection_error(keys: str, name: str) -> None:
    pytest.importorskip("openai")
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}" + ("/v1" if name == "openai" else "")
    p = make_provider(name, model="m", base_url=base, timeout_s=2)
    with pytest.raises(ProviderError) as caught:
        p.complete(request("m"))
    assert caught.value.kind == "connection"


def test_call_loop_retries_rate_limits_server_errors_and_bad_json(fake_llm: FakeLLM, keys: str, tmp_path: Path) -> None:
    fake_llm.script({"status": 429, "retry_after": 0}, {"status": 500}, {"text": "Sure! Here you go"},
                    {"truncate": True}, {"json": {"justification": "ok", "vm_dirty_ratio": 30}})
    waits: list[float] = []
    caller = Caller(provider("openai", fake_llm), prices=PriceTable({"fake-model": {"input": 1.0, "output": 2.0}}),
                    retries=4, backoff_s=0.01, log_dir=tmp_path / "llm", sleep=waits.append)
    result, record = caller.call(request(), role="single", window=1, parse=parse)
    assert result == {"vm_dirty_ratio": 30}
    assert record.ok and record.attempts == 5
    assert [e.split(":")[0] for e in record.errors] == ["rate_limit", "server", "invalid", "invalid"]
    assert "token limit" in record.errors[3]
    assert waits[0] == 0.0 and waits[1] == pytest.approx(0.02)  # Retry-After obeyed, then exponential backoff
    assert record.cost_usd > 0 and record.input_tokens > 0
    logged = sorted((tmp_path / "llm").glob("*.json"))
    assert len(logged) == 5 and all(SECRET not in p.read_text() for p in logged)
    line = json.loads((tmp_path / "llm" / "calls.jsonl").read_text().splitlines()[-1])
    assert line["attempts"] == 5 and line["ok"] is True


def test_call_loop_gives_up_after_its_retries_and_on_client_errors(fake_llm: FakeLLM, keys: str) -> None:
    fake_llm.script(*[{"status": 503}] * 3)
    caller = Caller(provider("openai", fake_llm), prices=PriceTable({}), retries=2, backoff_s=0, sleep=lambda s: None)
    result, record = caller.call(request(), role="single", window=1, parse=parse)
    assert result is None and not record.ok and record.attempts == 3
    fake_llm.script({"status": 401})
    result, record = caller.call(request(), role="single", window=2, parse=parse)
    assert result is None and record.attempts == 1  # the same request would fail the same way
    fake_llm.script({"status": 429, "retry_after": 3600})
    result, record = caller.call(request(), role="single", window=3, parse=parse)
    assert result is None and record.attempts == 1  # a wait beyond max_wait_s is not waited
    assert caller.totals()["total"]["failed_calls"] == 3


def test_keys_come_from_the_environment_or_a_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("openai")
    for name in ("OPENAI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "MY_KEY"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigError) as caught:
        make_provider("openai", model=None)
    assert caught.value.key == "tuner.api_key_env" and "OPENAI_API_KEY" in str(caught.value)
    with pytest.raises(ConfigError, match="GEMINI_API_KEY or GOOGLE_API_KEY"):
        make_provider("gemini", model=None)
    with pytest.raises(ConfigError, match="MY_KEY"):
        make_provider("gemini", model=None, api_key_env="MY_KEY")
    make_provider("openai", model=None, base_url="http://127.0.0.1:9/v1")  # a keyless local server is fine
    with pytest.raises(ConfigError, match="tuner.provider"):
        make_provider("claude", model=None)


def test_price_table_matches_the_longest_prefix() -> None:
    prices = PriceTable({"gpt-4o": {"input": 2.5, "output": 10}, "gpt-4o-mini": {"input": 0.15, "output": 0.6}})
    assert prices.cost("gpt-4o-mini-2024-07-18", 1_000_000, 0) == pytest.approx(0.15)
    assert prices.cost("openai/gpt-4o", 0, 1_000_000) == pytest.approx(10)
    assert prices.cost("SmolLM2-135M", 10**6, 10**6) == 0.0


def test_schema_has_bounds_enums_and_a_bounded_justification(space) -> None:
    schema = proposal_schema(space)
    props = schema["properties"]
    assert props["vm_dirty_ratio"] == {"type": "integer", "minimum": 1, "maximum": 80}
    assert props["ratio"]["type"] == "number" and props["ratio"]["maximum"] == 1.0
    assert props["thp_enabled"] == {"type": "string", "enum": ["always", "madvise", "never"]}
    assert props["tcp_tw_reuse"] == {"type": "integer", "enum": [0, 1, 2]}
    assert props["justification"]["maxLength"] > 0
    assert set(schema["required"]) == set(props)


@pytest.mark.parametrize(("text", "expected"), [
    ('{"a": 1}', {"a": 1}),
    ('```json\n{"a": 2}\n```', {"a": 2}),
    ('Analysis: fine.\nConfig: {"a": 3}', {"a": 3}),
    ('I think {"a": {"b": "}"}} is best', {"a": {"b": "}"}}),
])
def test_parse_finds_the_object_in_wrapped_replies(text: str, expected: dict) -> None:
    assert parse_object(text) == expected


def test_parse_says_why_there_is_no_object() -> None:
    with pytest.raises(ValueError, match="no JSON object"):
        parse_object("no braces here")
    with pytest.raises(ValueError, match="token limit"):
        parse_object('{"a": 1, "b": ', "length")
    values, why = split_proposal({"params": {"a": 1}, "rationale": "  because\n it is "})
    assert values == {"a": 1} and why == "because it is"
