"""Benchmarks for Nightshift: `make bench` (or `python -m benchmarks [--quick] [area ...]`).

Speed, scale and memory targets live here, not in the tests: each benchmark prints its figure next to
its target ("ok" or "over target") and the run exits 0 whatever the timings, so a slow machine never
fails a build. Only a benchmark that crashes (or whose premise breaks, e.g. a bomb that is accepted)
makes the exit status non-zero.
"""
