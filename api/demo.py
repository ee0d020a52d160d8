"""``utm demo``: a morning of traffic over the four cities, replayed through the HTTP API.

Seeded and reproducible: deliveries between vertiports in every city, cross-city logistics,
a medical emergency that preempts an approved delivery, a regulator's temporary restriction,
and cities' reviews of plans that need one. Every step is an HTTP request with a demo token,
exactly as an operator's or regulator's system would make it, so the demo also shows the API.
The app's clock is stepped through the morning while the plans are filed, then returns to the
wall clock for serving.
"""

from __future__ import annotations

import json
import math
import random
import secrets
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient

from airspace import Airspace
from airspace.geo import latlng_to_xy_m, xy_m_to_latlng
from airspace.timing import format_instant, parse_instant

MORNING_START = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
"""08:00 in Chengdu (UTC+8)."""

OPERATORS = ("sf-express", "meituan-air", "jd-logistics")
HOSPITAL = "west-china-hospital"


HttpClient = TestClient | httpx.Client
"""In-process (the demo) or over the network (the same requests against a running server)."""


class DemoClock:
    """The app's clock: fixed at ``instant`` while replaying, the wall clock otherwise."""

    def __init__(self) -> None:
        self.instant: datetime | None = None

    def __call__(self) -> datetime:
        return self.instant if self.instant is not None else datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class DemoPrincipal:
    """A demo principal with its token."""

    name: str
    role: str
    token: str
    operator_id: str | None = None
    jurisdictions: tuple[str, ...] = ()

    def to_document(self) -> dict[str, Any]:
        """The principals-file entry."""
        document: dict[str, Any] = {"name": self.name, "role": self.role, "token": self.token}
        if self.operator_id:
            document["operator_id"] = self.operator_id
        if self.jurisdictions:
            document["jurisdictions"] = list(self.jurisdictions)
        return document


def demo_principals(cities: list[str]) -> list[DemoPrincipal]:
    """Fresh tokens: one per operator, the hospital, one regulator per city, one admin."""

    def token(prefix: str) -> str:
        return f"{prefix}-{secrets.token_urlsafe(18)}"

    principals = [DemoPrincipal(name, "operator", token("op"), operator_id=name)
                  for name in (*OPERATORS, HOSPITAL)]
    principals += [DemoPrincipal(f"regulator-{city}", "regulator", token("reg"),
                                 jurisdictions=(city,)) for city in cities]
    principals.append(DemoPrincipal("admin", "admin", token("adm")))
    return principals


def write_principals(path: Path, principals: list[DemoPrincipal]) -> None:
    """Write a principals file (readable by its owner only: it holds tokens)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([p.to_document() for p in principals], indent=2) + "\n",
                    encoding="utf-8")
    path.chmod(0o600)


@dataclass(slots=True)
class DemoSummary:
    """What the replay did, for people to read."""

    submitted: int = 0
    cross_city: int = 0
    states: Counter[str] = field(default_factory=Counter)
    approvals_by_city: Counter[str] = field(default_factory=Counter)
    preempted: list[str] = field(default_factory=list)
    constraint_id: str | None = None
    constraint_city: str | None = None
    constraint_affected: int = 0
    reviewed: list[str] = field(default_factory=list)
    requests: int = 0
    errors: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The summary, one fact per line."""
        lines = [
            f"plans submitted: {self.submitted} ({self.cross_city} cross-city)",
            "outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(self.states.items())),
            "approvals by city: " + ", ".join(
                f"{k} {v}" for k, v in sorted(self.approvals_by_city.items())),
        ]
        lines += [f"emergency preemption: {line}" for line in self.preempted]
        if self.constraint_id:
            lines.append(f"constraint {self.constraint_id} ({self.constraint_city}): "
                         f"{self.constraint_affected} approved flights re-planned or told to "
                         "re-plan")
        lines += [f"review: {line}" for line in self.reviewed]
        lines.append(f"HTTP requests: {self.requests}")
        lines += [f"unexpected answer: {line}" for line in self.errors]
        return lines


class _Replay:
    """Files the morning's plans and the scripted events over HTTP."""

    def __init__(self, client: HttpClient, airspace: Airspace, clock: DemoClock,
                 principals: list[DemoPrincipal], summary: DemoSummary) -> None:
        self.client = client
        self.airspace = airspace
        self.clock = clock
        self.tokens = {p.name: p.token for p in principals}
        self.summary = summary

    def headers(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[name]}"}

    def call(self, method: str, url: str, who: str, expected: int, **kwargs: Any) -> Any:
        self.summary.requests += 1
        response = getattr(self.client, method)(url, headers=self.headers(who), **kwargs)
        if response.status_code != expected:
            self.summary.errors.append(f"{method.upper()} {url} as {who}: "
                                       f"{response.status_code} {response.text[:300]}")
            return None
        return response.json()

    def file(self, who: str, body: dict[str, Any]) -> dict[str, Any] | None:
        flight: dict[str, Any] | None = self.call("post", "/v1/flight-plans", who, 201, json=body)
        if flight is not None:
            self.summary.submitted += 1
            self.summary.states[flight["state"]] += 1
            if flight["state"] == "approved":
                for city in flight["jurisdictions"]:
                    self.summary.approvals_by_city[city] += 1
        return flight

    # -- the morning -----------------------------------------------------------------------

    def deliveries(self, flights: int, seed: int,
                   on_progress: Callable[[int], None] | None) -> None:
        rng = random.Random(seed)
        by_city: dict[str, list[str]] = {}
        for vertiport in self.airspace.vertiports.values():
            by_city.setdefault(vertiport.jurisdiction, []).append(vertiport.id)
        cities = sorted(by_city)
        weights = [6 if city == "chengdu" else 2 for city in cities]
        for number in range(flights):
            now = MORNING_START + timedelta(minutes=number * 240 / flights)
            self.clock.instant = now
            if rng.random() < 0.12:
                origin = rng.choice(by_city["chengdu"])
                other = rng.choice([c for c in cities if c != "chengdu"])
                destination = rng.choice(by_city[other])
                self.summary.cross_city += 1
            else:
                city = rng.choices(cities, weights)[0]
                origin, destination = rng.sample(by_city[city], 2)
            departure = now + timedelta(minutes=rng.randint(35, 60))
            category = rng.choices(["light", "small", "medium"], [80, 15, 5])[0]
            self.file(rng.choice(OPERATORS), {
                "origin": {"vertiport": origin}, "destination": {"vertiport": destination},
                "earliest_departure_time": format_instant(departure),
                "latest_departure_time": format_instant(departure + timedelta(minutes=20)),
                "drone": {"id": f"drone-{number:04d}", "category": category},
                "priority": "commercial", "purpose": "parcel delivery",
            })
            if on_progress:
                on_progress(number + 1)

    def emergency(self) -> None:
        """A medical flight onto the route and slot of the first approved delivery."""
        page = self.call("get", "/v1/flight-plans", "admin", 200,
                         params={"state": "approved", "limit": 1})
        if not page or not page["items"]:
            return
        victim = page["items"][0]
        departure = parse_instant(victim["departure_time"])
        self.clock.instant = departure - timedelta(minutes=5)
        flight = self.file(HOSPITAL, {
            "origin": victim["origin"], "destination": victim["destination"],
            "earliest_departure_time": format_instant(departure),
            "latest_departure_time": format_instant(departure),
            "drone": {"id": "med-001", "category": "light"},
            "priority": "emergency", "purpose": "blood for surgery",
        })
        after = self.call("get", f"/v1/flight-plans/{victim['id']}", "admin", 200)
        if flight is not None and after is not None and after["notes"]:
            self.summary.preempted.append(f"{victim['id']}: {after['notes'][-1]}")

    def constraint(self) -> None:
        """A city's regulator closes a 600 m circle on a busy route for a public event."""
        page = self.call("get", "/v1/flight-plans", "admin", 200,
                         params={"state": "approved", "limit": 100})
        for flight in page["items"] if page else []:
            if len(flight["jurisdictions"]) != 1 or not flight["route"]:
                continue
            city = flight["jurisdictions"][0]
            line = flight["route"]["coordinates"]
            lng, lat = line[len(line) // 2][:2]
            x_m, y_m = latlng_to_xy_m(lat, lng)
            ring = []
            for step in range(33):
                angle = 2 * math.pi * step / 32
                point_lat, point_lng = xy_m_to_latlng(x_m + 600 * math.cos(angle),
                                                      y_m + 600 * math.sin(angle))
                ring.append([round(point_lng, 7), round(point_lat, 7)])
            ring[-1] = ring[0]
            start = parse_instant(flight["volumes"][0]["start_time"])
            self.clock.instant = start - timedelta(minutes=30)
            self.summary.requests += 1
            response = self.client.post("/v1/constraints", headers=self.headers(
                f"regulator-{city}"), json={
                "outline": {"type": "Polygon", "coordinates": [ring]},
                "floor_agl_m": 0, "ceiling_agl_m": 300,
                "start_time": format_instant(start),
                "end_time": format_instant(start + timedelta(hours=2)),
                "class": "prohibited", "reason": "public event",
            })
            if response.status_code == 403:  # the circle reaches into another city
                continue
            if response.status_code != 201:
                self.summary.errors.append(f"POST /v1/constraints: {response.status_code} "
                                           f"{response.text[:300]}")
                return
            issued = response.json()
            self.summary.constraint_id = issued["constraint"]["id"]
            self.summary.constraint_city = city
            self.summary.constraint_affected = len(issued["affected"])
            return

    def reviews(self) -> None:
        """Each city's regulator approves the first plan waiting for it (two at most).

        One plan that needs review is filed first, so there is always one: a medium drone
        over Chengdu (Chengdu reviews every medium drone).
        """
        self.clock.instant = MORNING_START + timedelta(hours=1)
        departure = self.clock.instant + timedelta(minutes=45)
        self.file(OPERATORS[0], {
            "origin": {"vertiport": "CD-TFS"}, "destination": {"vertiport": "CD-SCU"},
            "earliest_departure_time": format_instant(departure),
            "latest_departure_time": format_instant(departure + timedelta(minutes=30)),
            "drone": {"id": "survey-m1", "category": "medium"},
            "priority": "public_service", "purpose": "bridge inspection",
        })
        for city in sorted(self.airspace.jurisdictions):
            regulator = f"regulator-{city}"
            page = self.call("get", "/v1/reviews", regulator, 200, params={"limit": 5})
            for item in page["items"] if page else []:
                if item["departure_time"] is None:
                    continue
                self.clock.instant = parse_instant(item["departure_time"]) - timedelta(
                    minutes=20)
                done = self.call("post", f"/v1/reviews/{item['flight_plan_id']}", regulator,
                                 200, json={"decision": "approve", "note": "checked on the map"})
                if done is not None:
                    self.summary.reviewed.append(f"{item['flight_plan_id']} by {city} -> "
                                                 f"{done['state']}")
                break
            if len(self.summary.reviewed) >= 2:
                return


def replay_morning(client: HttpClient, airspace: Airspace, clock: DemoClock,
                   principals: list[DemoPrincipal], *, flights: int = 300, seed: int = 7,
                   on_progress: Callable[[int], None] | None = None) -> DemoSummary:
    """File ``flights`` plans over a morning (08:00-12:00 local), then the scripted events:
    an emergency that preempts, a constraint, reviews. Leaves ``clock`` on the wall clock."""
    summary = DemoSummary()
    replay = _Replay(client, airspace, clock, principals, summary)
    try:
        replay.deliveries(flights, seed, on_progress)
        replay.emergency()
        replay.constraint()
        replay.reviews()
    finally:
        clock.instant = None
    return summary
