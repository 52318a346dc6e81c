"""The JQL subset the stand-in understands: a tokenizer and a recursive-descent parser. Anything else
is a JqlError (Jira's 400), never silently ignored."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal


class JqlError(ValueError):
    """A JQL query the stand-in rejects; answered as 400 with Jira's error shape."""


_TOKEN = re.compile(
    r"""\s+|(?P<lparen>\()|(?P<rparen>\))|(?P<comma>,)|(?P<op>!=|!~|>=|<=|=|~|>|<)"""
    r"""|(?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(?P<word>[^\s(),=!~<>"']+)"""
)


_KEYWORDS = {"and", "or", "not", "in", "is", "empty", "null", "order", "by", "asc", "desc"}


_EQ = {"=", "!=", "in", "not in"}


_FIELD_OPERATORS: dict[str, set[str]] = {
    "project": _EQ,
    "labels": _EQ | {"is", "is not"},
    "status": _EQ,
    "statuscategory": _EQ,
    "key": _EQ,
    "priority": _EQ,
    "issuetype": _EQ,
    "component": _EQ | {"is", "is not"},
    "text": {"~"},
    "summary": {"~", "!~"},
    "description": {"~", "!~"},
    "comment": {"~", "!~"},
}


FIELD_ALIASES = {"issuekey": "key", "id": "key", "type": "issuetype", "category": "statuscategory"}


SORT_FIELDS = {"priority", "created", "key", "issuekey", "updated"}


@dataclass
class _Token:
    kind: str  # lparen rparen comma op string word end
    value: str
    pos: int


@dataclass
class Clause:
    field: str
    op: str
    values: list[str | None]  # None is EMPTY


@dataclass
class BoolNode:
    op: Literal["and", "or", "not"]
    children: list[Any]


@dataclass
class JqlQuery:
    where: Any  # Clause | BoolNode | None
    order: list[tuple[str, bool]]  # (field, descending)


def _tokens(query: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(query):
        m = _TOKEN.match(query, pos)
        if m is None:
            if query[pos] in "\"'":
                raise JqlError(f"The quoted string {query[pos:]} has not been completed.")
            raise JqlError(f"Unexpected character {query[pos]!r} at position {pos}.")
        if m.lastgroup:
            value = m.group(m.lastgroup)
            if m.lastgroup == "string":
                value = re.sub(r"\\(.)", r"\1", value[1:-1])
            tokens.append(_Token(m.lastgroup, value, pos))
        pos = m.end()
    tokens.append(_Token("end", "", len(query)))
    return tokens


class JqlParser:
    """query := [or] [ORDER BY field [ASC|DESC] {, ...}]; or := and {OR and}; and := not {AND not};
    not := NOT not | '(' or ')' | field op value | field [NOT] IN (v, ...) | field IS [NOT] EMPTY."""

    def __init__(self, query: str) -> None:
        self.tokens = _tokens(query)
        self.i = 0

    def peek(self) -> _Token:
        return self.tokens[self.i]

    def take(self) -> _Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def is_word(self, *words: str) -> bool:
        token = self.peek()
        return token.kind == "word" and token.value.lower() in words

    def expect_word(self, word: str) -> None:
        if not self.is_word(word):
            raise JqlError(
                f"Expecting '{word.upper()}' but got '{self.peek().value or 'the end of the query'}'."
            )
        self.take()

    def parse(self) -> JqlQuery:
        where = None
        if not self.is_word("order") and self.peek().kind != "end":
            where = self.parse_or()
        order: list[tuple[str, bool]] = []
        if self.is_word("order"):
            self.take()
            self.expect_word("by")
            while True:
                token = self.take()
                if token.kind not in ("word", "string"):
                    raise JqlError(
                        f"Expecting a field name in the ORDER BY but got '{token.value or 'the end'}'."
                    )
                name = token.value.lower()
                if name not in SORT_FIELDS:
                    raise JqlError(
                        f"the Jira stand-in cannot ORDER BY '{token.value}' "
                        f"(it sorts by {', '.join(sorted(SORT_FIELDS))})."
                    )
                descending = False
                if self.is_word("asc", "desc"):
                    descending = self.take().value.lower() == "desc"
                order.append(("key" if name == "issuekey" else name, descending))
                if self.peek().kind != "comma":
                    break
                self.take()
        if self.peek().kind != "end":
            raise JqlError(f"Expecting either 'OR' or 'AND' but got '{self.peek().value}'.")
        return JqlQuery(where, order)

    def parse_or(self) -> Any:
        children = [self.parse_and()]
        while self.is_word("or"):
            self.take()
            children.append(self.parse_and())
        return children[0] if len(children) == 1 else BoolNode("or", children)

    def parse_and(self) -> Any:
        children = [self.parse_not()]
        while self.is_word("and"):
            self.take()
            children.append(self.parse_not())
        return children[0] if len(children) == 1 else BoolNode("and", children)

    def parse_not(self) -> Any:
        if self.is_word("not"):
            self.take()
            return BoolNode("not", [self.parse_not()])
        if self.peek().kind == "lparen":
            self.take()
            node = self.parse_or()
            if self.peek().kind != "rparen":
                raise JqlError(f"Expecting ')' but got '{self.peek().value or 'the end of the query'}'.")
            self.take()
            return node
        return self.parse_clause()

    def parse_clause(self) -> Clause:
        token = self.take()
        if token.kind not in ("word", "string") or (
            token.kind == "word" and token.value.lower() in _KEYWORDS
        ):
            raise JqlError(f"Expecting a field name but got '{token.value or 'the end of the query'}'.")
        name = token.value.lower().replace(" ", "")
        name = FIELD_ALIASES.get(name, name)
        if name not in _FIELD_OPERATORS:
            raise JqlError(
                f"Field '{token.value}' is not supported by the Jira stand-in "
                f"(it understands {', '.join(sorted(_FIELD_OPERATORS))})."
            )
        op_token = self.peek()
        if op_token.kind == "op":
            op = self.take().value
        elif self.is_word("in"):
            self.take()
            op = "in"
        elif self.is_word("not"):
            self.take()
            self.expect_word("in")
            op = "not in"
        elif self.is_word("is"):
            self.take()
            op = "is"
            if self.is_word("not"):
                self.take()
                op = "is not"
        else:
            raise JqlError(f"Expecting operator but got '{op_token.value or 'the end of the query'}'.")
        if op not in _FIELD_OPERATORS[name]:
            raise JqlError(f"The operator '{op}' is not supported by the '{token.value}' field.")
        values: list[str | None]
        if op in ("in", "not in"):
            if self.peek().kind != "lparen":
                raise JqlError(f"Expecting '(' after '{op.upper()}' but got '{self.peek().value}'.")
            self.take()
            values = [self.parse_value()]
            while self.peek().kind == "comma":
                self.take()
                values.append(self.parse_value())
            if self.peek().kind != "rparen":
                raise JqlError(f"Expecting ')' but got '{self.peek().value or 'the end of the query'}'.")
            self.take()
        elif op in ("is", "is not"):
            if not self.is_word("empty", "null"):
                raise JqlError(f"Expecting 'EMPTY' after '{op.upper()}' but got '{self.peek().value}'.")
            self.take()
            values = [None]
        else:
            values = [self.parse_value()]
        return Clause(name, op, values)

    def parse_value(self) -> str:
        token = self.take()
        if token.kind == "string":
            return token.value
        if token.kind != "word" or token.value.lower() in _KEYWORDS:
            raise JqlError(f"Expecting a value but got '{token.value or 'the end of the query'}'.")
        if self.peek().kind == "lparen":
            raise JqlError(f"the Jira stand-in does not support JQL functions such as '{token.value}()'.")
        return token.value


def parse_jql(query: str) -> JqlQuery:
    """Parse the JQL subset; raises JqlError naming what it did not understand."""
    return JqlParser(query).parse()
