"""Stage 3 (06:00): the automated gates. Checks on the pushed commit, a 0-100 quality score, security
flags and a review summary per merge request. Plain Python: the Airflow task and the CLI share it."""
