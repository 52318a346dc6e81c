"""The review page, a FastAPI app mounted by the Nightshift plugin at `/nightshift` on the api-server.

Routes (the MR notes link here through `nightshift.review.links.review_page_url`):
    /nightshift/                         the batch picker (newest first)
    /nightshift/batches?batch=<id>       the picker's form target: redirects to the batch page
    /nightshift/batches/<batch_id>       one batch: queue, details, escalations, manifest, metrics
    /nightshift/runs/<dag_id>/<run_id>   a DAG run's batch (the "Review queue" tab on a run)

Every route depends on Airflow's own authentication and authorisation (read access to the batch DAG's
runs): no token or `_token` cookie → 401, a user without that permission → 403. Pages are rendered
by Jinja2 with autoescaping, under a strict Content-Security-Policy (no script at all, styles only
with a per-response nonce, images only from the page itself), and load nothing from elsewhere.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import jinja2
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from nightshift.config import DAG_ID
from nightshift.review.links import REVIEW_PREFIX

TEMPLATES = Path(__file__).with_name("templates")

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(TEMPLATES)),
    autoescape=True,  # every template, whatever its extension
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def csp(nonce: str | None = None) -> str:
    style = f"'nonce-{nonce}'" if nonce else "'none'"
    return (
        "default-src 'none'; "
        f"style-src {style}; "
        "img-src 'self' data:; "
        "base-uri 'none'; "
        "form-action 'self'; "
        "frame-ancestors 'self'"
    )


def _authorised() -> Any:
    """Airflow's check: the user may read runs of the batch DAG."""
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
    from airflow.api_fastapi.core_api.security import requires_access_dag

    return requires_access_dag("GET", DagAccessEntity.RUN, param_dag_id=DAG_ID)


def create_review_app() -> FastAPI:
    """The app, light to import: every process that loads plugins builds it, but only the api-server
    starts it. Its routes, with Airflow's (heavy) security dependencies, are added at start-up; an app
    that was never started serves nothing."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not getattr(app.state, "routes_added", False):
            app.include_router(_router())
            app.state.routes_added = True
        yield

    app = FastAPI(
        title="Nightshift review", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan
    )

    @app.middleware("http")
    async def _headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", csp())
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.exception_handler(StarletteHTTPException)
    async def _refused(request: Request, exc: StarletteHTTPException) -> Response:
        """401/403 as a page a reviewer coming from an MR note can act on (a sign-in link), nothing else."""
        if exc.status_code not in (401, 403):
            return await http_exception_handler(request, exc)
        login = _login_url(request) if exc.status_code == 401 else None
        message = (
            "Sign-in required" if exc.status_code == 401 else "You may not read the Nightshift batch runs"
        )
        page = _page(
            request,
            "refused.html",
            batches=[],
            current=None,
            status=exc.status_code,
            message=message,
            login_url=login,
        )
        page.status_code = exc.status_code
        if exc.headers:
            page.headers.update(exc.headers)
        return page

    return app


def _login_url(request: Request) -> str | None:
    """Airflow's login page, coming back here after; only a path on this server is offered."""
    try:
        from airflow.api_fastapi.app import get_auth_manager

        url = get_auth_manager().get_url_login(next_url=str(request.url.path))
    except Exception:  # no auth manager in this process: no link
        return None
    parts = urlsplit(url)
    return url if not parts.scheme and not parts.netloc and url.startswith("/") else None


def _router() -> APIRouter:
    router = APIRouter(dependencies=[Depends(_authorised())])

    @router.get("/", response_class=HTMLResponse)
    def index(request: Request) -> Response:
        from nightshift_airflow.review_app.data import batch_summaries

        return _page(request, "index.html", batches=batch_summaries(), current=None)

    @router.get("/batches")
    def pick(request: Request, batch: str = "") -> Response:
        from nightshift.models import check_batch_id

        try:
            check_batch_id(batch)
        except ValueError:
            raise HTTPException(400, "choose a batch") from None
        return RedirectResponse(f"{_root(request)}/batches/{quote(batch, safe='')}", status_code=303)

    @router.get("/batches/{batch_id}", response_class=HTMLResponse)
    def batch_page(request: Request, batch_id: str) -> Response:
        from nightshift_airflow.review_app.data import BatchNotFound, batch_summaries, page_context

        try:
            context = page_context(batch_id, airflow_base=_airflow_base())
        except BatchNotFound as exc:
            raise HTTPException(404, str(exc)) from None
        return _page(request, "batch.html", batches=batch_summaries(), current=batch_id, **context)

    @router.get("/runs/{dag_id}/{run_id}")
    def run_page(request: Request, dag_id: str, run_id: str) -> Response:
        from nightshift_airflow.review_app.data import batch_of_run

        batch_id = batch_of_run(dag_id, run_id)
        if batch_id is None:
            raise HTTPException(404, f"no Nightshift batch for run {run_id} of {dag_id}")
        return RedirectResponse(f"{_root(request)}/batches/{quote(batch_id, safe='')}", status_code=303)

    return router


def _root(request: Request) -> str:
    """The app's own prefix as the client sees it (the mount point, below any api-server base path)."""
    return str(request.scope.get("root_path") or REVIEW_PREFIX).rstrip("/")


def _airflow_base() -> str:
    """Links into the Airflow UI stay on this server: the path of `[api] base_url`, no host."""
    from airflow.configuration import conf

    return urlsplit(conf.get("api", "base_url", fallback="") or "").path.rstrip("/")


def _page(request: Request, template: str, **context: Any) -> HTMLResponse:
    nonce = secrets.token_urlsafe(16)
    html = _env.get_template(template).render(root=_root(request), nonce=nonce, **context)
    return HTMLResponse(html, headers={"Content-Security-Policy": csp(nonce)})
