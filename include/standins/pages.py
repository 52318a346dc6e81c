"""HTML pages for people following a stand-in's web links, rendered from templates/ with Jinja2's
autoescaping (every value is escaped unless a template says otherwise; none does)."""

from __future__ import annotations

from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from standins.http import Response

#: Pages carry no scripts and load nothing: only the inline style of base.html.
CSP = "default-src 'none'; style-src 'unsafe-inline'"


@cache
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("standins", "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def page(template: str, status: int = 200, **values: Any) -> Response:
    """A rendered page as a stand-in response."""
    body = _environment().get_template(template).render(**values)
    return Response(
        status, body, content_type="text/html; charset=utf-8", headers={"Content-Security-Policy": CSP}
    )
