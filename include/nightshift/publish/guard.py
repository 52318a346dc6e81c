"""The one text guard: agent- and ticket-derived text made inert before Nightshift publishes it.

Everything an agent or a ticket author wrote reaches GitLab (MR title and description, notes, issues)
and Jira (comments, follow-up issues) only through these functions. What they prevent:

* **Quick actions.** GitLab runs `/approve`, `/merge`, `/ready`, `/label ~x`, `/target_branch x` ...
  written at the start of a line of an MR or issue description or a note, as the token's user
  (its extractor matches `^/<command>( <arg>)?$` per line, outside fenced code, HTML and `>>>` blocks).
  Every line of guarded text is quoted (`> `), and a line whose first non-space character is `/` gets a
  backslash in front (`\\/approve`). CommonMark renders `\\/` as `/`, so the reader sees the agent's
  words, while no guarded line can start with `/` whatever GitLab does with quotes or indentation.
  (GitLab's own redaction wraps commands in a code span; a backslash keeps the words readable and
  works the same in every position.)
* **Mentions and references.** `@user`, `@all`, `@group/sub` notify people; `#12`, `!3`, `&4` and
  issue URLs create cross-references (and "Closes #12" closes issues on merge). Each, and every URL, is
  put in a code span, where GitLab resolves no reference and links nothing; Jira's `[~user]` and
  `[~accountid:...]` lose their bracket (escaped).
* **Hidden markup.** HTML tags and comments, entities (`&#64;all` would decode to a live mention),
  links and images (`[x](javascript:...)`, tracking pixels), autolinks: the characters that start them
  (`\\ < [ ] &`, unmatched backticks, and `>` or `#` at the start of a line) are backslash-escaped.
  Invisible characters (zero-width, bidi, tags, control) are removed. Code spans the agent closed on
  the same line are kept: nothing inside a code span is interpreted.
* **Line structure.** Every line break the text contains (`\\r`, `\\u2028`, form feeds ...) is a line
  of its own, escaped on its own; `inline` and list items are always one line.

The output is GitLab-flavoured markdown; Jira gets it through nightshift.trackers.text, which reads the
escapes back as literal text and re-escapes what wiki markup needs (`{`, `[`, `!`, `|`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from nightshift.intake.sanitise import is_hidden

__all__ = ["MAX_CHARS", "agent_list", "agent_text", "bullet_items", "code", "inline", "quote"]

#: Cap on one guarded text (agent output is unbounded; GitLab and Jira reject very long bodies).
MAX_CHARS = 10_000
_CUT_NOTE = " … (cut by Nightshift)"

#: Characters that start markup in plain text: escaped with a backslash (all are CommonMark-escapable).
#: `_` too: `_@bob_` would render as `<em>@bob</em>`, and GitLab finds mentions and references in the
#: rendered text, where the emphasis has removed the word character that kept `@bob` inert.
_ESCAPED = frozenset("\\<[]&`_")
#: `@mention`, and issue / MR / epic references with an optional project path (GitLab's `(?<!\w)`
#: is ASCII in Ruby, hence the ASCII look-behind).
#: URLs too: an agent's link is never clickable (phishing), and "Fixes <issue URL>" closes nothing.
_LIVE_TOKEN = re.compile(
    r"(?<![A-Za-z0-9_])@[A-Za-z0-9_][A-Za-z0-9_.\-/+]*"
    r"|(?<![A-Za-z0-9_])(?:[A-Za-z0-9_.\-]+(?:/[A-Za-z0-9_.\-]+)*)?[#!&][0-9]+"
    r"|(?<![A-Za-z0-9_])(?:[A-Za-z][A-Za-z0-9+.\-]*://|www\.)[^\s`]+"
)
_SPACES = re.compile(r"[ \t]+")


def _visible(line: str) -> str:
    return "".join(" " if ch == "\t" else ch for ch in line if not is_hidden(ch))


def _lines(text: str) -> list[str]:
    """Every line of `text` (any line separator counts), invisible characters removed."""
    return [_visible(line).rstrip() for line in text.replace("\r\n", "\n").splitlines()]


def _cap(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit].rstrip() + _CUT_NOTE


def _plain(segment: str) -> str:
    """Text outside code spans: live tokens into code spans, markup characters escaped."""
    out: list[str] = []
    pos = 0
    for match in _LIVE_TOKEN.finditer(segment):
        out.append(_escape(segment[pos : match.start()]))
        out.append(f"`{match.group(0)}`")
        pos = match.end()
    out.append(_escape(segment[pos:]))
    return "".join(out)


def _escape(text: str) -> str:
    return "".join(f"\\{ch}" if ch in _ESCAPED else ch for ch in text)


def _closing_run(line: str, start: int, length: int) -> int:
    """Index of the next run of exactly `length` backticks at or after `start`, or -1."""
    i = start
    while i < len(line):
        if line[i] != "`":
            i += 1
            continue
        end = i
        while end < len(line) and line[end] == "`":
            end += 1
        if end - i == length:
            return i
        i = end
    return -1


def _escape_line(line: str) -> str:
    """One line made inert. Code spans opened and closed on this line are kept as they are."""
    out: list[str] = []
    plain_from = i = 0
    while i < len(line):
        if line[i] != "`":
            i += 1
            continue
        end = i
        while end < len(line) and line[end] == "`":
            end += 1
        close = _closing_run(line, end, end - i)
        if close < 0:
            i = end  # an unmatched run stays in the plain text, where it is escaped
            continue
        out.append(_plain(line[plain_from:i]))
        out.append(line[i : close + end - i])
        i = plain_from = close + end - i
    out.append(_plain(line[plain_from:]))
    escaped = "".join(out)
    lead = len(escaped) - len(escaped.lstrip(" "))
    if escaped[lead : lead + 1] in ("/", "#", ">"):  # a quick action; a heading; a nested quote
        escaped = f"{escaped[:lead]}\\{escaped[lead:]}"
    return escaped


def inline(text: str | None, *, limit: int = 500) -> str:
    """One safe markdown line of at most `limit` characters: line breaks folded into spaces, guarded.

    The raw text is cut, never the guarded line: a cut through an escape or a code span would undo it.
    """
    if not text:
        return ""
    folded = _SPACES.sub(" ", " ".join(_lines(text))).strip()
    keep = limit
    line = _escape_line(_cap(folded, keep))
    while len(line) > limit and keep > 0:
        keep = max(0, keep - max(1, (len(line) - limit) // 2))
        line = _escape_line(_cap(folded, keep))
    return line if len(line) <= limit else ""


def code(text: str | None, *, limit: int = 500) -> str:
    """A file path or a command as one inline code span (nothing in it is interpreted)."""
    folded = _SPACES.sub(" ", " ".join(_lines(text or ""))).strip()
    if not folded:
        return ""
    folded = _cap(folded, limit)
    longest = max((len(run) for run in re.findall(r"`+", folded)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if folded.startswith("`") or folded.endswith("`") else ""
    return f"{fence}{pad}{folded}{pad}{fence}"


def bullet_items(items: Iterable[str | None], *, task: bool = False) -> list[str]:
    """`- item` lines (`- [ ] item` for a task list), each item one guarded line; empty items dropped."""
    mark = "- [ ] " if task else "- "
    return [f"{mark}{line}" for line in (inline(item) for item in items) if line]


def quote(lines: Iterable[str]) -> str:
    """Already-guarded markdown lines as one quoted block (`>` on every line, blank ones too)."""
    return "\n".join(f"> {line}" if line else ">" for line in lines)


def agent_text(text: str | None, *, limit: int = MAX_CHARS) -> str:
    """Multi-line agent or ticket text as a quoted block, every line guarded; "" when there is none.

    Callers leave a blank line after the block: markdown continues a quote onto the next line.
    """
    lines = [_escape_line(line) for line in _lines(_cap(text or "", limit))]
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return quote(lines)


def agent_list(items: Iterable[str | None], *, task: bool = False) -> str:
    """A list the agent wrote, as a quoted block of single-line items; "" when it is empty."""
    return quote(bullet_items(items, task=task))
