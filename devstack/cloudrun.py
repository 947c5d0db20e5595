"""A Cloud Run front for the local functions: what stands between a caller and the container.

    python -m devstack.cloudrun --certs-url URL --service '{"name": "publish", "port": 8124,
        "upstream": "http://127.0.0.1:8125", "invokers": ["tasks@p.iam.gserviceaccount.com"],
        "audiences": ["https://publish.test/"]}' [--service ...]

Each service listens on its own loopback port and forwards to its function. A service with
`invokers` has Cloud Run's invoker IAM check on, and the front does what Cloud Run does
(cloud.google.com/run/docs/authenticating/service-to-service, troubleshooting): it refuses a
request without a valid Google-signed ID token (RS256 against the signer's certificates, Google's
issuer, not expired, `aud` the service's URL or one of its custom audiences) with 401, a token of
a principal without `roles/run.invoker` with 403, and forwards the others with the token's
signature replaced by `SIGNATURE_REMOVED_BY_GOOGLE`. The token is read from
X-Serverless-Authorization when that header is sent (then Authorization, the app's own
credential, passes through unchanged), else from Authorization. Services without `invokers` are
public (`allUsers` or the check off) and pass through unchanged. The signer is the Cloud Tasks
stand-in (its certificates at `--certs-url`), as Google signs the tokens Cloud Tasks sends.
Development only.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jwt
import requests
from cryptography import x509
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from devstack.processes import stop, wait_until_listening

ISSUERS = ("accounts.google.com", "https://accounts.google.com")
SIGNATURE_REMOVED = "SIGNATURE_REMOVED_BY_GOOGLE"
SERVERLESS_AUTHORIZATION = "X-Serverless-Authorization"
CLOCK_SKEW_SECONDS = 10
UPSTREAM_TIMEOUT_SECONDS = 600  # a Cloud Run request may take up to its timeout
# Not forwarded either way (RFC 9110 section 7.6.1), as any proxy.
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding"}
)
_UNAUTHENTICATED = "401 Unauthorized: the request was not authenticated (no valid ID token)"
_FORBIDDEN = "403 Forbidden: your client does not have permission to invoke this service"


@dataclass(frozen=True)
class Service:
    name: str
    port: int
    upstream: str
    # Principals with roles/run.invoker; empty: the invoker check is off (a public service).
    invokers: tuple[str, ...] = ()
    audiences: tuple[str, ...] = ()

    def to_json(self) -> str:
        return json.dumps(
            {
                "name": self.name,
                "port": self.port,
                "upstream": self.upstream,
                "invokers": list(self.invokers),
                "audiences": list(self.audiences),
            }
        )

    @classmethod
    def from_json(cls, text: str) -> Service:
        spec = json.loads(text)
        return cls(
            spec["name"],
            int(spec["port"]),
            spec["upstream"],
            tuple(spec.get("invokers") or ()),
            tuple(spec.get("audiences") or ()),
        )


class _RefusedError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class _Certificates:
    """The signer's public keys by key id, fetched again when a token names an unknown one."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._guard = threading.Lock()
        self._keys: dict[str, Any] = {}

    def key(self, kid: object) -> Any:
        with self._guard:
            if not isinstance(kid, str):
                raise _RefusedError(401, _UNAUTHENTICATED)
            if kid not in self._keys:
                certs = requests.get(self._url, timeout=5).json()
                self._keys = {
                    k: x509.load_pem_x509_certificate(pem.encode()).public_key()
                    for k, pem in certs.items()
                }
            if kid not in self._keys:
                raise _RefusedError(401, _UNAUTHENTICATED)
            return self._keys[kid]


class Front:
    """The WSGI app of one service."""

    def __init__(self, service: Service, certs: _Certificates) -> None:
        self._service = service
        self._certs = certs
        self._http = requests.Session()

    def __call__(self, environ: Any, start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        try:
            headers = self._admitted_headers(request)
        except _RefusedError as refused:
            response = Response(str(refused), refused.status, content_type="text/plain")
            if refused.status == 401:
                response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
            return response(environ, start_response)
        return self._forward(request, headers)(environ, start_response)

    def _admitted_headers(self, request: Request) -> dict[str, str]:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        if not self._service.invokers:
            return headers
        # With X-Serverless-Authorization the ID token is there, and Authorization (the app's
        # own credential) passes to the container untouched.
        serverless = request.headers.get(SERVERLESS_AUTHORIZATION) is not None
        checked = SERVERLESS_AUTHORIZATION if serverless else "Authorization"
        token = self._token(request.headers.get(checked, ""))
        claims = self._verified(token)
        if claims.get("email") not in self._service.invokers or not claims.get("email_verified"):
            raise _RefusedError(403, _FORBIDDEN)
        unsigned = token.rpartition(".")[0] + "." + SIGNATURE_REMOVED
        headers[checked] = f"Bearer {unsigned}"
        return headers

    @staticmethod
    def _token(header: str) -> str:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or token.count(".") != 2:
            raise _RefusedError(401, _UNAUTHENTICATED)
        return token.strip()

    def _verified(self, token: str) -> Mapping[str, Any]:
        try:
            key = self._certs.key(jwt.get_unverified_header(token).get("kid"))
            claims: Mapping[str, Any] = jwt.decode(
                token,
                key,
                algorithms=["RS256"],
                audience=list(self._service.audiences),
                issuer=ISSUERS,
                leeway=CLOCK_SKEW_SECONDS,
                options={"require": ["iss", "aud", "exp", "iat"]},
            )
        except (jwt.PyJWTError, requests.RequestException, ValueError) as exc:
            raise _RefusedError(401, _UNAUTHENTICATED) from exc
        return claims

    def _forward(self, request: Request, headers: Mapping[str, str]) -> Response:
        url = self._service.upstream + request.full_path.rstrip("?")
        try:
            answer = self._http.request(
                request.method,
                url,
                data=request.get_data(),
                headers=dict(headers),
                stream=True,
                allow_redirects=False,
                timeout=UPSTREAM_TIMEOUT_SECONDS,
            )
        except requests.RequestException:
            return Response("503 Service Unavailable", 503, content_type="text/plain")
        body = answer.raw.read(decode_content=False)
        # The raw headers keep each Set-Cookie apart (requests' merged view joins them with
        # commas, which no browser reads as two cookies).
        raw = answer.raw.headers.items()
        passed = [(k, v) for k, v in raw if k.lower() not in _HOP_BY_HOP]
        return Response(body, answer.status_code, headers=passed)


def serve(services: Sequence[Service], certs_url: str) -> list[BaseWSGIServer]:
    """Start one threaded server per service; the caller stops them with shutdown()."""
    WSGIRequestHandler.protocol_version = "HTTP/1.1"
    certs = _Certificates(certs_url)
    servers = []
    for service in services:
        server = make_server("127.0.0.1", service.port, Front(service, certs), threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    return servers


def command(services: Sequence[Service], certs_url: str) -> list[str]:
    """The command line of a front process for these services."""
    args = [sys.executable, "-m", "devstack.cloudrun", "--certs-url", certs_url]
    for service in services:
        args += ["--service", service.to_json()]
    return args


@contextlib.contextmanager
def running(services: Sequence[Service], certs_url: str) -> Iterator[None]:
    """A front process for these services until the block ends (tests and benches)."""
    proc = subprocess.Popen(
        command(services, certs_url), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        for service in services:
            wait_until_listening(proc, service.port, f"cloudrun front of {service.name}")
        yield
    finally:
        stop(proc)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m devstack.cloudrun")
    parser.add_argument("--certs-url", required=True, help="the ID token signer's certificates")
    parser.add_argument("--service", action="append", required=True, type=Service.from_json)
    args = parser.parse_args()
    servers = serve(args.service, args.certs_url)
    for service in args.service:
        print(f"cloudrun: {service.name} on http://127.0.0.1:{service.port}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        threading.Event().wait()
    for server in servers:
        server.shutdown()


if __name__ == "__main__":
    main()
