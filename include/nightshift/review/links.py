"""Where reviewers land: the review page inside the Airflow UI, and Airflow task logs.

The review page is served by the Nightshift plugin's FastAPI app, mounted at `/nightshift` on the
api-server. Every link Nightshift posts (MR notes, ticket comments) is built here, so the page's routes
and the links stay in step.
"""

from __future__ import annotations

from urllib.parse import quote

REVIEW_PREFIX = "/nightshift"


def review_page_url(airflow_base_url: str, batch_id: str, ticket_id: str | None = None) -> str:
    """The review page of a batch, anchored at the ticket's row when one is given."""
    url = f"{airflow_base_url.rstrip('/')}{REVIEW_PREFIX}/batches/{quote(batch_id, safe='')}"
    return url + (f"#ticket-{quote(ticket_id, safe='')}" if ticket_id else "")


def task_log_url(
    airflow_base_url: str, dag_id: str, run_id: str, task_id: str, map_index: int | None = None
) -> str:
    """The Airflow 3 UI page of one task instance (its log tab)."""
    url = (
        f"{airflow_base_url.rstrip('/')}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"
        f"/tasks/{quote(task_id, safe='')}"
    )
    if map_index is not None and map_index >= 0:
        url += f"/mapped/{map_index}"
    return url
