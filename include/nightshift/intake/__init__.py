"""Stage 1 of a batch: collect tickets, check their readiness, sequence them and write the manifest.

The steps live in `nightshift.intake.pipeline`; each is idempotent and separately retryable.
"""
