"""The PostgreSQL server the tests may use: ``UTM_TEST_POSTGRES_URL`` (``.ci/run`` sets it);
without it the PostgreSQL variants of the store tests skip."""

from __future__ import annotations

import os

import pytest

POSTGRES_URL = os.environ.get("UTM_TEST_POSTGRES_URL")
SKIP_POSTGRES = "set UTM_TEST_POSTGRES_URL to run the PostgreSQL tests"

needs_postgres = [pytest.mark.postgres,
                  pytest.mark.skipif(not POSTGRES_URL, reason=SKIP_POSTGRES)]
"""Marks of a test (or a parameter) that runs on PostgreSQL."""
