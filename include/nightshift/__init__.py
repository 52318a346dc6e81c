"""Nightshift core: plain Python, never imports Airflow (checked by tests/test_architecture.py)."""

__version__ = "0.1.0"
