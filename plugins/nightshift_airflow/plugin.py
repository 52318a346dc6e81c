"""The Nightshift Airflow plugin: registers what the scheduler must know by name (the manifest-order
priority strategy). Installed through the `airflow.plugins` entry point of the package."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from nightshift_airflow.priority import ManifestOrder


class NightshiftPlugin(AirflowPlugin):
    name = "nightshift"
    priority_weight_strategies = [ManifestOrder]
