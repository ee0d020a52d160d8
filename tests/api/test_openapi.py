"""Property-based conformance: schemathesis generates requests for every operation of the
OpenAPI document and checks every response against it, with all default checks: no 500,
documented status codes, content types, headers and schemas, invalid data rejected, valid data
accepted, authentication enforced, ``Allow`` headers.

Two deliberate settings:

- "valid data accepted" also allows 422. A request can match the schema and still be
  impossible to carry out: an unknown vertiport id, a departure in the past, a cruise height
  above what the drone's category may fly, an endpoint in prohibited airspace. Those are
  422s with a code and a field, which is what 422 means (RFC 9110 §15.5.21); no schema can
  list every vertiport or know the clock.
- The event stream is left out: it never ends, so a generated request would wait forever;
  ``test_events.py`` covers it against a real server.

The admin token is given through schemathesis' auth configuration (not as a plain header), so
that schemathesis also sends requests without it and checks they are refused.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig
from testbed import TOKENS

MAX_EXAMPLES = int(os.environ.get("UTM_FUZZ_EXAMPLES", "30"))
"""Per operation (``UTM_FUZZ_EXAMPLES``, shared with ``tests/test_domain_fuzz.py``): the default
finds the usual gaps in about a minute; raise it for a deeper run before a release
(``UTM_FUZZ_EXAMPLES=500 pytest tests/api/test_openapi.py``)."""

CONFIG = {
    "checks": {"positive_data_acceptance": {
        "expected-statuses": ["2xx", "3xx", "401", "403", "404", "409", "422"]}},
    "auth": {"openapi": {"bearerToken": {"bearer": TOKENS["admin"]}}},
}


@pytest.fixture(scope="module")
def api_schema(api_app: FastAPI) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", api_app,
                                          config=SchemathesisConfig.from_dict(CONFIG))


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.exclude(path="/v1/events").parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                 HealthCheck.data_too_large])
def test_every_operation_conforms_to_the_openapi_document(case: Any) -> None:
    case.call_and_validate()

