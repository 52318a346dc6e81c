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


def test_airflow_connections_in_the_environment():
    env = {
        "AIRFLOW_CONN_REDIS": "redis://:pw-redis-1234@redis:6379/0",
        "AIRFLOW_CONN_JIRA": "jira://u%40x:p%2Fw-jira-99@jira.example.com/?api_key=extra-key-5678&timeout=30",
        "AIRFLOW_CONN_GL": '{"conn_type": "gitlab", "password": "pw-json-4321", "extra": "{\\"token\\": \\"tok-json-8765\\"}"}',
    }
    values = secret_values(env)
    for expected in ("pw-redis-1234", "p%2Fw-jira-99", "p/w-jira-99", "extra-key-5678", "pw-json-4321",
                     "tok-json-8765", env["AIRFLOW_CONN_GL"]):
        assert expected in values, expected
    assert "30" not in values
    red = Redactor.from_environ(env)
    assert red.text("pw p/w-jira-99 and tok-json-8765") == f"pw {REDACTED} and {REDACTED}"


def test_passwords_in_any_url_and_registered_values():
    red = Redactor()
    assert red.text("redis://:hunter2hunter2@redis:6379/0") == f"redis://:{REDACTED}@redis:6379/0"
    assert red.text("amqp://u:p@rabbit/") == f"amqp://u:{REDACTED}@rabbit/"
    assert red.text("https://gitlab.example.com/a/b@c") == "https://gitlab.example.com/a/b@c"
    red.add(["registered-secret-1"])
    assert red.text("x registered-secret-1") == f"x {REDACTED}"
