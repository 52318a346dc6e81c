# syntax=docker/dockerfile:1
# Nightshift on the official Apache Airflow image. Every component of docker-compose.yaml (api-server,
# scheduler, dag-processor, triggerer, celery worker, init) runs this one image, so they all import the
# same code the same way. Build: `docker compose build` (or `docker build -t nightshift-airflow .`).
#
# The base image must match requirements.txt (apache-airflow==3.3.2, Python 3.11). The "slim" variant
# (apache/airflow:slim-3.3.2-python3.11) also works and is smaller: everything Nightshift needs comes
# from requirements*.txt, not from the providers preinstalled in the full image.
ARG AIRFLOW_IMAGE=apache/airflow:3.3.2-python3.11
FROM ${AIRFLOW_IMAGE}

# -- system packages (as root) -------------------------------------------------------------------------
# bubblewrap: the agent sandbox. It needs user namespaces from the container runtime (see
#   deploy/README-section.md: seccomp, AppArmor, masked /proc); without them Nightshift fails closed and
#   runs no agent. It must be 0.7 or later (--size caps the sandbox's scratch tmpfs; bookworm ships
#   0.8). The sandbox's seccomp filter and egress proxy are Nightshift's own Python: no extra package.
#   git: mirrors, worktrees, commits and pushes. prlimit comes with util-linux (essential).
USER root
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends bubblewrap git \
 && apt-get autoremove -yqq --purge \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /opt/nightshift /opt/airflow/nightshift/artifacts /opt/airflow/nightshift/work /opt/airflow/auth \
 && chown -R airflow:0 /opt/nightshift /opt/airflow/nightshift /opt/airflow/auth \
 && chmod -R g+rwX /opt/nightshift /opt/airflow/nightshift \
 && chmod 0770 /opt/airflow/auth
# (The directories above exist in the image so that fresh named volumes mounted on them are owned by
# airflow:0 - Docker copies the ownership of the image's directory into an empty named volume.)

# -- Python packages (as the airflow user, uid 50000; the image refuses pip as root) -------------------------------
USER airflow
WORKDIR /opt/nightshift
# Dependencies first (a layer that only changes with the pin lists), always with the committed constraints:
# constraints.txt pins Nightshift's own tree, constraints-deploy.txt the Postgres/Celery/Redis extras.
COPY --chown=airflow:0 requirements.txt requirements-deploy.txt constraints.txt constraints-deploy.txt ./
RUN pip install --no-cache-dir -c constraints.txt -c constraints-deploy.txt \
        -r requirements.txt -r requirements-deploy.txt

# Then the project itself, without touching the pinned dependencies. Editable, as in the `make` venv: the
# image runs the code from /opt/nightshift. The core's defaults (nightshift.yaml, agent presets, prompts)
# are package data found with importlib.resources, so a plain `pip install .` would find them too.
COPY --chown=airflow:0 pyproject.toml README.md ./
# Only the product: the core, with its shipped defaults (include/nightshift/defaults). The stand-in
# servers (include/standins), the local stack (include/nightshift_local) and the demo's tickets and
# behaviours (include/demo) are for tests and `make demo`; .dockerignore keeps them out of the build too.
COPY --chown=airflow:0 include/nightshift/ include/nightshift/
COPY --chown=airflow:0 plugins/ plugins/
COPY --chown=airflow:0 dags/ dags/
COPY --chown=airflow:0 deploy/check_sandbox.py deploy/check_sandbox.py
RUN pip install --no-cache-dir --no-deps -e .

# -- runtime settings (compose and `docker run -e` may override any of them) -----------------------------
# DAGs come from the project tree; the plugin is registered by the `airflow.plugins` entry point, so the
# plugins folder (/opt/airflow/plugins) stays empty and nothing is loaded twice.
ENV AIRFLOW__CORE__DAGS_FOLDER=/opt/nightshift/dags \
    AIRFLOW__CORE__LOAD_EXAMPLES=False \
    AIRFLOW__CORE__PARALLELISM=8 \
    NIGHTSHIFT_CONFIG=/opt/nightshift/include/nightshift/defaults/nightshift.yaml \
    NIGHTSHIFT_HOME=/opt/airflow/nightshift \
    NIGHTSHIFT_ARTIFACTS_URL=file:///opt/airflow/nightshift/artifacts \
    NIGHTSHIFT_WORKDIR=/opt/airflow/nightshift/work

# airflow_local_settings.py in $AIRFLOW_HOME/config (the preload): every Airflow process imports
# Nightshift's task modules once before it forks, so each task instance starts without re-importing them.
# Then fail the build, not the first night: the tools are there, the providers import, the config validates
# and the DAG parses (no DB needed). A throwaway AIRFLOW_HOME keeps the generated airflow.cfg out of the image.
RUN python -m nightshift_airflow.preload /opt/airflow/config \
 && bwrap --version && git --version \
 && AIRFLOW_HOME="$(mktemp -d)" && export AIRFLOW_HOME \
 && python -c "import psycopg2, redis, airflow.providers.postgres, airflow.providers.celery, airflow.providers.fab.auth_manager.fab_auth_manager, nightshift_airflow.plugin" \
 && python -c "from nightshift.config import load_config; load_config()" \
 && python -c "from airflow.dag_processing.dagbag import DagBag; b = DagBag('/opt/nightshift/dags'); assert b.dags and not b.import_errors, b.import_errors" \
 && rm -rf "${AIRFLOW_HOME}"

WORKDIR /opt/airflow
