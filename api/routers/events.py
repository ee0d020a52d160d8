"""The server-sent event stream of decisions, state changes, reviews, constraints and alerts."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from api import problems
from api.auth import CurrentPrincipal
from api.deps import ServicesDep
from api.routing import StrictQueryRoute
from api.streams import sse_stream

router = APIRouter(prefix="/v1", tags=["events"], route_class=StrictQueryRoute)


@router.get(
    "/events",
    response_class=StreamingResponse,
    responses={
        200: {"description": "`text/event-stream`: one event per decision, state change, "
                             "review, constraint or alert",
              "content": {"text/event-stream": {"schema": {"type": "string"}}}},
        **problems.responses(401),
    },
)
async def stream_events(principal: CurrentPrincipal, services: ServicesDep) -> StreamingResponse:
    """Server-sent events, as they happen (no replay of past events).

    Each event has `id` (a sequence number), `event` (its kind: `decision`, `state`, `review`,
    `constraint`, `alert`) and one `data` line of JSON: `{"kind", "time", "flight_id",
    "jurisdictions", "operator_id", "data"}`. Operators get their own flights' events;
    regulators those of flights crossing their cities; everyone gets constraints. A comment
    line (`: heartbeat`) comes every 15 s without events.
    """
    return StreamingResponse(
        sse_stream(services.hub, principal, services.heartbeat_s),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
