"""The GitLab client reads the environment once, when it is made, and still honours it: a request goes
through HTTP_PROXY unless NO_PROXY names the host, and REQUESTS_CA_BUNDLE is the CA bundle it verifies
with. (requests would otherwise read the environment again for every request.)"""

from __future__ import annotations

from typing import Any

import pytest

from nightshift.trackers.clients.gitlab import make_gitlab_client
from tests.support.loopback import JsonHandler, LoopbackServer


class RecordingProxy(LoopbackServer):
    """A forward proxy that answers every request itself, as GitLab's /version would, and records it."""

    thread_name = "recording-proxy"

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def handler(self) -> type[JsonHandler]:
        proxy = self

        class Handler(JsonHandler):
            def do_GET(self) -> None:
                proxy.seen.append(self.path)  # a proxied request names the whole URL
                self.send_json(200, {"version": "17.0.0", "revision": "proxy"})

        return Handler


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    return monkeypatch


def test_requests_go_through_the_proxy_from_the_environment(clean_env: pytest.MonkeyPatch) -> None:
    with RecordingProxy() as proxy:
        clean_env.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
        gl = make_gitlab_client("http://gitlab.invalid", "tok")
        clean_env.delenv("HTTP_PROXY")  # read when the client was made, not per request
        answer: Any = gl.http_get("/version")
        assert answer["revision"] == "proxy"
        assert proxy.seen == ["http://gitlab.invalid/api/v4/version"]
        assert gl.session.trust_env is False


def test_no_proxy_naming_the_host_bypasses_the_proxy(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    clean_env.setenv("NO_PROXY", "gitlab.internal,127.0.0.1")
    assert make_gitlab_client("http://gitlab.internal", "tok").session.proxies == {}
    assert make_gitlab_client("http://gitlab.example", "tok").session.proxies["http"] == "http://127.0.0.1:9"


def test_the_ca_bundle_from_the_environment_is_the_one_verified_with(
    clean_env: pytest.MonkeyPatch, tmp_path
) -> None:
    assert make_gitlab_client("https://gitlab.example", "tok").ssl_verify is True
    bundle = tmp_path / "corp-ca.pem"
    clean_env.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    assert make_gitlab_client("https://gitlab.example", "tok").ssl_verify == str(bundle)
