"""Placeholder until the generation issue lands the real nightly batch DAG."""
