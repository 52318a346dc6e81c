"""Redaction of secrets in agent evidence (transcripts, results, usage).

Two sources: the values of parent-environment variables whose names look secret (an agent may have
seen one through a bug, and our own error messages may carry one), and well-known token shapes,
because an agent can print a token it found in the repository or invented in a test.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

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
_URL_USERINFO_RE = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://[^/\s:@]+:)[^/\s@]+@")


def secret_values(environ: Mapping[str, str]) -> list[str]:
    """Values of variables whose names look secret, long enough to be worth redacting."""
    return [v for k, v in environ.items() if SECRET_NAME_RE.search(k) and len(v) >= MIN_SECRET_LENGTH]


class Redactor:
    """Replaces known secret values and token-shaped strings with [REDACTED]."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        values = sorted({s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True)
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
