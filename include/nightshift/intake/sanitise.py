"""Strip hidden text from ticket text before any of it reaches an agent, and record what was stripped.

Hidden text carries prompt injection (docs/security-and-reliability.md, fact 7): HTML comments, markdown
comments, Unicode tag characters, zero-width and bidi controls, variation selectors (used to smuggle
bytes), other invisible format characters and control characters. Input is cut to a stated size
*before* it is cleaned, so a 50 MB body costs no more than a small one.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from typing import BinaryIO

from pydantic import BaseModel, Field

#: Default cap on one ticket text, in UTF-8 bytes of the raw input (64 KiB).
DEFAULT_MAX_BYTES = 64 * 1024

TRUNCATION_NOTE = "[Nightshift: the ticket text was cut at {limit} bytes; the rest was not read]"

# Kind of hidden text -> character class. Order matters: each character is counted once, by the
# first kind that matches it.
_CHAR_KINDS: list[tuple[str, str]] = [
    ("unicode tag characters", "\U000e0000-\U000e007f"),
    ("zero-width characters", "\u200b-\u200d\u2060\ufeff"),
    ("bidi controls", "\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c"),
    ("variation selectors", "\ufe00-\ufe0f\U000e0100-\U000e01ef"),
]
_CHAR_RES = [(kind, re.compile(f"[{cls}]")) for kind, cls in _CHAR_KINDS]

_HTML_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.DOTALL)
# `[//]: # (hidden)` and `[comment]: <> (hidden)`: link definitions that render as nothing.
_MARKDOWN_COMMENT = re.compile(r"^[ ]{0,3}\[[^\]\n]*\]:[ \t]*(?:#|<>)(?:[ \t]+.*)?$\n?", re.MULTILINE)


def _other_invisible(ch: str) -> str | None:
    """Kind of a character not covered by the explicit classes: other Cf (format) and Cc (control)."""
    if ch in "\n\t":
        return None
    category = unicodedata.category(ch)
    if category == "Cc":
        return "control characters"
    if category == "Cf":
        return "other invisible format characters"
    return None


def is_hidden(ch: str) -> bool:
    """True for a character the sanitiser removes (used by tests as an independent oracle)."""
    return any(rx.match(ch) for _, rx in _CHAR_RES) or _other_invisible(ch) is not None


class SanitiseReport(BaseModel):
    """What was removed, per kind, and whether the text was cut."""

    removed: dict[str, int] = Field(default_factory=dict)
    truncated_at: int | None = None  # the byte limit, when the input was longer
    original_bytes: int | None = None  # known when the input size was known without reading it all
    original_chars: int | None = None
    invalid_utf8: bool = False

    def notes(self, prefix: str = "") -> list[str]:
        """Short human lines for the manifest's `sanitised` field."""
        out = [f"{prefix}{kind}: {n}" for kind, n in sorted(self.removed.items())]
        if self.truncated_at is not None:
            size = (
                f" from {self.original_bytes} bytes"
                if self.original_bytes
                else f" from {self.original_chars} characters"
                if self.original_chars
                else ""
            )
            out.append(f"{prefix}truncated{size} to {self.truncated_at} bytes")
        if self.invalid_utf8:
            out.append(f"{prefix}invalid UTF-8 replaced")
        return out

    @property
    def clean(self) -> bool:
        return not self.removed and self.truncated_at is None and not self.invalid_utf8


class Sanitised(BaseModel):
    text: str
    report: SanitiseReport


def _clean(text: str, report: SanitiseReport) -> str:
    """Remove hidden text from an already size-capped string."""

    def count(kind: str, n: int) -> None:
        if n:
            report.removed[kind] = report.removed.get(kind, 0) + n

    text = text.replace("\r\n", "\n").replace("\r", "\n")
    for kind, rx in _CHAR_RES:
        text, n = rx.subn("", text)
        count(kind, n)
    kept: list[str] = []
    for ch in text:
        other = _other_invisible(ch) if not (ch.isprintable() or ch in "\n\t") else None
        if other is None:
            kept.append(ch)
        else:
            count(other, 1)
    text = "".join(kept)
    # Removing one comment can join `<!` and `--` into a new opener: repeat until none is left.
    while True:
        text, n = _HTML_COMMENT.subn("", text)
        count("html comments", n)
        if n == 0:
            break
    text, n = _MARKDOWN_COMMENT.subn("", text)
    count("markdown comments", n)
    return text


def _cut_utf8(text: str, max_bytes: int) -> tuple[str, bool]:
    """At most max_bytes of UTF-8, on a character boundary; looks at no more than max_bytes characters."""
    head = text[: max_bytes + 1]  # every character is at least one byte
    raw = head.encode("utf-8", errors="surrogatepass")
    if len(raw) <= max_bytes:
        return head, False
    return raw[:max_bytes].decode("utf-8", errors="ignore"), True


def sanitise(text: str, max_bytes: int = DEFAULT_MAX_BYTES, *, single_line: bool = False) -> Sanitised:
    """Cap `text` to `max_bytes` UTF-8 bytes, then strip hidden text; `single_line` folds newlines."""
    report = SanitiseReport()
    head, cut = _cut_utf8(text, max_bytes)
    if cut:
        report.truncated_at = max_bytes
        report.original_chars = len(text)  # O(1); encoding a 50 MB string only to count it is not
    if any("\ud800" <= ch <= "\udfff" for ch in head):
        head = head.encode("utf-8", errors="replace").decode("utf-8")
        report.invalid_utf8 = True
    return _finish(head, report, single_line)


def sanitise_stream(
    stream: BinaryIO, max_bytes: int = DEFAULT_MAX_BYTES, *, size: int | None = None
) -> Sanitised:
    """Like `sanitise` for a byte stream: reads at most max_bytes + 1 bytes, whatever the stream holds."""
    report = SanitiseReport()
    raw = stream.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raw = raw[:max_bytes]
        report.truncated_at = max_bytes
        report.original_bytes = size
    # final=False keeps an incomplete character at a cut out instead of reporting it as invalid.
    final = report.truncated_at is None
    try:
        head = codecs.getincrementaldecoder("utf-8")().decode(raw, final=final)
    except UnicodeDecodeError:
        head = codecs.getincrementaldecoder("utf-8")(errors="replace").decode(raw, final=final)
        report.invalid_utf8 = True
    return _finish(head, report, single_line=False)


def _finish(head: str, report: SanitiseReport, single_line: bool) -> Sanitised:
    text = _clean(head, report)
    if single_line:
        text = " ".join(text.split())
    elif report.truncated_at is not None:
        text = text.rstrip("\n") + "\n\n" + TRUNCATION_NOTE.format(limit=report.truncated_at) + "\n"
    return Sanitised(text=text, report=report)
