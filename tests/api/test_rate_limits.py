"""Per-caller rate limits (``api.rate_limits``): token buckets by principal, anonymous callers
by address, 429 with ``Retry-After`` and a problem body, configured by ``UTM_RATE_LIMIT``, off
by default.

The apps here get their own limits (the module's shared app has none, like every other test);
rates are slow (one request per 100 s) so that no bucket refills while a test runs.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from testbed import NOW0, PRINCIPALS, SteppedClock, auth, plan_body

from airspace import Airspace
from api.app import create_app, shutdown
from api.auth import PrincipalRegistry
from api.rate_limits import RateLimit, RateLimiter
from api.settings import Settings
from routes import Planner

SLOW = RateLimit(requests_per_s=0.01, burst=3)
"""Three requests at once, then one per 100 s."""


@pytest.fixture
def limited_app(airspace_model: Airspace, planner: Planner) -> Iterator[FastAPI]:
    registry = PrincipalRegistry.from_documents(PRINCIPALS, list(airspace_model.jurisdictions))
    app = create_app(Settings(database_url="sqlite:///:memory:", rate_limit=SLOW),
                     airspace=airspace_model, planner=planner, clock=SteppedClock(NOW0),
                     principals=registry)
    try:
        yield app
    finally:
        shutdown(app)


@pytest.fixture
def limited(limited_app: FastAPI) -> TestClient:
    return TestClient(limited_app, client=("192.0.2.10", 50000))


def spend(client: TestClient, count: int, headers: dict[str, str]) -> list[int]:
    return [client.get("/v1/vertiports", headers=headers).status_code for _ in range(count)]


# -- the limiter --------------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now_s = 1000.0

    def __call__(self) -> float:
        return self.now_s


def test_a_bucket_allows_a_burst_then_refills_at_the_rate() -> None:
    clock = FakeClock()
    limiter = RateLimiter(RateLimit(requests_per_s=2.0, burst=4), clock=clock)

    assert [limiter.acquire("a") for _ in range(4)] == [0.0] * 4
    assert limiter.acquire("a") == pytest.approx(0.5)  # half a second to the next token
    clock.now_s += 0.5
    assert limiter.acquire("a") == 0.0
    assert limiter.acquire("a") > 0.0
    clock.now_s += 3600.0  # a long pause refills to the burst, not beyond
    assert [limiter.acquire("a") for _ in range(5)].count(0.0) == 4


def test_a_refused_request_takes_nothing_from_the_bucket() -> None:
    clock = FakeClock()
    limiter = RateLimiter(RateLimit(requests_per_s=1.0, burst=1), clock=clock)

    limiter.acquire("a")
    for _ in range(100):  # hammering while empty does not push the next slot further away
        assert limiter.acquire("a") == pytest.approx(1.0)
    clock.now_s += 1.0
    assert limiter.acquire("a") == 0.0


def test_callers_have_their_own_buckets() -> None:
    limiter = RateLimiter(RateLimit(requests_per_s=1.0, burst=1), clock=FakeClock())

    assert limiter.acquire("a") == 0.0
    assert limiter.acquire("b") == 0.0
    assert limiter.acquire("a") > 0.0


def test_the_limiter_forgets_the_callers_seen_least_recently() -> None:
    limiter = RateLimiter(RateLimit(requests_per_s=1.0, burst=1), clock=FakeClock(),
                          max_callers=3)

    for key in ("a", "b", "c", "a", "d"):
        limiter.acquire(key)

    assert len(limiter) == 3
    assert limiter.acquire("b") == 0.0  # forgotten: a fresh bucket
    assert limiter.acquire("a") > 0.0  # kept: seen again after b


# -- configuration ------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    (None, None), ("", None), ("off", None), ("OFF", None),
    ("20,40", RateLimit(20.0, 40)), (" 0.5 , 2 ", RateLimit(0.5, 2)), ("20", RateLimit(20.0, 20)),
])
def test_the_setting_is_requests_per_second_and_burst(text: str | None,
                                                      expected: RateLimit | None) -> None:
    assert RateLimit.parse(text) == expected


@pytest.mark.parametrize("text", ["fast", "20,", "0,10", "-1,5", "20,0", "20,4.5", "nan,5",
                                  "inf,5", "1,2,3"])
def test_a_malformed_setting_names_the_variable(text: str) -> None:
    with pytest.raises(ValueError, match="UTM_RATE_LIMIT"):
        Settings.from_environment({"UTM_RATE_LIMIT": text})


def test_there_is_no_limit_by_default() -> None:
    assert Settings().rate_limit is None
    assert Settings.from_environment({}).rate_limit is None
    assert Settings.from_environment({"UTM_RATE_LIMIT": "5,10"}).rate_limit == RateLimit(5, 10)


def test_without_a_limit_nothing_is_throttled(client: TestClient) -> None:
    assert set(spend(client, 60, auth("operator"))) == {200}


# -- the HTTP service -------------------------------------------------------------------------


def test_beyond_its_burst_a_principal_gets_429_with_retry_after(limited: TestClient) -> None:
    assert spend(limited, 3, auth("operator")) == [200, 200, 200]

    response = limited.get("/v1/vertiports", headers=auth("operator"))

    assert response.status_code == 429
    assert response.headers["content-type"] == "application/problem+json"
    retry_after_s = int(response.headers["retry-after"])
    assert 90 <= retry_after_s <= 100
    problem = response.json()
    assert problem["code"] == "rate_limited"
    assert problem["status"] == 429
    assert problem["title"] == "Too many requests"
    assert "0.01 requests per second" in problem["detail"]
    assert "operator:sf-express" in problem["detail"]
    assert TOKEN_FRAGMENT not in response.text


TOKEN_FRAGMENT = "sf-express-token"


def test_each_principal_has_its_own_bucket(limited: TestClient) -> None:
    spend(limited, 4, auth("operator"))

    assert spend(limited, 3, auth("other_operator")) == [200] * 3
    assert spend(limited, 1, auth("regulator")) == [200]
    assert spend(limited, 1, auth("operator")) == [429]


def test_a_principal_shares_its_bucket_across_addresses(limited_app: FastAPI) -> None:
    first = TestClient(limited_app, client=("198.51.100.1", 1))
    second = TestClient(limited_app, client=("198.51.100.2", 2))

    assert spend(first, 2, auth("admin")) + spend(second, 2, auth("admin")) == [200, 200, 200,
                                                                                429]


def test_anonymous_callers_are_limited_by_address(limited_app: FastAPI) -> None:
    here = TestClient(limited_app, client=("203.0.113.5", 1))
    there = TestClient(limited_app, client=("203.0.113.6", 1))

    assert spend(here, 4, {}) == [401, 401, 401, 429]
    assert spend(there, 1, {}) == [401]
    public = here.get("/v1/approvals/public-key")  # public, but still this address's bucket
    assert public.status_code == 429


def test_made_up_tokens_do_not_buy_fresh_buckets(limited: TestClient) -> None:
    statuses = [limited.get("/v1/zones", headers={"Authorization": f"Bearer made-up-{n:020d}"})
                .status_code for n in range(5)]

    assert statuses == [401, 401, 401, 429, 429]


def test_health_is_never_limited(limited: TestClient) -> None:
    assert {limited.get("/v1/health").status_code for _ in range(10)} == {200}


def test_a_refused_request_stores_nothing(limited_app: FastAPI, limited: TestClient) -> None:
    store = limited_app.state.services.engine.store
    spend(limited, 3, auth("operator"))

    response = limited.post("/v1/flight-plans", json=plan_body(), headers=auth("operator"))

    assert response.status_code == 429
    assert store.list_flights(limit=10) == []
    assert store.list_audit(limit=10) == []


def test_a_refused_request_is_not_read(limited: TestClient) -> None:
    spend(limited, 3, auth("operator"))

    response = limited.post("/v1/flight-plans", content=b"{" * 100, headers={
        **auth("operator"), "content-type": "application/json"})

    assert response.status_code == 429  # not 400: the body was never parsed


def test_the_openapi_document_lists_429_when_limits_are_on(limited: TestClient,
                                                          client: TestClient) -> None:
    limited_document = limited.get("/openapi.json").json()
    plain_document = client.get("/openapi.json").json()

    operations = [operation for item in limited_document["paths"].values()
                  for operation in item.values()]
    assert operations and all("429" in operation["responses"] for operation in operations)
    assert "Retry-After" in operations[0]["responses"]["429"]["headers"]
    assert not any("429" in operation["responses"]
                   for item in plain_document["paths"].values() for operation in item.values())
