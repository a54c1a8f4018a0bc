"""Generated traffic whose callers come from each identity source (usage.identity).

The demo generator's rows, rewritten so that request ``i`` names its caller the ``i % 6``-th way;
``expected_callers`` says what the portal must find for each, by correlation id.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from usage.demo.data import generate_logs
from usage.ingestion.tables import GATEWAY, NATIVE

START = datetime(2026, 11, 3, 9, tzinfo=UTC)
END = datetime(2026, 11, 3, 11, tzinfo=UTC)
GATEWAY_OID = "5f0c2d7e-8a41-4b9f-a3e6-c21d7b90e418"  # APIM's managed identity, on native rows
KINDS = 6


def person(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


def identity_logs(*, requests_per_hour: int = 30) -> tuple[dict[str, list[dict]], dict[str, tuple[str, str]]]:
    """(logs, expected ``(caller_object_id, caller_source)`` per gateway correlation id)."""
    logs = generate_logs(start=START, end=END, requests_per_hour=requests_per_hour, seed=11, malformed=False)
    natives = {row["CorrelationId"]: row for row in logs[NATIVE]}
    expected: dict[str, tuple[str, str]] = {}
    for i, row in enumerate(logs[GATEWAY]):
        answer = json.loads(row["BackendResponseHeaders"] or "{}")
        native = natives.get(answer.get("apim-request-id", ""))
        kind = i % KINDS
        row["UserId"] = "1"
        frontend = {"content-type": "application/json"}
        backend: dict[str, str] = {}
        native_oid = GATEWAY_OID
        if kind == 0:  # the APIM policy's header on the backend request (upper case: ids are GUIDs)
            backend["X-Caller-Oid"] = person(1).upper()
            want = (person(1), "header-backend")
        elif kind == 1:  # a header on the frontend request
            frontend["x-caller-oid"] = person(2)
            want = (person(2), "header-frontend")
        elif kind == 2:  # both: the backend's (set by APIM from the token) wins over the client's
            frontend["x-caller-oid"] = person(99)
            backend["x-caller-oid"] = person(3)
            want = (person(3), "header-backend")
        elif kind == 3:  # no header; the native row names the caller (keyless access, no MI)
            native_oid = person(4)
            want = (person(4), "native") if native else ("", "")
        elif kind == 4:  # no header, the gateway's identity natively: the APIM user
            row["UserId"] = "dave-dev"
            want = ("dave-dev", "apim-user")
        else:  # the gateway's identity and the built-in administrator: nobody
            row["UserId"] = "administrator"
            want = ("", "")
        if kind == 1 and i % 4 == 1:  # an application: appid header only
            frontend.pop("x-caller-oid")
            frontend["x-caller-appid"] = "app-client-id-7"
            want = ("app-client-id-7", "header-frontend")
        row["RequestHeaders"] = json.dumps(frontend)
        row["BackendRequestHeaders"] = json.dumps(backend) if backend else ""
        if native is not None:
            properties = json.loads(native["properties_s"])
            properties["objectId"] = native_oid
            native["properties_s"] = json.dumps(properties)
        expected[row["CorrelationId"]] = want
    return logs, expected
