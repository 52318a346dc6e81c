"""The GitLab client, configured once: timeout, bounded retries, capped Retry-After; and error naming.

The Jira client (`clients/jira.py`) has the same shape: make_<x>_client, <x>_errors, describe_<x>.

Retries belong to python-gitlab alone (`retry_transient_errors=True`, `max_retries`): it re-sends after
5xx, connection errors and 429, sleeping for `Retry-After` when given (else 0.1 s, 0.2 s, 0.4 s, ...).
Two gaps are closed here rather than by another retry layer: `max_retries` is a per-call argument in
python-gitlab, so the client subclass applies the policy's bound to every call; and python-gitlab sleeps
for whatever `Retry-After`/`RateLimit-Reset` says, so a session hook caps it, making the total wait bounded.
The session is shared by the tracker's links workers (`trackers.gitlab`): its connection pool holds
`pool_size` connections per host, at least the workers, so none of them opens a fresh connection per call.

The environment (HTTP(S)_PROXY with NO_PROXY, REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE) is read once, when
the client is made: every request goes to the one GitLab host, so the answer cannot change between them,
and `requests` would otherwise read it again for each one (a scan of every environment variable and a
look for ~/.netrc: the intake of 10,000 issues took 30.2 s of CPU with that, 24.2 s without). A
~/.netrc is not used: the client always sends its token.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import gitlab
import requests
from gitlab.exceptions import GitlabAuthenticationError, GitlabError
from pydantic import BaseModel, ConfigDict, Field
from requests.adapters import HTTPAdapter

from nightshift.trackers.clients.http import describe_service, retry_after_seconds
from nightshift.trackers.errors import TrackerAuthError, TrackerError, TrackerUnavailable, error_class

__all__ = [
    "NO_BLIND_RETRY",
    "POOL_SIZE",
    "GitLabAccount",
    "PolicyGitlab",
    "TransportPolicy",
    "describe_gitlab",
    "gitlab_errors",
    "make_gitlab_client",
]

#: Pass to a python-gitlab `create()` whose POST must not be re-sent by the client's own retry: after a
#: lost response, `trackers.writes` looks before it re-sends.
NO_BLIND_RETRY: dict[str, Any] = {"retry_transient_errors": False}

#: Keep-alive connections per host in the client's session: >= the tracker's `LINK_WORKERS` (8).
POOL_SIZE = 16


class TransportPolicy(BaseModel):
    """How hard to try one GitLab request before giving up."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    timeout: float = Field(default=30.0, gt=0, le=600)  # seconds per attempt (connect and read)
    retries: int = Field(default=5, ge=0, le=20)  # re-sends after 429, 5xx or a lost connection
    max_retry_after: int = Field(default=60, ge=0, le=3600)  # cap on one server-requested wait

    def worst_case_wait(self) -> float:
        """Upper bound on the seconds one request spends sleeping between attempts."""
        return sum(max(float(self.max_retry_after), 0.1 * 2**k) for k in range(self.retries))

    def worst_case_duration(self) -> float:
        """Upper bound on one request's wall time: every attempt times out, every wait is the longest."""
        return self.worst_case_wait() + self.timeout * (self.retries + 1)


class PolicyGitlab(gitlab.Gitlab):
    """`gitlab.Gitlab` whose every request uses the policy's retry bound unless a call says otherwise."""

    def __init__(
        self,
        url: str,
        private_token: str,
        *,
        policy: TransportPolicy,
        session: requests.Session,
        ssl_verify: bool | str = True,
    ) -> None:
        self.policy = policy
        super().__init__(
            url,
            private_token=private_token,
            timeout=policy.timeout,
            retry_transient_errors=True,
            session=session,
            ssl_verify=ssl_verify,
        )

    def http_request(self, verb: str, path: str, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs.setdefault("max_retries", self.policy.retries)
        return super().http_request(verb, path, *args, **kwargs)


def make_gitlab_client(
    url: str,
    token: str,
    *,
    timeout: float = 30.0,
    retries: int = 5,
    max_retry_after: int = 60,
    pool_size: int = POOL_SIZE,
) -> PolicyGitlab:
    """A python-gitlab client for `url` authenticating with a private token, with the transport policy set.

    `pool_size` bounds the reused connections per host; threads beyond it still work, on new connections.
    """
    policy = TransportPolicy(timeout=timeout, retries=retries, max_retry_after=max_retry_after)
    session = requests.Session()
    for scheme in ("http://", "https://"):  # requests' own adapter (no retries), with a larger pool
        session.mount(scheme, HTTPAdapter(pool_maxsize=pool_size))
    session.hooks["response"].append(_cap_retry_after(policy.max_retry_after))
    session.trust_env = False  # the environment, read once for this host:
    session.proxies = requests.utils.get_environ_proxies(url)  # HTTP(S)_PROXY unless NO_PROXY names it
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    return PolicyGitlab(url, token, policy=policy, session=session, ssl_verify=bundle or True)


def _cap_retry_after(cap: int) -> Callable[..., requests.Response]:
    """A response hook rewriting the wait python-gitlab will honour as whole seconds in [0, cap]."""

    def hook(response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
        if response.status_code != 429 and response.status_code < 500:
            return response
        headers = response.headers
        wait = retry_after_seconds(headers.get("Retry-After"), headers.get("RateLimit-Reset"))
        headers.pop("RateLimit-Reset", None)
        if wait is None:
            headers.pop("Retry-After", None)  # unparseable: fall back to python-gitlab's backoff
        else:
            headers["Retry-After"] = str(min(cap, wait))
        return response

    return hook


def describe_gitlab(url: str, connection_id: str | None = None) -> str:
    """How error messages name the service: `GitLab at <url> (connection 'gitlab_default')`."""
    return describe_service("GitLab", url, connection_id)


@contextmanager
def gitlab_errors(url: str, action: str, connection_id: str | None = None) -> Iterator[None]:
    """Turn python-gitlab and transport failures into `trackers.errors`, naming the service and connection.

    The class follows the HTTP status (`error_class`): a refused token is a TrackerAuthError, as on Jira.
    """
    where = describe_gitlab(url, connection_id)
    try:
        yield
    except GitlabAuthenticationError as exc:
        raise TrackerAuthError(
            f"{where}: {action} failed: the token was rejected (401); check the connection's password/token"
        ) from exc
    except GitlabError as exc:
        code = exc.response_code
        kind = error_class(code)
        raise kind(f"{where}: {action} failed ({code or 'no response'}): {exc.error_message}") from exc
    except requests.RequestException as exc:
        raise TrackerUnavailable(f"{where}: {action} failed: {type(exc).__name__}: {exc}") from exc


class GitLabAccount:
    """A client and what every domain object on it needs: the connection's name for error messages, and
    the token's own user id (only notes and issues we wrote count as ours when looking for markers)."""

    def __init__(self, gl: gitlab.Gitlab, connection_id: str | None = None) -> None:
        self.gl = gl
        self.connection_id = connection_id
        self._user_id: int | None = None

    def errors(self, action: str) -> AbstractContextManager[None]:
        return gitlab_errors(self.gl.url, action, self.connection_id)

    def user_id(self) -> int:
        if self._user_id is None:
            self.gl.auth()
            if self.gl.user is None:
                raise TrackerError(
                    f"{describe_gitlab(self.gl.url, self.connection_id)}: GET /user returned no user"
                )
            self._user_id = int(self.gl.user.id)
        return self._user_id
