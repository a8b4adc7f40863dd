"""A local model server that speaks both the OpenAI and the Gemini protocol, on 127.0.0.1.

It stands in for the paid providers only: the real ``openai`` and ``google-genai`` SDKs talk to
it over HTTP (base URL, headers, retries, parsing all real). Replies are scripted per test:
``server.script(...)`` queues actions, each one of

* ``{"json": {...}}`` / ``{"text": "..."}``: a reply with that content;
* ``{"status": 429, "retry_after": 0}`` / ``{"status": 500}``: an HTTP error;
* ``{"delay": 2.0}``: wait before answering (combined with the others; a timeout when longer
  than the client's);
* ``{"truncate": True}``: the first half of a valid answer, finish reason length / MAX_TOKENS;
* ``{"lookup": "slow"}``-style keys are ignored, so tests may label actions.

With the queue empty it answers every request from the request's own JSON schema: a seeded
random value inside every bound, a short justification (the "auto" model). ``delays`` maps a
model name to seconds of think time (the dual loop's slow model). Every request is kept in
``requests`` (path, headers, body).
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional

GEMINI_PATH = re.compile(r"^/(?:[^/]+/)*models/([^/:?]+):(generateContent|streamGenerateContent)")


def value_for(schema: dict[str, Any], rng: random.Random, name: str = "") -> Any:
    """A random value that satisfies ``schema`` (the subset SemaTune sends)."""
    kind = schema.get("type")
    kind = (kind[0] if isinstance(kind, list) else kind or "object").lower()
    if "enum" in schema:
        return rng.choice(list(schema["enum"]))
    if kind == "integer":
        low, high = int(schema.get("minimum", 0)), int(schema.get("maximum", 100))
        return rng.randint(low, high)
    if kind == "number":
        low, high = float(schema.get("minimum", 0.0)), float(schema.get("maximum", 1.0))
        return round(rng.uniform(low, high), 4)
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "string":
        text = "lessons: knob A mattered, knob B was inert" if name == "lessons" else f"auto proposal {rng.randint(0, 999)}"
        return text[: int(schema.get("maxLength", len(text)))]
    if kind == "array":
        return []
    if kind == "object":
        props = schema.get("properties") or {}
        if name == "suggested_ranges":
            return {}
        return {k: value_for(v, rng, k) for k, v in props.items()}
    return None


class FakeLLM(ThreadingHTTPServer):
    """``with FakeLLM() as server: server.url``: both protocols, scripted replies, recorded requests."""

    daemon_threads = True

    def __init__(self, seed: int = 0) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        self.actions: deque[dict[str, Any]] = deque()
        self.by_model: dict[str, deque[dict[str, Any]]] = {}
        self.delays: dict[str, float] = {}
        self.requests: list[dict[str, Any]] = []
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self._thread: Optional[threading.Thread] = None

    def __enter__(self) -> "FakeLLM":
        self._thread = threading.Thread(target=self.serve_forever, name="fake-llm", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.shutdown()
        self.server_close()

    def script(self, *actions: dict[str, Any], model: Optional[str] = None) -> None:
        """Queue replies (for every model, or only for requests naming ``model``)."""
        with self.lock:
            (self.by_model.setdefault(model, deque()) if model else self.actions).extend(actions)

    def next_action(self, model: str) -> dict[str, Any]:
        with self.lock:
            queue = self.by_model.get(model)
            if queue:
                return queue.popleft()
            return self.actions.popleft() if self.actions else {}

    def bodies(self, protocol: Optional[str] = None) -> list[dict[str, Any]]:
        return [r["body"] for r in self.requests if protocol is None or r["protocol"] == protocol]


class _Handler(BaseHTTPRequestHandler):
    server: FakeLLM
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:  # /v1/models
        self._send(200, {"object": "list", "data": [{"id": "fake-model", "object": "model", "created": 0,
                                                     "owned_by": "sematune-tests"}]})

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            body = {"_unparsed": raw.decode("utf-8", "replace")}
        gemini = GEMINI_PATH.match(self.path)
        protocol = "gemini" if gemini else "openai"
        model = gemini.group(1) if gemini else str(body.get("model", ""))
        with self.server.lock:
            self.server.requests.append({"protocol": protocol, "path": self.path, "model": model,
                                         "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body})
        action = self.server.next_action(model)
        delay = float(action.get("delay", 0.0)) + self.server.delays.get(model, 0.0)
        if delay:
            time.sleep(delay)
        if "status" in action:
            headers = {}
            if action.get("retry_after") is not None:
                headers["retry-after"] = str(action["retry_after"])
            status = int(action["status"])
            message = {"error": {"code": status, "message": f"scripted {status}",
                                 "status": "RESOURCE_EXHAUSTED" if status == 429 else "INTERNAL"}}
            self._send(status, message, headers)
            return
        schema = self._schema(body, protocol)
        if "json" in action:
            text = json.dumps(action["json"])
        elif "text" in action:
            text = str(action["text"])
        else:
            with self.server.lock:
                text = json.dumps(value_for(schema or {"type": "object", "properties": {}}, self.server.rng))
        truncated = bool(action.get("truncate"))
        if truncated:
            text = text[: max(len(text) // 2, 1)]
        prompt_chars = len(json.dumps(body))
        usage_in, usage_out = prompt_chars // 4, max(len(text) // 4, 1)
        if protocol == "openai":
            self._send(200, {
                "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()), "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                             "finish_reason": "length" if truncated else "stop"}],
                "usage": {"prompt_tokens": usage_in, "completion_tokens": usage_out,
                          "total_tokens": usage_in + usage_out},
            })
        else:
            self._send(200, {
                "candidates": [{"content": {"role": "model", "parts": [{"text": text}]},
                                "finishReason": "MAX_TOKENS" if truncated else "STOP", "index": 0}],
                "usageMetadata": {"promptTokenCount": usage_in, "candidatesTokenCount": usage_out,
                                  "thoughtsTokenCount": 3, "totalTokenCount": usage_in + usage_out + 3},
                "modelVersion": model, "responseId": "fake",
            })

    @staticmethod
    def _schema(body: dict[str, Any], protocol: str) -> Optional[dict[str, Any]]:
        if protocol == "openai":
            fmt = body.get("response_format") or {}
            return (fmt.get("json_schema") or {}).get("schema") or fmt.get("schema")
        config = body.get("generationConfig") or {}
        return config.get("responseJsonSchema") or config.get("responseSchema")

    def _send(self, status: int, payload: dict[str, Any], headers: Optional[dict[str, str]] = None) -> None:
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
            pass
