"""The HTTP clients of the trackers and the forge, side by side, each configured once.

`gitlab.py` (python-gitlab) and `jira.py` (the `jira` library) have the same shape: `make_<x>_client`
builds a client whose own retries are bounded and whose Retry-After handling is capped (`http.py` parses
the header once for both); `<x>_errors` turns the library's exceptions into `trackers.errors`; and a POST
is never re-sent blindly by the client (the idempotent-write helper, `trackers.writes`, decides).
"""
