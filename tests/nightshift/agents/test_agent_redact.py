"""Redaction of secrets in evidence."""

from __future__ import annotations

from nightshift.agents.redact import REDACTED, Redactor, secret_values


def test_values_of_secret_looking_variables():
    env = {"GITLAB_TOKEN": "tok-1234567890", "MY_API_KEY": "k-abcdefgh", "PASSWORD": "short",
           "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql://u:pw-123456@db/x", "PATH": "/usr/bin:/bin"}
    assert sorted(secret_values(env)) == ["k-abcdefgh", "postgresql://u:pw-123456@db/x", "tok-1234567890"]
    red = Redactor.from_environ(env)
    assert red.text("x tok-1234567890 y k-abcdefgh /usr/bin") == f"x {REDACTED} y {REDACTED} /usr/bin"


def test_token_shapes():
    red = Redactor()
    samples = [
        "glpat-" + "a" * 20, "glrt-" + "b" * 20, "ghp_" + "c" * 36, "github_pat_" + "d" * 40, "sk-" + "e" * 32,
        "sk-ant-api03-" + "f" * 40, "xoxb-1234567890-abc", "AKIAABCDEFGHIJKLMNOP",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ0YXNrIn0.c2lnbmF0dXJlLXZhbHVl",
        "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----",
    ]
    for sample in samples:
        out = red.text(f"before {sample} after")
        assert sample not in out and REDACTED in out, sample
    assert red.text("Authorization: Bearer abcdefghijklmnopqrstuvwx") == f"Authorization: Bearer {REDACTED}"
    assert red.text("https://oauth2:secretvalue@gitlab.example.com/x") == f"https://oauth2:{REDACTED}@gitlab.example.com/x"
    assert red.text("glpat-short and sk-tiny and plain text") == "glpat-short and sk-tiny and plain text"


def test_nested_values():
    red = Redactor(["supersecret-value"])
    data = {"a": ["supersecret-value", 1, {"b": "x supersecret-value"}], "n": None}
    assert red.value(data) == {"a": [REDACTED, 1, {"b": f"x {REDACTED}"}], "n": None}
