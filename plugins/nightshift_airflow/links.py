"""'Merge request' and 'Ticket' buttons on a ticket's task instances (stored per map index)."""

from __future__ import annotations

from airflow.sdk import BaseOperatorLink
from airflow.sdk.execution_time.xcom import XCom


class _XComLink(BaseOperatorLink):
    xcom_key = ""

    def get_link(self, operator, *, ti_key) -> str:  # type: ignore[no-untyped-def]
        value = XCom.get_value(ti_key=ti_key, key=self.xcom_key)
        return str(value) if value else ""


class MergeRequestLink(_XComLink):
    name = "Merge request"
    xcom_key = "merge_request_url"


class TicketLink(_XComLink):
    name = "Ticket"
    xcom_key = "ticket_url"
