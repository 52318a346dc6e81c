"""Build a `jira.JIRA` client whose transport is configured once, here; and name its errors.

The GitLab client (`clients/gitlab.py`) has the same shape: make_<x>_client, <x>_errors, describe_<x>.

The jira library (3.10.x) retries inside its own `ResilientSession`; Nightshift adds no retry loop on top
(docs/security-and-reliability.md: don't stack retries). What that session does, and how it is bounded here:

* 429 and 503 are retried, up to `max_retries` times. With a `Retry-After: N` header it sleeps
  `min(max_retry_delay, 2*N) * uniform(0.5, 1)` -- at least N seconds whenever 2*N <= max_retry_delay;
  a 429 without the header backs off `10 * 2**attempt` seconds, capped by `max_retry_delay`; a 503
  without the header is not retried. So the give-up time is at most
  `(max_retries + 1) * timeout + max_retries * max_retry_delay`.
* The library parses Retry-After with `int()`, so the HTTP-date form would crash it: a response hook
  rewrites that form (and garbage values) before the library sees it.
* Connection errors are retried for every method, POST included. A POST whose connection broke after it
  was sent may have been applied (a comment posted), and re-sending it blindly duplicates the comment
  (fact 4). A transport adapter therefore turns such errors into `AmbiguousWriteError`, which the library
  does not retry; `trackers.writes` then checks whether the write happened before it re-sends once.
  Connection errors before anything was sent (refused, connect timeout) stay retryable.
* Every request carries `timeout`; a read timeout is not retried by the library.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests
from jira import JIRA, JIRAError
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError, NewConnectionError

from nightshift.trackers.clients.http import describe_service, retry_after_seconds
from nightshift.trackers.errors import (
    TrackerAuthError,
    TrackerConfigError,
    TrackerError,
    TrackerUnavailable,
    error_class,
)

log = logging.getLogger(__name__)

__all__ = ["AmbiguousWriteError", "describe_jira", "jira_errors", "make_jira_client"]

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


class AmbiguousWriteError(requests.exceptions.RequestException):
    """A non-idempotent request failed after it may have reached the server: check before re-sending."""


class _NoBlindResendAdapter(HTTPAdapter):
    """Stop the library re-sending a POST whose connection broke after it was sent."""

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        try:
            return super().send(request, *args, **kwargs)
        except requests.exceptions.ConnectionError as exc:
            if (request.method or "GET").upper() in _SAFE_METHODS or _never_sent(exc):
                raise
            raise AmbiguousWriteError(
                f"{request.method} {request.url} failed after it may have been sent "
                f"({exc.__class__.__name__})",
                request=request,
            ) from exc


def _never_sent(exc: requests.exceptions.ConnectionError) -> bool:
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    reason = exc.args[0] if exc.args else None
    if isinstance(reason, MaxRetryError):
        reason = reason.reason
    return isinstance(reason, NewConnectionError)


def _normalise_retry_after(response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
    """Response hook: give the library a Retry-After it can parse (it calls int() on it)."""
    value = response.headers.get("Retry-After")
    if value is not None:
        seconds = retry_after_seconds(value)
        if seconds is None:
            del response.headers["Retry-After"]
        else:
            response.headers["Retry-After"] = str(seconds)
    return response


def describe_jira(url: str, connection_id: str | None = None) -> str:
    """How errors name the service: `Jira at https://... (connection 'jira_default')`."""
    return describe_service("Jira", url, connection_id)


def make_jira_client(
    url: str,
    *,
    user: str | None = None,
    password: str | None = None,
    token: str | None = None,
    cloud: bool | None = None,
    timeout: float | tuple[float, float] = 30.0,
    max_retries: int = 3,
    max_retry_delay: float = 60.0,
    connection_id: str | None = None,
    validate: bool = True,
) -> JIRA:
    """A `jira.JIRA` for `url`: basic auth (`user` + `password`, or e-mail + API token on Cloud) or a
    bearer personal access token (`token`, Server/DC).

    `cloud=None` detects the deployment from serverInfo; Cloud clients talk REST v3 (ADF), Server/DC
    clients REST v2 (wiki markup). With `validate`, the credentials are checked once (GET myself) so a
    bad password fails here (TrackerAuthError), naming the connection. Raises `trackers.errors`.
    """
    url = url.rstrip("/")
    service = describe_jira(url, connection_id)
    if max_retries < 0 or max_retry_delay < 0:
        raise TrackerConfigError(f"{service}: max_retries and max_retry_delay must not be negative")
    if user is not None and password is None:
        raise TrackerConfigError(f"{service}: a user name needs a password or API token")
    if token is not None and user is not None:
        raise TrackerConfigError(f"{service}: use either basic auth (user + password) or a token, not both")
    if password is not None and user is None:
        raise TrackerConfigError(f"{service}: a password needs a user name (pass a bearer token as token=)")
    client = JIRA(
        server=url,
        options={"rest_api_version": "3" if cloud else "2", "check_update": False},
        basic_auth=(user, password) if user is not None and password is not None else None,
        token_auth=token,
        get_server_info=False,  # fetched below, once the transport is configured
        max_retries=max_retries,
        timeout=timeout,
    )
    session = client._session  # the library's ResilientSession: configured here, once
    session.max_retry_delay = max_retry_delay  # type: ignore[assignment]
    session.hooks["response"].append(_normalise_retry_after)
    adapter = _NoBlindResendAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)

    # What JIRA(get_server_info=True) does, after the transport is configured rather than before it.
    try:
        with jira_errors(service, "connecting"):
            info = client.server_info()
            client._version = tuple(info["versionNumbers"])
            detected = str(info.get("deploymentType") or "Server")
            is_cloud = detected == "Cloud" if cloud is None else cloud
            if cloud is not None and cloud != (detected == "Cloud"):
                log.warning(
                    "%s reports deploymentType %r but the connection says %s; using the connection's",
                    service,
                    detected,
                    "cloud" if cloud else "server",
                )
            client.deploymentType = "Cloud" if is_cloud else (detected if detected != "Cloud" else "Server")
            client._options["rest_api_version"] = "3" if is_cloud else "2"
            if validate:
                client.myself()
    except (KeyError, TypeError, ValueError) as exc:
        raise TrackerError(f"{service} answered serverInfo with something that is not Jira's") from exc
    return client


def _error_text(exc: JIRAError) -> str:
    text = (exc.text or "").strip().replace("\n", " ")
    return text[:300] + ("..." if len(text) > 300 else "")


@contextmanager
def jira_errors(service: str, action: str) -> Iterator[None]:
    """Turn the library's and the transport's failures into `trackers.errors` naming the service."""
    try:
        yield
    except JIRAError as exc:
        raise jira_error(exc, service, action) from exc
    except requests.exceptions.RequestException as exc:
        raise request_error(exc, service, action) from exc


def jira_error(exc: JIRAError, service: str, action: str) -> TrackerError:
    """The error naming the service and what failed (never the request headers or credentials); its
    class follows the HTTP status (`error_class`), as on GitLab."""
    status = exc.status_code
    text = _error_text(exc)
    if status in (401, 403):
        return TrackerAuthError(
            f"{service} refused the credentials while {action} (HTTP {status}){': ' + text if text else ''}; "
            "check the connection's login, password or token"
        )
    if status == 400 and "jql" in text.lower():
        return TrackerConfigError(f"{service} rejected the JQL while {action}: {text}")
    if status == 400:
        return TrackerConfigError(f"{service} rejected the request while {action} (HTTP 400): {text}")
    detail = f"HTTP {status}" if status else "error"
    return error_class(status)(f"{service} failed while {action} ({detail}){': ' + text if text else ''}")


def request_error(exc: requests.exceptions.RequestException, service: str, action: str) -> TrackerError:
    """A TrackerUnavailable for transport failures: refused, timed out, dropped (a write's outcome is
    unknown; a refused connection sent nothing, which the write helper's look-up then shows)."""
    if isinstance(exc, requests.exceptions.Timeout):
        what = "did not answer in time"
    elif isinstance(exc, AmbiguousWriteError):
        what = "dropped the connection after the request was sent"
    elif isinstance(exc, requests.exceptions.ConnectionError):
        what = "could not be reached"
    else:
        what = "failed"
    return TrackerUnavailable(f"{service} {what} while {action} ({exc.__class__.__name__})")
