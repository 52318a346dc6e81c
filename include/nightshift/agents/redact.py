"""Redaction of secrets in agent evidence (transcripts, results, usage).

Three sources: the values of parent-environment variables whose names look secret (an agent may have
seen one through a bug, and our own error messages may carry one), including every part of an Airflow
connection given as `AIRFLOW_CONN_*` (URI or JSON: the whole value, the password and secret-looking
extras, decoded and encoded); secrets registered by whoever builds the runner (the forge and tracker
tokens read from Airflow connections, which need not be in the environment); and well-known token
shapes, because an agent can print a token it found in the repository or invented in a test. Any
`scheme://user:password@` or `scheme://:password@` URL loses its password.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

REDACTED = "[REDACTED]"

#: Names whose values are treated as secrets.
SECRET_NAME_RE = re.compile(
    r"TOKEN|KEY|SECRET|PASSW|CREDENTIAL|AUTH|COOKIE|PRIVATE|SQL_ALCHEMY_CONN|DATABASE_URL|_DSN\b|_CONN\b",
    re.IGNORECASE,
)
#: Values shorter than this are not redacted by value (would erase "true", port numbers...).
MIN_SECRET_LENGTH = 8

TOKEN_PATTERNS: tuple[re.Pattern[str], ...] = (
    re.compile(r"\bglpat-[0-9A-Za-z_\-]{20,}"),  # GitLab personal access token
    re.compile(r"\bgl(?:dt|rt|ptt|cbt|oas|soat|ft|imt|agent)-[0-9A-Za-z_\-]{20,}"),  # other GitLab tokens
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}"),  # GitHub tokens
    re.compile(r"\bgithub_pat_[A-Za-z0-9_]{30,}"),
    re.compile(r"\bsk-[A-Za-z0-9_\-]{20,}"),  # OpenAI / Anthropic style API keys
    re.compile(r"\bxox[abposr]-[A-Za-z0-9\-]{10,}"),  # Slack
    re.compile(r"\bAKIA[0-9A-Z]{16}\b"),  # AWS access key id
    re.compile(
        r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"
    ),  # JWT (Airflow task token)
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----"),
)
_BEARER_RE = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/\-]{16,}=*")
#: `scheme://user:password@` and `scheme://:password@` (redis, amqp...): the password goes.
_URL_USERINFO_RE = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://[^/\s:@]*:)[^/\s@]+@")
#: Airflow connections defined in the environment (URI or JSON form).
AIRFLOW_CONN_PREFIX = "AIRFLOW_CONN_"
#: Connection fields and extras whose values are secrets.
_SECRET_FIELD_RE = re.compile(r"(?i)pass|token|secret|key|auth|credential|cookie|private|session")


def secret_values(environ: Mapping[str, str]) -> list[str]:
    """Values of variables whose names look secret, long enough to be worth redacting, plus every
    secret part of `AIRFLOW_CONN_*` connections."""
    found: list[str] = []
    for key, value in environ.items():
        if key.upper().startswith(AIRFLOW_CONN_PREFIX):
            found += [value, *connection_secrets(value)]
        elif SECRET_NAME_RE.search(key):
            found.append(value)
    return [v for v in found if len(v) >= MIN_SECRET_LENGTH]


def connection_secrets(value: str) -> list[str]:
    """The password and secret-looking extras of an Airflow connection (URI or JSON), as written and
    decoded, so a message that prints either form is caught."""
    text = value.strip()
    found: list[str] = []
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            return []
        if isinstance(data, dict):
            extra = data.get("extra")
            if isinstance(extra, str):
                with contextlib.suppress(ValueError):
                    extra = json.loads(extra)
            found += _secret_fields({k: v for k, v in data.items() if k != "extra"})
            if isinstance(extra, dict):
                found += _secret_fields(extra)
        return found
    try:
        parts = urlsplit(text)
        password = parts.password
    except ValueError:
        return []
    if password:
        found += [password, unquote(password)]
    for key, item in parse_qsl(parts.query, keep_blank_values=False):
        if key == "__extra__":
            with contextlib.suppress(ValueError):
                extra = json.loads(item)
                if isinstance(extra, dict):
                    found += _secret_fields(extra)
        elif _SECRET_FIELD_RE.search(key):
            found.append(item)
    return found


def _secret_fields(data: Mapping[str, Any]) -> Iterator[str]:
    for key, item in data.items():
        if isinstance(item, Mapping):
            yield from _secret_fields(item)
        elif isinstance(item, str) and _SECRET_FIELD_RE.search(str(key)):
            yield item


class Redactor:
    """Replaces known secret values and token-shaped strings with [REDACTED]."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._values: set[str] = set()
        self._values_re: re.Pattern[str] | None = None
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        """Register more secret values (e.g. a token read from an Airflow connection)."""
        self._values |= {s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH}
        values = sorted(self._values, key=len, reverse=True)
        self._values_re = re.compile("|".join(re.escape(v) for v in values)) if values else None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None, extra: Iterable[str] = ()) -> Redactor:
        env = os.environ if environ is None else environ
        return cls([*secret_values(env), *extra])

    def text(self, value: str) -> str:
        if self._values_re is not None:
            value = self._values_re.sub(REDACTED, value)
        for pattern in TOKEN_PATTERNS:
            value = pattern.sub(REDACTED, value)
        value = _BEARER_RE.sub(lambda m: m.group(1) + REDACTED, value)
        return _URL_USERINFO_RE.sub(lambda m: m.group(1) + REDACTED + "@", value)

    def bytes(self, value: bytes) -> str:
        return self.text(value.decode("utf-8", errors="replace"))

    def value(self, obj: Any) -> Any:
        """Redact every string inside JSON-like data."""
        if isinstance(obj, str):
            return self.text(obj)
        if isinstance(obj, list):
            return [self.value(v) for v in obj]
        if isinstance(obj, dict):
            return {k: self.value(v) for k, v in obj.items()}
        return obj
