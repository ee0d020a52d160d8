"""Approval checks: anyone, without a token, can ask whether an approval is genuine and
current, and fetch the public key to verify signatures offline."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from airspace.timing import format_instant
from api import problems
from api.deps import EngineDep
from api.models import ApprovalCheckOut, PublicKeyOut
from api.routing import StrictQueryRoute
from utm.approvals import approval_payload

router = APIRouter(prefix="/v1", tags=["approvals"], route_class=StrictQueryRoute)


@router.get("/approvals/public-key", response_model=PublicKeyOut)
def public_key(engine: EngineDep) -> dict[str, Any]:
    """The Ed25519 public key approvals are signed with (raw 32 bytes, base64).

    To verify offline: decode `signature` and `public_key` from base64 and check the signature
    over the UTF-8 bytes of `signed_payload` of `/v1/approvals/{approval_id}`.
    """
    return {"algorithm": "Ed25519", "public_key": engine.signer.public_key_text}


@router.get("/approvals/{approval_id}", response_model=ApprovalCheckOut,
            responses=problems.responses(422, 503))
def check_approval(
    engine: EngineDep,
    approval_id: Annotated[str, Path(max_length=128, description="`apv-...`")],
) -> dict[str, Any]:
    """Is this approval genuine (signed by this system, unaltered) and current (the flight
    still holds it)? An unknown or forged id is never valid; no token needed."""
    check = engine.verify_approval(approval_id)
    payload = None
    if check.flight_id is not None and check.issued_time is not None:
        flight = engine.store.get_flight(check.flight_id)
        if flight is not None:
            payload = approval_payload(approval_id, flight.id, flight.jurisdictions,
                                       flight.volumes, check.issued_time).decode("utf-8")
    return {
        "valid": check.valid,
        "approval_id": check.approval_id,
        "flight_plan_id": check.flight_id,
        "state": check.state,
        "jurisdictions": list(check.jurisdictions),
        "issued_time": format_instant(check.issued_time) if check.issued_time else None,
        "signature": check.signature,
        "signed_payload": payload,
        "reason": check.reason,
    }
