"""A local stand-in for Microsoft Entra's token endpoint and Microsoft Graph, for tests and the demo.

Serves HTTPS on 127.0.0.1 with a self-signed certificate written to ``ca_path`` (msal accepts only
https authorities), under Entra's and Graph's path layout, so that only the base URLs differ:

- ``GET /{tenant}/v2.0/.well-known/openid-configuration`` (msal's tenant discovery);
- ``POST /{tenant}/oauth2/v2.0/token``: the client-credentials grant, checking client id and secret;
- ``POST /v1.0/$batch``: up to 20 GET requests of ``/users/{id}``, ``/servicePrincipals/{id}`` and
  ``/servicePrincipals(appId='{id}')`` (``$select`` honoured), each answered 200 or 404 as Graph
  does; a bearer token it issued is required.

``throttle_batches`` makes the next $batch posts answer 429 with ``Retry-After``; ids in
``throttle_ids`` are answered 429 inside their batch, once each. ``batches`` records the URLs of
every batch received, ``token_requests`` the token grants.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import re
import secrets
import ssl
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from aoai_portal.emulators import JsonHandler, LocalHttpServer

_USER = re.compile(r"^/users/([^/?]+)$")
_SP = re.compile(r"^/servicePrincipals/([^/?]+)$")
_SP_BY_APP = re.compile(r"^/servicePrincipals\(appId='([^']+)'\)$")


def _self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 / localhost that is its own CA; returns (cert.pem, key.pem)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "graph-emulator")])
    now = dt.datetime.now(dt.UTC)
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


@dataclass
class GraphEmulator(LocalHttpServer):
    tenant_id: str = "72f988bf-86f1-41af-91ab-2d7cd011db47"
    client_id: str = "graph-client"
    client_secret: str = "graph-secret"
    # object id -> Graph user / servicePrincipal resource (camelCase properties, "id" added).
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    service_principals: dict[str, dict[str, Any]] = field(default_factory=dict)
    throttle_batches: int = 0
    throttle_ids: set[str] = field(default_factory=set)
    retry_after: str = "1"
    batches: list[list[str]] = field(default_factory=list)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    _tokens: set[str] = field(default_factory=set)
    _dir: tempfile.TemporaryDirectory[str] | None = None

    @property
    def ca_path(self) -> str:
        assert self._dir is not None
        return str(Path(self._dir.name) / "cert.pem")

    def tls_context(self) -> ssl.SSLContext:
        self._dir = tempfile.TemporaryDirectory(prefix="graph-emulator-")
        cert, key = _self_signed(Path(self._dir.name))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        return context

    def http_handler(self) -> type[JsonHandler]:
        emulator = self

        class Handler(_Handler):
            owner = emulator

        return Handler

    def stop(self) -> None:
        super().stop()
        if self._dir is not None:
            self._dir.cleanup()

    def add_user(self, object_id: str, **properties: Any) -> None:
        self.users[object_id] = {"id": object_id, **properties}

    def add_service_principal(self, object_id: str, **properties: Any) -> None:
        self.service_principals[object_id] = {"id": object_id, **properties}

    # --- Answers ------------------------------------------------------------------------------

    def token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        self.token_requests.append({k: ("***" if k == "client_secret" else v) for k, v in form.items()})
        if form.get("grant_type") != "client_credentials":
            return 400, {"error": "unsupported_grant_type"}
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return 401, {
                "error": "invalid_client",
                "error_description": "AADSTS7000215: Invalid client secret.",
            }
        token = secrets.token_urlsafe(24)
        self._tokens.add(token)
        return 200, {
            "token_type": "Bearer",
            "expires_in": 3599,
            "ext_expires_in": 3599,
            "access_token": token,
        }

    def authorized(self, header: str) -> bool:
        return header.startswith("Bearer ") and header[7:] in self._tokens

    def batch(self, body: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        requests = body.get("requests") or []
        if len(requests) > 20:
            return 400, _error("BadRequest", "Number of batch request steps exceeds the maximum of 20."), {}
        if self.throttle_batches > 0:
            self.throttle_batches -= 1
            return 429, _error("TooManyRequests", "Too many requests."), {"Retry-After": self.retry_after}
        self.batches.append([str(item.get("url")) for item in requests])
        return 200, {"responses": [self._one(item) for item in requests]}, {}

    def _one(self, item: dict[str, Any]) -> dict[str, Any]:
        url = urlsplit(str(item.get("url", "")))
        path = unquote(url.path)
        select = [s for s in parse_qs(url.query).get("$select", [""])[0].split(",") if s]
        found: dict[str, Any] | None = None
        if match := _USER.match(path):
            key = match.group(1)
            found = self.users.get(key)
        elif match := _SP.match(path):
            key = match.group(1)
            found = self.service_principals.get(key)
        elif match := _SP_BY_APP.match(path):
            key = match.group(1)
            found = next((sp for sp in self.service_principals.values() if sp.get("appId") == key), None)
        else:
            return {"id": item.get("id"), "status": 400, "body": _error("BadRequest", f"unsupported {path}")}
        if key in self.throttle_ids:
            self.throttle_ids.discard(key)
            return {
                "id": item.get("id"),
                "status": 429,
                "headers": {"Retry-After": self.retry_after},
                "body": {},
            }
        if found is None:
            message = f"Resource '{key}' does not exist or one of its queried reference-property objects are not present."
            return {"id": item.get("id"), "status": 404, "body": _error("Request_ResourceNotFound", message)}
        if select:
            found = {name: found.get(name) for name in select}
        return {
            "id": item.get("id"),
            "status": 200,
            "headers": {"Content-Type": "application/json"},
            "body": found,
        }


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


class _Handler(JsonHandler):
    owner: GraphEmulator

    def do_GET(self) -> None:
        owner = self.owner
        base = f"{owner.base_url}/{owner.tenant_id}"
        if urlsplit(self.path).path == f"/{owner.tenant_id}/v2.0/.well-known/openid-configuration":
            self.json_send(
                200,
                {
                    "issuer": f"{base}/v2.0",
                    "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                    "token_endpoint": f"{base}/oauth2/v2.0/token",
                    "jwks_uri": f"{base}/discovery/v2.0/keys",
                    "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                    "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
                },
            )
            return
        self.json_send(404, _error("NotFound", self.path))

    def do_POST(self) -> None:
        owner = self.owner
        path = urlsplit(self.path).path
        if path == f"/{owner.tenant_id}/oauth2/v2.0/token":
            form = {k: v[0] for k, v in parse_qs(self.body_read().decode()).items()}
            self.json_send(*owner.token(form))
            return
        if path == "/v1.0/$batch":
            if not owner.authorized(self.headers.get("Authorization", "")):
                self.body_read()
                self.json_send(401, _error("InvalidAuthenticationToken", "Access token is empty or invalid."))
                return
            self.json_send(*owner.batch(json.loads(self.body_read() or b"{}")))
            return
        self.json_send(404, _error("NotFound", self.path))
