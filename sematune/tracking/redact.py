"""Keep credentials out of everything a run records: params, tags, artifacts, logs, history.

Two rules, applied together: a value under a key whose name says it is secret (``*key*``,
``*token*``, ``*secret*``, ``*password*``) becomes ``***``, and any text containing the value
of a credential-looking environment variable has that value replaced by ``***``.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

MASK = "***"
_SECRET_NAME = re.compile(r"key|token|secret|passw|credential|auth", re.IGNORECASE)
#: Names that match the rule above but hold no secret: a sysctl's ``key``, and the digests that tie
#: a sweep's jobs to their MLflow runs (``sematune.job_key``, ``sematune.sweep_key``; resume and the
#: report match on them). Numbers (token counts) are never masked by name: only text is.
_NOT_SECRET_LEAF = re.compile(r"^(keys?|job_key|sweep_key)$", re.IGNORECASE)
#: Values that look like credentials whatever their variable is called.
_CREDENTIAL_VALUE = re.compile(
    r"^(sk-[A-Za-z0-9_-]{16,}|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_\w{20,}|xox[abpr]-[\w-]{10,}|"
    r"AKIA[0-9A-Z]{16}|glpat-[\w-]{16,}|AIza[\w-]{30,})$"
)
#: Shorter values are not masked inside text (too many false hits: "true", "1000").
_MIN_SECRET_LEN = 6


def is_secret_name(name: str) -> bool:
    leaf = name.rsplit(".", 1)[-1]
    return bool(_SECRET_NAME.search(leaf)) and not _NOT_SECRET_LEAF.search(leaf)


#: Values of secret-named command-line overrides (see :func:`register_override_secrets`).
_TYPED: set[str] = set()


def register_override_secrets(overrides: Iterable[str]) -> None:
    """Treat the values of secret-named overrides (``+tuner.api_key=…``, sweeps ``a,b`` too) as secrets."""
    for item in overrides:
        key, sep, value = item.partition("=")
        if sep and is_secret_name(key.lstrip("+~")):
            _TYPED.update(v for v in {value, *value.split(",")} if len(v) >= _MIN_SECRET_LEN)


def secret_values(environ: Mapping[str, str] | None = None) -> list[str]:
    """Values of environment variables that are credentials (by name or by shape), and of secret-named
    command-line overrides (unless ``environ`` is given), longest first."""
    env = os.environ if environ is None else environ
    found = {v for k, v in env.items()
             if len(v) >= _MIN_SECRET_LEN and (is_secret_name(k) or _CREDENTIAL_VALUE.match(v))}
    return sorted(found | (_TYPED if environ is None else set()), key=len, reverse=True)


def redact_text(text: str, secrets: Iterable[str] | None = None) -> str:
    """``text`` with every credential value replaced by ``***``."""
    for value in secret_values() if secrets is None else secrets:
        if value in text:
            text = text.replace(value, MASK)
    return text


def redact(data: Any, secrets: list[str] | None = None, _key: str = "") -> Any:
    """A copy of ``data`` (dicts, lists, scalars) with secrets masked by key name and by value."""
    secrets = secret_values() if secrets is None else secrets
    if isinstance(data, Mapping):
        return {k: redact(v, secrets, f"{_key}.{k}" if _key else str(k)) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [redact(v, secrets, _key) for v in data]
    if isinstance(data, str):
        if data and is_secret_name(_key) and not data.startswith("${"):
            return MASK
        return redact_text(data, secrets)
    return data


def redact_overrides(overrides: Iterable[str]) -> list[str]:
    """Command-line overrides with the values of secret-named keys masked (``tuner.api_key=***``)."""
    out = []
    for item in overrides:
        key, sep, _ = item.partition("=")
        out.append(f"{key}={MASK}" if sep and is_secret_name(key.lstrip("+~")) else redact_text(item))
    return out


class RedactingFilter(logging.Filter):
    """A log filter that masks credential values in every record it passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = secret_values()
        if secrets:
            message = record.getMessage()
            masked = redact_text(message, secrets)
            if masked != message:
                record.msg, record.args = masked, None
        return True


def _masking_factory(make: Callable[..., logging.LogRecord]) -> Callable[..., logging.LogRecord]:
    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make(*args, **kwargs)
        try:
            _MASK_FILTER.filter(record)
        except Exception:  # a record whose arguments do not format: logging reports it at emit time
            pass
        return record
    factory.sematune_masking = True  # type: ignore[attr-defined]
    return factory


_MASK_FILTER = RedactingFilter()


def install_log_redaction() -> None:
    """Mask credential values in every log record from now on (once).

    A record factory, not a handler filter: Hydra reconfigures logging (new handlers) when its
    launcher starts, after the entry point and the callbacks ran.
    """
    current = logging.getLogRecordFactory()
    if not getattr(current, "sematune_masking", False):
        logging.setLogRecordFactory(_masking_factory(current))


def redact_hydra_files(files: Iterable[Path], overrides: list[str]) -> list[Path]:
    """Rewrite Hydra's own records (``.hydra/*.yaml``, ``multirun.yaml``) with secrets masked.

    Hydra writes them before the task runs, so a secret typed on the command line
    (``+tuner.api_key=sk-…``) would stay there in clear. Each secret-named override ``k=v`` becomes
    ``k=***``, the composed config is masked by key name, and credential-looking environment
    values are masked everywhere. Returns the files changed.
    """
    import yaml

    pairs = {item: masked for item, masked in zip(overrides, redact_overrides(overrides)) if item != masked}
    changed = []
    for path in files:
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8")
        masked = text
        if path.name in ("config.yaml", "multirun.yaml"):  # the composed config (Hydra's own section aside)
            data = yaml.safe_load(text)
            if isinstance(data, dict):
                clean = {k: v if k == "hydra" else redact(v, _key=str(k)) for k, v in data.items()}
                if clean != data:
                    masked = yaml.safe_dump(clean, sort_keys=False, allow_unicode=True)
        for item in sorted(pairs, key=len, reverse=True):
            masked = masked.replace(item, pairs[item])
        masked = redact_text(masked)
        if masked != text:  # atomically: a sweep's parallel jobs all rewrite multirun.yaml
            tmp = path.with_name(f".{path.name}.{os.getpid()}")
            tmp.write_text(masked, encoding="utf-8")
            os.replace(tmp, path)
            changed.append(path)
    return changed
