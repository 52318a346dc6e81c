"""The Nightshift Airflow plugin: registers what the scheduler must know by name (the manifest-order
priority strategy) and the review page (a FastAPI app on the api-server at `/nightshift`, with a
navigation entry and a tab on each run of the batch DAG). Installed through the `airflow.plugins` entry
point of the package."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from nightshift.review.links import REVIEW_PREFIX
from nightshift_airflow.priority import ManifestOrder
from nightshift_airflow.review_app.app import create_review_app
from nightshift_airflow.schedule import NightshiftTimetable


class NightshiftPlugin(AirflowPlugin):
    name = "nightshift"
    priority_weight_strategies = [ManifestOrder]
    timetables = [NightshiftTimetable]
    fastapi_apps = [{"app": create_review_app(), "url_prefix": REVIEW_PREFIX, "name": "Nightshift review"}]
    external_views = [
        {
            "name": "Review queue",
            "href": f"{REVIEW_PREFIX}/",
            "destination": "nav",
            "url_route": "nightshift-review",
        },
        {
            "name": "Review queue",
            "href": f"{REVIEW_PREFIX}/runs/{{DAG_ID}}/{{RUN_ID}}",
            "destination": "dag_run",
            "url_route": "nightshift-run-review",
        },
    ]
