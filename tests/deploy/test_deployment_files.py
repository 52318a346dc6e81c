"""The distributed deployment's files, checked statically (no Docker engine needed): Dockerfile,
docker-compose.yaml, .dockerignore, requirements-deploy.txt / constraints-deploy.txt, deploy/.env.example.

Each test states one property the deployment relies on, and reads the files the way Docker and Compose
would (YAML anchors and merge keys resolved, `$$` as a literal dollar, Dockerfile line continuations).
"""

from __future__ import annotations

import ast
import fnmatch
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yaml"
DOCKERFILE = REPO / "Dockerfile"
ENV_EXAMPLE = REPO / "deploy" / ".env.example"

AIRFLOW_COMMANDS = {
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-triggerer": "triggerer",
    "airflow-worker": "celery worker",
}
ARTIFACTS_PATH = "/opt/airflow/nightshift/artifacts"
WORK_PATH = "/opt/airflow/nightshift/work"


# --------------------------------------------------------------------------- helpers


def compose() -> dict[str, Any]:
    # A trusted file of this repository: safe_load resolves its anchors (&airflow-common) and merge keys.
    return yaml.safe_load(COMPOSE.read_text())


def services() -> dict[str, dict[str, Any]]:
    return compose()["services"]


def airflow_services() -> dict[str, dict[str, Any]]:
    return {name: svc for name, svc in services().items() if name.startswith("airflow-")}


def strings(node: Any) -> list[str]:
    """Every string in the parsed file (keys and values): what Compose interpolates. Comments are not."""
    if isinstance(node, dict):
        return [s for k, v in node.items() for s in (*strings(k), *strings(v))]
    if isinstance(node, list):
        return [s for item in node for s in strings(item)]
    return [node] if isinstance(node, str) else []


def interpolate(node: Any, values: dict[str, str]) -> Any:
    """Compose's interpolation of `${VAR}`, `${VAR:-default}`, `${VAR:?message}` and `$$`."""
    if isinstance(node, dict):
        return {interpolate(k, values): interpolate(v, values) for k, v in node.items()}
    if isinstance(node, list):
        return [interpolate(item, values) for item in node]
    if not isinstance(node, str):
        return node

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group(1), match.group(2) or "", match.group(3) or ""
        value = values.get(name, "")
        if op == ":?" and not value:
            raise KeyError(f"required variable {name} is missing a value: {arg}")
        return value if value or op != ":-" else arg

    return re.sub(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:[-?])([^}]*))?\}", one, node)


def rendered() -> dict[str, Any]:
    """The compose file as `docker compose config` would show it with the example .env, secrets filled."""
    values = {k: v or f"example-{k.lower()}" for k, v in env_example().items()}
    return interpolate(compose(), values)


def command_text(service: dict[str, Any]) -> str:
    cmd = service.get("command", "")
    return " ".join(cmd) if isinstance(cmd, list) else str(cmd)


def compose_variables(text: str) -> dict[str, str]:
    """`${NAME...}` references as Compose interpolates them: name -> the operator and default/message
    (`:-x`, `:?msg`, or ""). `$${...}` is an escaped literal for the container's shell, not a variable."""
    found: dict[str, str] = {}
    for match in re.finditer(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)((?::?[-?+])[^}]*)?\}", text):
        found.setdefault(match.group(1), match.group(2) or "")
    return found


def unbraced_variables(text: str) -> list[str]:
    """`$NAME` without braces (Compose would interpolate it too); `$$NAME` is escaped."""
    return re.findall(r"(?<!\$)\$(?!\$)([A-Za-z_][A-Za-z0-9_]*)", re.sub(r"\$\$", "", text))


def env_example() -> dict[str, str]:
    """The assignments of deploy/.env.example (comments and blank lines skipped)."""
    out: dict[str, str] = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, sep, value = line.partition("=")
        assert sep, f".env.example line is not NAME=value: {line!r}"
        out[name.strip()] = value.strip()
    return out


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out: list[tuple[str, str]] = []
    buffer = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not buffer and (not line or line.startswith("#")):
            continue
        if buffer and line.startswith("#"):
            continue
        if line.endswith("\\"):
            buffer += line[:-1] + " "
            continue
        buffer += line
        keyword, _, args = buffer.partition(" ")
        out.append((keyword.upper(), args.strip()))
        buffer = ""
    return out


def run_steps_as_user() -> list[tuple[str, str]]:
    """Every RUN command with the USER in effect when it runs (the base image's default: airflow)."""
    user = "airflow"
    steps = []
    for keyword, args in dockerfile_instructions():
        if keyword == "USER":
            user = args
        elif keyword == "RUN":
            steps.append((user, args))
    return steps


def pins(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        assert sep, f"{path.name}: not an exact pin: {line!r}"
        out[re.sub(r"[-_.]+", "-", name.strip()).lower()] = version.strip()
    return out


def dockerignore_excludes(relpath: str) -> bool:
    """Docker's rule: the last matching pattern wins; `!` re-includes; a pattern matching a directory
    applies to everything below it."""
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    parts = relpath.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pat = pattern[1:] if negate else pattern
        pat = pat.rstrip("/")
        alternatives = [pat, pat[3:]] if pat.startswith("**/") else [pat]
        if any(fnmatch.fnmatchcase(c, p) for c in candidates for p in alternatives):
            excluded = not negate
    return excluded


def volume_mounts(service: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """container path -> (source, mode) for short-syntax volume entries."""
    out = {}
    for entry in service.get("volumes", []):
        source, target, *mode = entry.split(":")
        out[target] = (source, mode[0] if mode else "rw")
    return out


# --------------------------------------------------------------------------- compose: images and services


def test_every_airflow_component_is_a_service_of_the_one_image() -> None:
    svcs = airflow_services()
    assert {n: command_text(s) for n, s in svcs.items() if n in AIRFLOW_COMMANDS} == AIRFLOW_COMMANDS
    assert "airflow-init" in svcs
    builds = {n: s.get("build") for n, s in svcs.items()}
    images = {n: s.get("image") for n, s in svcs.items()}
    assert set(map(repr, builds.values())) == {repr({"context": ".", "dockerfile": "Dockerfile"})}, builds
    assert len(set(images.values())) == 1 and None not in images.values(), images
    assert (REPO / "Dockerfile").is_file()


def test_third_party_images_are_pinned_and_not_built() -> None:
    for name in ("postgres", "redis"):
        svc = services()[name]
        assert "build" not in svc
        image = svc["image"]
        assert ":" in image and not image.endswith(":latest"), f"{name}: pin a version tag, not {image!r}"


def test_ports_are_published_on_loopback_only() -> None:
    published = {}
    for name, svc in rendered()["services"].items():
        assert svc.get("network_mode") != "host", f"{name} uses the host network"
        for port in svc.get("ports", []):
            if isinstance(port, dict):
                host_ip = port.get("host_ip")
            else:
                parts = str(port).split(":")
                host_ip = parts[0] if len(parts) == 3 else None
            assert host_ip == "127.0.0.1", f"{name} publishes {port!r} beyond loopback"
            published[name] = port
    # The UI/API is the one thing to reach from the host; the DB and the broker stay inside.
    assert set(published) == {"airflow-apiserver"}, published
    assert str(published["airflow-apiserver"]).endswith(":8080")


def test_init_migrates_then_creates_the_agents_pool_the_dag_and_config_use() -> None:
    init = services()["airflow-init"]
    script = command_text(init)
    migrate = script.index("airflow db migrate")
    pool_cmd = re.search(r"airflow pools set \$\$\(python -m nightshift config pool\) ", script)
    assert pool_cmd, "the init service must size the pool from the config (`nightshift config pool`)"
    assert migrate < pool_cmd.start(), "the pool can only be created after the migration"
    config_file = REPO / "include" / "nightshift" / "defaults" / "nightshift.yaml"
    printed = subprocess.run(
        [sys.executable, "-m", "nightshift", "config", "pool", str(config_file)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.split()
    assert printed == ["nightshift_agents", "3"]
    pool = printed[0]

    # One source of truth: the DAG takes the pool's name from nightshift.config (never its own literal),
    # and the config file has no second name for it; its slots are batch.parallel_agents.
    from nightshift.config import AGENTS_POOL

    dag = ast.parse((REPO / "dags" / "nightly_batch.py").read_text())
    imported = {
        alias.name
        for node in dag.body
        if isinstance(node, ast.ImportFrom) and node.module == "nightshift.config"
        for alias in node.names
    }
    assert "AGENTS_POOL" in imported
    assert not any(
        isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "AGENTS_POOL" for t in node.targets)
        for node in dag.body
    )
    config = yaml.safe_load((REPO / "include" / "nightshift" / "defaults" / "nightshift.yaml").read_text())
    assert "pool" not in (config.get("generation") or {})
    assert pool == AGENTS_POOL == "nightshift_agents"
    assert init.get("restart") == "no", "a one-shot service must not be restarted after it completes"


def test_services_start_in_order_and_report_health() -> None:
    svcs = services()
    for name in ("postgres", "redis", *AIRFLOW_COMMANDS):
        assert "test" in svcs[name].get("healthcheck", {}), f"{name} has no healthcheck"
    for name, svc in airflow_services().items():
        deps = svc["depends_on"]
        assert deps["postgres"]["condition"] == "service_healthy", name
        assert deps["redis"]["condition"] == "service_healthy", name
        if name != "airflow-init":
            assert deps["airflow-init"]["condition"] == "service_completed_successfully", name
            assert svc.get("restart") in ("always", "unless-stopped"), name
    # Task processes talk to the Execution API: the worker waits for a healthy api-server.
    assert svcs["airflow-worker"]["depends_on"]["airflow-apiserver"]["condition"] == "service_healthy"
    assert svcs["airflow-scheduler"]["environment"]["AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK"] == "True"


# --------------------------------------------------------------------------- compose: executor, DB, secrets


def test_celery_executor_and_postgres_urls_are_consistent() -> None:
    pg = services()["postgres"]["environment"]
    for name, svc in airflow_services().items():
        env = svc["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        db = env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        match = re.fullmatch(
            r"postgresql\+psycopg2://(\$\{[^}]+\}):(\$\{[^}]+\})@([\w-]+):5432/(\$\{[^}]+\})", db
        )
        assert match, f"{name}: not a postgres URL: {db}"
        user, password, host, database = match.groups()
        assert host == "postgres" and host in services()
        assert user == pg["POSTGRES_USER"] and password == pg["POSTGRES_PASSWORD"]
        assert database == pg["POSTGRES_DB"]
        assert env["AIRFLOW__CELERY__RESULT_BACKEND"] == f"db+{db}", name
        assert "${REDIS_PASSWORD:?" in env["AIRFLOW__CELERY__BROKER_URL"], (
            f"{name}: the broker needs its password"
        )
        broker = urlsplit(rendered()["services"][name]["environment"]["AIRFLOW__CELERY__BROKER_URL"])
        assert broker.scheme == "redis" and broker.hostname == "redis" and broker.port == 6379, name
        assert broker.password == "example-redis_password", name


def test_execution_api_url_points_at_the_api_server_service() -> None:
    for name, svc in airflow_services().items():
        url = urlsplit(svc["environment"]["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"])
        assert url.path == "/execution/", name
        assert command_text(services()[url.hostname]) == "api-server", name
        container_port = str(services()[url.hostname]["ports"][0]).rsplit(":", 1)[1]
        assert str(url.port) == container_port, name


def test_shared_secrets_come_from_env_and_are_the_same_everywhere() -> None:
    keys = ("AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__API__SECRET_KEY", "AIRFLOW__CORE__FERNET_KEY")
    seen: dict[str, set[str]] = {key: set() for key in keys}
    for svc in airflow_services().values():
        for key in keys:
            seen[key].add(svc["environment"][key])
    for key, values in seen.items():
        assert len(values) == 1, f"{key} differs between services: {values}"
        (value,) = values
        assert re.fullmatch(r"\$\{[A-Z_]+:\?[^}]+\}", value), (
            f"{key} must be a required .env variable: {value}"
        )


FAB_AUTH_MANAGER = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"


def test_every_airflow_component_uses_the_fab_auth_manager_and_config() -> None:
    # A production auth manager: users and hashed passwords in the metadata DB, not a plaintext file.
    assert compose()["x-airflow-common"]["environment"]["AIRFLOW__CORE__AUTH_MANAGER"] == FAB_AUTH_MANAGER
    for name, svc in airflow_services().items():
        env = svc["environment"]
        assert env["AIRFLOW__CORE__AUTH_MANAGER"] == FAB_AUTH_MANAGER, name
        assert not [k for k in env if "SIMPLE_AUTH_MANAGER" in k], f"{name}: simple auth manager settings left"
        assert env["NIGHTSHIFT_CONFIG"].startswith("${NIGHTSHIFT_CONFIG:-/opt/nightshift/include/nightshift/defaults/")
        if name == "airflow-worker":
            assert env["AIRFLOW_CONN_GITLAB_DEFAULT"] == "${AIRFLOW_CONN_GITLAB_DEFAULT:-}", name
            assert env["AIRFLOW_CONN_JIRA_DEFAULT"] == "${AIRFLOW_CONN_JIRA_DEFAULT:-}", name
    # Nothing is left of the simple auth manager's passwords file: no auth volume, no password file.
    assert "airflow-auth" not in (compose().get("volumes") or {})
    assert "SIMPLE_AUTH_MANAGER" not in COMPOSE.read_text()
    assert "passwords.json" not in COMPOSE.read_text()


def test_only_the_init_service_holds_the_admin_password_and_it_has_no_default() -> None:
    holders = {
        name for name, svc in services().items() if "AIRFLOW_ADMIN_PASSWORD" in (svc.get("environment") or {})
    }
    assert holders == {"airflow-init"}
    spec = services()["airflow-init"]["environment"]["AIRFLOW_ADMIN_PASSWORD"]
    assert re.fullmatch(r"\$\{AIRFLOW_ADMIN_PASSWORD:\?[^}]+\}", spec), spec
    assert env_example()["AIRFLOW_ADMIN_PASSWORD"] == ""


def _fake_tools(tmp_path: Path) -> tuple[Path, Path]:
    """`airflow` and `python` stand-ins that record their argv, one call a line, arguments tab-separated."""
    bin_dir, calls = tmp_path / "bin", tmp_path / "calls.txt"
    bin_dir.mkdir(parents=True)
    record = f"printf '%s\\t' \"$(basename \"$0\")\" \"$@\" >> {calls}; echo >> {calls}\n"
    (bin_dir / "airflow").write_text(f"#!/bin/sh\n{record}")
    (bin_dir / "python").write_text(
        f'#!/bin/sh\n{record}[ "$*" = "-m nightshift config pool" ] && echo "nightshift_agents 3"\nexit 0\n'
    )
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    return bin_dir, calls


def _run_init_script(tmp_path: Path, **env: str) -> tuple[subprocess.CompletedProcess[str], list[list[str]]]:
    """The init service's script as its container runs it (`$$` -> `$`), with stand-in tools."""
    script = services()["airflow-init"]["command"]
    assert script[:2] == ["bash", "-c"]
    bin_dir, calls = _fake_tools(tmp_path)
    result = subprocess.run(
        ["bash", "-c", script[2].replace("$$", "$")],
        env={"PATH": f"{bin_dir}:/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = calls.read_text().splitlines() if calls.exists() else []
    return result, [line.rstrip("\t").split("\t") for line in lines]


def test_init_migrates_fab_and_creates_the_admin_from_env(tmp_path: Path) -> None:
    password = "pw with spaces $x"
    result, calls = _run_init_script(
        tmp_path,
        AIRFLOW_ADMIN_USERNAME="root-of-trust",
        AIRFLOW_ADMIN_PASSWORD=password,
        AIRFLOW_ADMIN_EMAIL="ops@example.com",
    )
    assert result.returncode == 0, result.stderr
    airflow = [argv[1:] for argv in calls if argv[0] == "airflow"]
    assert airflow[:2] == [["db", "migrate"], ["fab-db", "migrate"]], "FAB's tables after Airflow's"
    assert airflow[2][:2] == ["users", "create"]
    flags = dict(zip(airflow[2][2::2], airflow[2][3::2], strict=True))
    assert flags["--role"] == "Admin"
    assert flags["--username"] == "root-of-trust" and flags["--email"] == "ops@example.com"
    assert flags["--password"] == password, "the password from the environment, as one argument"
    assert [c for c in airflow if c[:2] == ["users", "create"]] == [airflow[2]], "one admin"
    assert airflow[-1][:4] == ["pools", "set", "nightshift_agents", "3"]
    # A deferred task holds no slot (a ticket task waits deferred for the ticket's dependencies and for
    # a long rate-limit pause): the pool must not count deferred tasks.
    assert "--include-deferred" not in airflow[-1]
    # Idempotent on every `up`: `airflow users create` itself leaves an existing user as it is (exit 0);
    # tests/deploy/test_fab_review_page.py runs this script twice against a real Airflow.
    rendered_env = rendered()["services"]["airflow-init"]["environment"]
    assert rendered_env["AIRFLOW_ADMIN_USERNAME"] == "admin"
    assert rendered_env["AIRFLOW__CORE__AUTH_MANAGER"] == FAB_AUTH_MANAGER


def test_init_without_an_admin_password_fails_first_and_says_what_to_set(tmp_path: Path) -> None:
    for env in ({}, {"AIRFLOW_ADMIN_PASSWORD": ""}):
        result, calls = _run_init_script(tmp_path / str(len(env)), AIRFLOW_ADMIN_USERNAME="admin", **env)
        assert result.returncode != 0
        assert "set AIRFLOW_ADMIN_PASSWORD in .env (deploy/.env.example)" in result.stderr
        assert calls == [], "nothing runs before the password is known"


# --------------------------------------------------------------------------- compose: artifacts and sandbox


def test_artifacts_volume_is_shared_by_worker_triggerer_and_api_server() -> None:
    svcs = services()
    url = svcs["airflow-worker"]["environment"]["NIGHTSHIFT_ARTIFACTS_URL"]
    assert url == f"${{NIGHTSHIFT_ARTIFACTS_URL:-file://{ARTIFACTS_PATH}}}"
    worker = volume_mounts(svcs["airflow-worker"])
    assert worker[ARTIFACTS_PATH] == ("nightshift-artifacts", "rw"), "the worker writes the batch records"
    # Triggers get the artifacts URL from the worker and read the records there: same volume, same path.
    assert volume_mounts(svcs["airflow-triggerer"])[ARTIFACTS_PATH][0] == "nightshift-artifacts"
    assert volume_mounts(svcs["airflow-apiserver"])[ARTIFACTS_PATH][0] == "nightshift-artifacts"
    assert svcs["airflow-worker"]["environment"]["NIGHTSHIFT_WORKDIR"] == WORK_PATH
    assert worker[WORK_PATH] == ("nightshift-work", "rw")
    assert {"nightshift-artifacts", "nightshift-work", "postgres-db"} <= set(compose()["volumes"])


def test_only_the_worker_relaxes_confinement_and_nobody_is_privileged() -> None:
    sandbox_opts = {"seccomp=unconfined", "apparmor=unconfined", "systempaths=unconfined"}
    for name, svc in services().items():
        assert not svc.get("privileged"), f"{name} is privileged"
        assert not svc.get("cap_add"), f"{name} adds capabilities"
        opts = set(svc.get("security_opt", []))
        if name == "airflow-worker":
            assert sandbox_opts <= opts, "bubblewrap needs user namespaces, mounts and a fresh /proc"
        else:
            assert not opts & sandbox_opts, f"{name} does not run agents and needs no relaxed profile"
        if name.startswith("airflow-"):
            assert svc.get("cap_drop") == ["ALL"], name
            assert "no-new-privileges:true" in opts, name


def test_worker_health_includes_the_sandbox_probe_shipped_in_the_image() -> None:
    test = services()["airflow-worker"]["healthcheck"]["test"]
    probe = "/opt/nightshift/deploy/check_sandbox.py"
    assert probe in " ".join(test)
    assert (
        "COPY",
        "--chown=airflow:0 deploy/check_sandbox.py deploy/check_sandbox.py",
    ) in dockerfile_instructions()
    assert (REPO / "deploy" / "check_sandbox.py").is_file()


# --------------------------------------------------------------------------- compose: variables documented


def test_every_compose_variable_is_documented_in_env_example() -> None:
    text = "\n".join(strings(compose()))
    used = compose_variables(text)
    assert not unbraced_variables(text), "use ${VAR} (or $$ for the container's shell)"
    documented = env_example()
    assert sorted(set(used) - set(documented)) == [], "undocumented in deploy/.env.example"
    assert sorted(set(documented) - set(used)) == [], "documented but unused by docker-compose.yaml"
    for name, spec in used.items():
        if spec.startswith(":?"):
            assert documented[name] == "", f"{name} is required: the example must leave it empty"
        elif spec.startswith(":-"):
            assert documented[name] == spec[2:], (
                f"{name}: example {documented[name]!r} != default {spec[2:]!r}"
            )


def test_variable_parser_sees_what_compose_sees() -> None:
    # The checks above are only as good as this parser: escaped `$$` is not a variable, all forms are.
    sample = 'a ${ONE} ${TWO:-x} ${THREE:?need it} $${NOT_ME} "$${HOSTNAME}" $FOUR $$FIVE'
    assert compose_variables(sample) == {"ONE": "", "TWO": ":-x", "THREE": ":?need it"}
    assert unbraced_variables(sample) == ["FOUR"]
    assert interpolate(sample, {"ONE": "1", "THREE": "3"}) == 'a 1 x 3 ${NOT_ME} "${HOSTNAME}" $FOUR $FIVE'
    with pytest.raises(KeyError, match="THREE"):
        interpolate(sample, {})


# --------------------------------------------------------------------------- Dockerfile


def test_dockerfile_builds_from_the_official_airflow_image_matching_requirements() -> None:
    instructions = dockerfile_instructions()
    args = dict(a.split("=", 1) for k, a in instructions if k == "ARG" and "=" in a)
    froms = [a for k, a in instructions if k == "FROM"]
    assert froms == ["${AIRFLOW_IMAGE}"]
    image = args["AIRFLOW_IMAGE"]
    airflow = re.search(r"^apache-airflow==(\S+)$", (REPO / "requirements.txt").read_text(), re.M)
    assert airflow and image == f"apache/airflow:{airflow.group(1)}-python3.11"


def test_dockerfile_installs_bubblewrap_and_git_as_root() -> None:
    apt = [(user, cmd) for user, cmd in run_steps_as_user() if "apt-get install" in cmd]
    assert apt, "no apt-get install step"
    user, cmd = apt[0]
    assert user == "root"
    packages = set(shlex.split(cmd.split("apt-get install", 1)[1].split("&&", 1)[0]))
    assert {"bubblewrap", "git"} <= packages


def test_dockerfile_installs_with_the_committed_constraints_as_airflow() -> None:
    pip_steps = [(user, cmd) for user, cmd in run_steps_as_user() if "pip install" in cmd]
    assert pip_steps and all(user == "airflow" for user, _ in pip_steps), "pip runs as the airflow user"
    deps = [shlex.split(cmd) for _, cmd in pip_steps if "-r" in shlex.split(cmd)]
    assert len(deps) == 1, "one resolver run for all dependencies"
    argv = deps[0]
    constraints = {argv[i + 1] for i, a in enumerate(argv) if a == "-c"}
    requirements = {argv[i + 1] for i, a in enumerate(argv) if a == "-r"}
    assert constraints == {"constraints.txt", "constraints-deploy.txt"}
    assert requirements == {"requirements.txt", "requirements-deploy.txt"}
    project = [shlex.split(cmd) for _, cmd in pip_steps if "--no-deps" in cmd]
    assert len(project) == 1 and project[0][-2:] == ["-e", "."], (
        "the project goes in editable (as in the make venv), "
        "and with --no-deps so it cannot move a pinned dependency"
    )
    # Everything pip reads was copied before it runs.
    copied: set[str] = set()
    for keyword, args in dockerfile_instructions():
        if keyword == "COPY":
            copied.update(a for a in args.split()[:-1] if not a.startswith("--"))
        if keyword == "RUN" and "-r requirements.txt" in args:
            assert (constraints | requirements) <= copied
        if keyword == "RUN" and "--no-deps" in args:
            assert {"pyproject.toml", "README.md", "include/nightshift/", "plugins/", "dags/"} <= copied


def test_dockerfile_runtime_settings() -> None:
    env: dict[str, str] = {}
    for keyword, args in dockerfile_instructions():
        if keyword == "ENV":
            for item in shlex.split(args):
                key, _, value = item.partition("=")
                env[key] = value
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    assert 2 <= int(env["AIRFLOW__CORE__PARALLELISM"]) <= 16, "small hosts: not Airflow's 32"
    # The paths the image's settings name are the ones the Dockerfile copies the repository's files to.
    workdir = "/opt/nightshift/"
    for key in ("NIGHTSHIFT_CONFIG", "AIRFLOW__CORE__DAGS_FOLDER"):
        assert env[key].startswith(workdir), key
        assert (REPO / env[key].removeprefix(workdir)).exists(), f"{key}: {env[key]} is not in the repository"
    assert env["NIGHTSHIFT_ARTIFACTS_URL"] == f"file://{ARTIFACTS_PATH}"
    assert env["NIGHTSHIFT_WORKDIR"] == WORK_PATH


def test_dockerignore_keeps_secrets_out_and_lets_the_copied_files_in() -> None:
    for path in (
        ".env",
        "deploy/.env.example",
        ".git/config",
        ".venv/bin/python",
        "var/x",
        "tests/conftest.py",
        "include/nightshift/__pycache__/config.cpython-311.pyc",
        "nightshift.egg-info/PKG-INFO",
        # Only the product reaches the image: no stand-in servers, local stack or demo tickets.
        "include/standins/gitlab/__init__.py",
        "include/nightshift_local/demo.py",
        "include/demo/behaviours/normal.yaml",
    ):
        assert dockerignore_excludes(path), f"{path} would be sent to the image builder"
    for keyword, args in dockerfile_instructions():
        if keyword != "COPY":
            continue
        for source in (a for a in args.split()[:-1] if not a.startswith("--")):
            files = (
                [p for p in (REPO / source).rglob("*") if p.is_file()]
                if source.endswith("/")
                else [REPO / source]
            )
            files = [f for f in files if "__pycache__" not in f.parts]
            assert files, source
            for file in files:
                rel = file.relative_to(REPO).as_posix()
                assert not dockerignore_excludes(rel), f"COPY {source}: {rel} is excluded by .dockerignore"


# --------------------------------------------------------------------------- pins


def test_deploy_requirements_are_pinned_and_covered_by_deploy_constraints() -> None:
    requirements = pins(REPO / "requirements-deploy.txt")
    constraints = pins(REPO / "constraints-deploy.txt")
    base = pins(REPO / "constraints.txt")
    assert {"apache-airflow-providers-postgres", "apache-airflow-providers-celery", "redis"} <= set(
        requirements
    )
    for name, version in requirements.items():
        assert constraints.get(name) == version, (
            f"{name}=={version} is not pinned the same in constraints-deploy.txt"
        )
    # The Celery provider's own needs are pinned too (celery[redis] and its broker library, the DB driver).
    assert {"celery", "kombu", "psycopg2-binary"} <= set(constraints)
    overlap = set(constraints) & set(base)
    assert not overlap, f"pinned twice (constraints.txt and constraints-deploy.txt): {sorted(overlap)}"


def test_the_fab_auth_manager_is_pinned_and_fits_the_base_constraints() -> None:
    requirements = pins(REPO / "requirements-deploy.txt")
    constraints = pins(REPO / "constraints-deploy.txt")
    base = pins(REPO / "constraints.txt")
    assert requirements["apache-airflow-providers-fab"] == constraints["apache-airflow-providers-fab"]
    assert {"flask-appbuilder", "flask", "werkzeug", "flask-login"} <= set(constraints)
    # flask-appbuilder's own requirements on packages constraints.txt pins (python-dateutil<3 above all)
    # hold for those pins, read from the installed distribution's metadata.
    from importlib import metadata

    from packaging.requirements import Requirement

    try:
        requires = metadata.requires("flask-appbuilder") or []
    except metadata.PackageNotFoundError:
        pytest.skip("flask-appbuilder is not installed (deployment extras)")
    assert metadata.version("flask-appbuilder") == constraints["flask-appbuilder"]
    checked = []
    for spec in map(Requirement, requires):
        name = re.sub(r"[-_.]+", "-", spec.name).lower()
        if name in base and (spec.marker is None or spec.marker.evaluate()):
            assert spec.specifier.contains(base[name]), f"constraints.txt {name}=={base[name]} vs {spec}"
            checked.append(name)
    assert "python-dateutil" in checked


# --------------------------------------------------------------------------- the sandbox probe


def _probe(config: Path | None, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "NIGHTSHIFT_HOME": str(tmp_path / "home")}
    if config is not None:
        env["NIGHTSHIFT_CONFIG"] = str(config)
    return subprocess.run(
        [sys.executable, str(REPO / "deploy" / "check_sandbox.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_sandbox_probe_fails_closed_with_the_reason(tmp_path: Path) -> None:
    config = tmp_path / "nightshift.yaml"
    config.write_text("agent:\n  backend: scripted\n  bwrap_path: /nonexistent/bwrap\n")
    result = _probe(config, tmp_path)
    assert result.returncode == 1
    assert "UNAVAILABLE" in result.stderr and "/nonexistent/bwrap" in result.stderr


def test_sandbox_probe_passes_where_bubblewrap_works(tmp_path: Path) -> None:
    from nightshift.agents.sandbox import SandboxUnavailable, probe_bwrap

    try:
        probe_bwrap("/usr/bin/bwrap")
    except SandboxUnavailable as exc:
        pytest.skip(f"bubblewrap cannot start a sandbox on this machine: {exc}")
    result = _probe(None, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "sandbox: ok" in result.stdout


def test_only_workers_hold_the_tracker_connections() -> None:
    """Defence in depth (issue 9): the GitLab and Jira tokens live only where the tasks that use them run."""
    holders = {
        name
        for name, svc in services().items()
        for key in (svc.get("environment") or {})
        if key.startswith("AIRFLOW_CONN_")
    }
    assert holders == {"airflow-worker"}
    assert not any(k.startswith("AIRFLOW_CONN_") for k in compose()["x-airflow-common"]["environment"])
    worker = services()["airflow-worker"]
    assert command_text(worker) == "celery worker"


def test_each_relaxed_security_option_is_documented_where_it_is_set() -> None:
    """Every relaxed option on the worker carries a comment right above it saying what bubblewrap needs."""
    lines = (REPO / "docker-compose.yaml").read_text().splitlines()
    relaxed = ("seccomp=unconfined", "apparmor=unconfined", "systempaths=unconfined")
    for option in relaxed:
        (index,) = [i for i, line in enumerate(lines) if line.strip() == f"- {option}"]
        assert lines[index - 1].strip().startswith("#"), f"{option} has no comment of its own"
        comment = []
        for line in reversed(lines[:index]):
            if not line.strip().startswith("#"):
                break
            comment.append(line)
        assert "bubblewrap" in " ".join(comment), option
