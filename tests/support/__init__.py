"""Test doubles shared by several test folders (importable because tests/ is on sys.path via conftest)."""
