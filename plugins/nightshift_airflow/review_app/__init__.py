"""The review page inside the Airflow UI (a FastAPI app served by the api-server under /nightshift)."""
