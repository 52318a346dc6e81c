"""Fixtures of the Airflow adapters' tests (tests/airflow/night.py: a deployment on the GitLab stand-in)."""

from tests.airflow.night import gitlab_night

__all__ = ["gitlab_night"]
