"""Anyone can check an approval, online or offline with the published key."""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi.testclient import TestClient
from testbed import auth, plan_body


def approved(client: TestClient) -> dict[str, object]:
    response = client.post("/v1/flight-plans", json=plan_body(), headers=auth("operator"))
    flight: dict[str, object] = response.json()
    assert flight["state"] == "approved"
    return flight


def test_an_approval_is_valid_for_anyone_without_a_token(client: TestClient) -> None:
    flight = approved(client)

    response = client.get(f"/v1/approvals/{flight['approval_id']}")

    assert response.status_code == 200
    check = response.json()
    assert check["valid"] is True
    assert check["flight_plan_id"] == flight["id"]
    assert check["jurisdictions"] == ["chengdu"]
    assert check["state"] == "approved"


def test_the_signature_verifies_offline_with_the_public_key(client: TestClient) -> None:
    flight = approved(client)
    check = client.get(f"/v1/approvals/{flight['approval_id']}").json()
    key = client.get("/v1/approvals/public-key").json()

    assert key["algorithm"] == "Ed25519"
    public_key = Ed25519PublicKey.from_public_bytes(base64.b64decode(key["public_key"]))
    public_key.verify(base64.b64decode(check["signature"]), check["signed_payload"].encode())


def test_an_unknown_or_forged_id_is_never_valid(client: TestClient) -> None:
    for approval_id in ("apv-forged", "", "x" * 100):
        response = client.get(f"/v1/approvals/{approval_id}")
        if approval_id:
            assert response.status_code == 200
            assert response.json()["valid"] is False


def test_a_cancelled_flight_no_longer_holds_its_approval(client: TestClient) -> None:
    flight = approved(client)
    client.post(f"/v1/flight-plans/{flight['id']}/cancel", headers=auth("operator"))

    check = client.get(f"/v1/approvals/{flight['approval_id']}").json()

    assert check["valid"] is False
    assert check["state"] == "cancelled"
