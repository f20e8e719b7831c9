"""A loopback fake of exactly the Salesforce endpoints plandeploy (and the CumulusCI calls it
makes) uses, over HTTPS with a throw-away certificate.

Each "host" of the fake is one HTTPS listener on 127.0.0.1 with its own port; all share one
state. A login host stands for login.salesforce.com, test.salesforce.com or a My Domain; each
org has an instance host of its own (its `instance_url`). Endpoints, with their real paths:

OAuth 2.0 (any host)
- ``GET /services/oauth2/authorize`` (response_type=code, client_id, redirect_uri, state,
  scope, code_challenge, code_challenge_method=S256): the person "signs in" at once as the
  user set for that host by :meth:`FakeSalesforce.sign_in_as`; 302 to
  ``redirect_uri?code=...&state=...``. Unknown client or redirect_uri: 400 with
  ``error=...`` in a plain page (Salesforce shows an error page and does not redirect).
- ``POST /services/oauth2/token`` (form):
  - ``grant_type=authorization_code`` (code, client_id, client_secret, redirect_uri,
    code_verifier): ``{access_token, refresh_token, signature, scope, instance_url, id,
    token_type: "Bearer", issued_at}``; a ScratchOrgInfo ``AuthCode`` is exchanged the same
    way (no client secret, redirect_uri ``http://localhost:1717/OauthRedirect``).
  - ``grant_type=refresh_token`` (refresh_token, client_id, client_secret): the same without
    a new refresh token; a revoked one gives 400 ``{"error": "invalid_grant",
    "error_description": "expired access/refresh token"}``.
  - ``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`` (assertion: an RS256 JWT with
    iss=client id, sub=username, aud=login URL, exp): checked against the certificate
    registered for the client; an expired one gives 400 ``invalid_grant``.
  - a wrong client secret gives 400 ``{"error": "invalid_client", "error_description":
    "invalid client credentials"}``.
- ``GET /services/oauth2/userinfo`` (``Authorization: Bearer`` or ``?oauth_token=``): the
  OpenID Connect user info, with ``user_id``, ``organization_id``, ``preferred_username``,
  ``email`` and ``urls``; a bad token gives 403 ``Bad_OAuth_Token``.

REST (instance hosts; a bad token gives 401 ``[{"message": "Session expired or invalid",
"errorCode": "INVALID_SESSION_ID"}]``)
- ``GET /services/data/``: the API versions (CumulusCI picks the last one).
- ``GET /services/data/vXX.X/query/?q=SELECT f, ... FROM Object [WHERE Field = 'value']``
  for ``Organization``, ``ScratchOrgInfo`` and ``ActiveScratchOrg``: ``{totalSize, done,
  records: [{attributes: {type, url}, ...fields}]}``.
- ``GET /services/data/vXX.X/sobjects/Organization/<id>``: the record (CumulusCI reads it).
- ``POST /services/data/vXX.X/sobjects/Account/`` then ``GET .../sobjects/Account/<id>``:
  201 ``{id, success: true, errors: []}`` and the record.
- ``POST /services/data/vXX.X/sobjects/ScratchOrgInfo/``: a Dev Hub request; each later
  query of it moves its Status New → Creating → Active (or an error, or never), see
  :class:`ScratchPlan`; its AuthCode is exchanged with its ``ConnectedAppCallbackUrl``.
  ``DELETE .../sobjects/ScratchOrgInfo/<id>``: 204, the request and its org are gone.
- ``DELETE /services/data/vXX.X/sobjects/ActiveScratchOrg/<id>``: 204, the org is gone.
- ``GET /secur/frontdoor.jsp?sid=<access token>``: 302 into the org (``/lightning/page/home``).
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import http.server
import ipaddress
import json
import re
import secrets
import ssl
import string
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from plandeploy.testing import at_rest

API_VERSION = "62.0"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
SFDX_REDIRECT_URI = "http://localhost:1717/OauthRedirect"
_ALNUM = string.ascii_letters + string.digits


def salesforce_id(prefix: str) -> str:
    """An 18-character id with the object's 3-character prefix (the checksum is not real)."""
    return prefix + "".join(secrets.choice(_ALNUM) for _ in range(15))


@dataclass
class ScratchPlan:
    """How the next ScratchOrgInfo requests go: queries while `Creating`, then `outcome`
    ("Active", "Error" with `error_code`, or "never": it stays Creating)."""

    creating_polls: int = 1
    outcome: str = "Active"
    error_code: str = "SH-0001"


@dataclass
class FakeOrg:
    org_id: str
    name: str
    organization_type: str
    is_sandbox: bool
    trial_expiration: str | None
    instance_url: str = ""
    records: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)


@dataclass
class FakeUser:
    user_id: str
    username: str
    email: str
    org: FakeOrg


@dataclass
class _Grant:
    user: FakeUser
    host_url: str  # the login host the token came from: its `id` URL names it


class FakeSalesforce:
    """The fake: start it, add orgs and users, point the service's base URLs at its hosts.

    >>> with FakeSalesforce(client_id="cid", client_secret="secret") as fake: ...
    """

    def __init__(self, client_id: str, client_secret: str, redirect_uri: str = "") -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uris = {redirect_uri} if redirect_uri else set()
        self.hub_certificates: dict[str, bytes] = {}  # client id -> PEM certificate
        self.lock = threading.RLock()
        self.orgs: dict[str, FakeOrg] = {}
        self.users: dict[str, FakeUser] = {}
        self.signed_in: dict[str, FakeUser] = {}  # host URL -> who signs in there
        self.codes: dict[str, tuple[_Grant, str, str | None]] = {}
        self.access_tokens: dict[str, _Grant] = {}
        self.refresh_tokens: dict[str, _Grant] = {}
        self.revoked: set[str] = set()
        self.scratch_plan = ScratchPlan()
        self.scratch_requests: dict[str, dict[str, Any]] = {}
        self.active_scratch_orgs: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str, str]] = []  # (host URL, method, path) seen
        self._servers: list[http.server.ThreadingHTTPServer] = []
        self._dir = tempfile.TemporaryDirectory(prefix="fake-salesforce-")
        self.ca_file = str(Path(self._dir.name) / "ca.pem")
        self._context = self._make_tls()

    # -- life cycle ---------------------------------------------------------------------------

    def __enter__(self) -> FakeSalesforce:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()
        self._servers.clear()
        self._dir.cleanup()

    def _make_tls(self) -> ssl.SSLContext:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-salesforce")])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"),
                x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            ]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        cert_pem = cert.public_bytes(serialization.Encoding.PEM)
        key_file = Path(self._dir.name) / "key.pem"
        key_file.write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ))
        Path(self.ca_file).write_bytes(cert_pem)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.ca_file, key_file)
        return context

    def add_host(self, hostname: str = "127.0.0.1") -> str:
        """A new listener; returns its base URL (``https://<hostname>:<port>``)."""
        fake = self

        class Handler(_Handler):
            owner = fake

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        server.socket = self._context.wrap_socket(server.socket, server_side=True)
        url = f"https://{hostname}:{server.server_address[1]}"
        Handler.host_url = url
        self._servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True,
                         name=f"fake-salesforce-{url}").start()
        return url

    # -- set-up -------------------------------------------------------------------------------

    def add_org(self, name: str, organization_type: str = "Developer Edition",
                is_sandbox: bool = False, trial_expiration: str | None = None,
                org_id: str | None = None) -> FakeOrg:
        org = FakeOrg(org_id or salesforce_id("00D"), name, organization_type, is_sandbox,
                      trial_expiration)
        org.instance_url = self.add_host()
        with self.lock:
            self.orgs[org.org_id] = org
        return org

    def add_user(self, org: FakeOrg, username: str, email: str | None = None) -> FakeUser:
        user = FakeUser(salesforce_id("005"), username, email or username, org)
        with self.lock:
            self.users[username] = user
        return user

    def sign_in_as(self, host_url: str, user: FakeUser) -> None:
        """Who "signs in" on the authorize page of `host_url`."""
        with self.lock:
            self.signed_in[host_url] = user

    def revoke(self, refresh_token: str | None = None) -> None:
        """Revoke one refresh token (or all), as a user or admin does in Salesforce."""
        with self.lock:
            self.revoked.update([refresh_token] if refresh_token else self.refresh_tokens)

    def register_hub_certificate(self, client_id: str, certificate_pem: bytes) -> None:
        """The certificate uploaded to the connected app, for the JWT bearer flow."""
        self.hub_certificates[client_id] = certificate_pem

    def records(self, org: FakeOrg, sobject: str) -> list[dict[str, Any]]:
        with self.lock:
            return list(org.records.get(sobject, {}).values())

    def all_tokens(self) -> list[str]:
        """Every token and code the fake ever issued (to look for them where they must not be)."""
        with self.lock:
            return [*self.access_tokens, *self.refresh_tokens, *self.codes]

    # -- the grants ---------------------------------------------------------------------------

    def _issue(self, grant: _Grant, refresh: bool) -> dict[str, Any]:
        access = f"{grant.user.org.org_id[:15]}!{secrets.token_urlsafe(48)}"
        body = {
            "access_token": access,
            "signature": base64.b64encode(secrets.token_bytes(32)).decode(),
            "scope": "refresh_token web api id openid",
            "instance_url": grant.user.org.instance_url,
            "id": f"{grant.host_url}/id/{grant.user.org.org_id}/{grant.user.user_id}",
            "token_type": "Bearer",
            "issued_at": str(int(datetime.datetime.now().timestamp() * 1000)),
        }
        with self.lock:
            self.access_tokens[access] = grant
            if refresh:
                token = f"5Aep{secrets.token_urlsafe(60)}"
                self.refresh_tokens[token] = grant
                body["refresh_token"] = token
        # The end-of-session dump check looks for every token issued, also those that only a
        # worker ever held (a refreshed access token).
        at_rest.COLLECTED.secret("Salesforce access token", access)
        at_rest.COLLECTED.secret("Salesforce refresh token", body.get("refresh_token"))
        return body


class _Handler(http.server.BaseHTTPRequestHandler):
    owner: FakeSalesforce
    host_url: str
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Quiet: the tests read `owner.requests`."""

    # -- plumbing -----------------------------------------------------------------------------

    def _send(self, status: int, body: Any = None, headers: dict[str, str] | None = None,
              content_type: str = "application/json") -> None:
        data = b"" if body is None else (
            body.encode() if isinstance(body, str) else json.dumps(body).encode()
        )
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if data:
            self.send_header("Content-Type", f"{content_type};charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _form(self) -> dict[str, str]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode() if length else ""
        if self.headers.get("Content-Type", "").startswith("application/json"):
            return json.loads(raw or "{}")
        return {k: v[-1] for k, v in parse_qs(raw).items()}

    def _route(self, method: str) -> None:
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        with self.owner.lock:
            self.owner.requests.append((self.host_url, method, parts.path))
        path = parts.path.rstrip("/")
        if path == "/services/oauth2/authorize" and method == "GET":
            return self._authorize(query)
        if path == "/services/oauth2/token" and method == "POST":
            return self._token(self._form())
        if path == "/services/oauth2/userinfo":
            return self._userinfo(query)
        if path == "/secur/frontdoor.jsp" and method == "GET":
            return self._frontdoor(query)
        if path == "/services/data" and method == "GET":
            return self._send(200, [{"label": "Winter '25", "url": f"/services/data/v{API_VERSION}",
                                     "version": API_VERSION}])
        match = re.fullmatch(r"/services/data/v\d+\.\d+/(query|sobjects/(\w+)(?:/(\w+))?)", path)
        if not match:
            return self._send(404, [{"errorCode": "NOT_FOUND",
                                     "message": "The requested resource does not exist"}])
        grant = self._bearer()
        if grant is None:
            return self._send(401, [{"message": "Session expired or invalid",
                                     "errorCode": "INVALID_SESSION_ID"}])
        org = grant.user.org
        if match.group(1) == "query":
            return self._query(org, query.get("q", ""))
        return self._sobject(org, method, match.group(2), match.group(3))

    def do_GET(self) -> None:  # noqa: N802
        self._route("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._route("POST")

    def do_DELETE(self) -> None:  # noqa: N802
        self._route("DELETE")

    def do_PATCH(self) -> None:  # noqa: N802
        self._route("PATCH")

    def _bearer(self, query: dict[str, str] | None = None) -> _Grant | None:
        header = self.headers.get("Authorization", "")
        token = header[7:] if header.startswith("Bearer ") else (query or {}).get("oauth_token")
        if not token:
            return None
        with self.owner.lock:
            return self.owner.access_tokens.get(token)

    # -- OAuth --------------------------------------------------------------------------------

    def _authorize(self, query: dict[str, str]) -> None:
        fake = self.owner
        if query.get("client_id") != fake.client_id:
            return self._send(400, "error=invalid_client_id", content_type="text/plain")
        redirect_uri = query.get("redirect_uri", "")
        if fake.redirect_uris and redirect_uri not in fake.redirect_uris:
            return self._send(400, "error=redirect_uri_mismatch", content_type="text/plain")
        user = fake.signed_in.get(self.host_url)
        if user is None:
            return self._send(400, "error=no_user_signs_in_here", content_type="text/plain")
        code = f"aPrx{secrets.token_urlsafe(32)}"
        challenge = query.get("code_challenge")
        with fake.lock:
            fake.codes[code] = (_Grant(user, self.host_url), redirect_uri, challenge)
        params = {"code": code}
        if "state" in query:
            params["state"] = query["state"]
        separator = "&" if "?" in redirect_uri else "?"
        self._send(302, headers={"Location": f"{redirect_uri}{separator}{urlencode(params)}"})

    def _token_error(self, error: str, description: str) -> None:
        self._send(400, {"error": error, "error_description": description})

    def _token(self, form: dict[str, str]) -> None:
        fake = self.owner
        grant_type = form.get("grant_type")
        if grant_type == JWT_GRANT:
            return self._jwt(form.get("assertion", ""))
        if form.get("client_id") != fake.client_id:
            return self._token_error("invalid_client_id", "client identifier invalid")
        secret_given = form.get("client_secret")
        if grant_type == "authorization_code":
            with fake.lock:
                found = fake.codes.pop(form.get("code", ""), None)
            if found is None:
                return self._token_error("invalid_grant", "authentication failure")
            grant, redirect_uri, challenge = found
            if redirect_uri != form.get("redirect_uri"):
                return self._token_error("redirect_uri_mismatch", "redirect_uri must match")
            if redirect_uri != SFDX_REDIRECT_URI and secret_given != fake.client_secret:
                return self._token_error("invalid_client", "invalid client credentials")
            if challenge:
                verifier = form.get("code_verifier", "")
                digest = base64.urlsafe_b64encode(
                    hashlib.sha256(verifier.encode()).digest()
                ).decode().rstrip("=")
                if digest != challenge:
                    return self._token_error("invalid_grant", "invalid code verifier")
            return self._send(200, fake._issue(grant, refresh=True))
        if grant_type == "refresh_token":
            if secret_given is not None and secret_given != fake.client_secret:
                return self._token_error("invalid_client", "invalid client credentials")
            token = form.get("refresh_token", "")
            with fake.lock:
                grant = fake.refresh_tokens.get(token)
                revoked = token in fake.revoked
            if grant is None or revoked:
                return self._token_error("invalid_grant", "expired access/refresh token")
            return self._send(200, fake._issue(grant, refresh=False))
        return self._token_error("unsupported_grant_type", "grant type not supported")

    def _jwt(self, assertion: str) -> None:
        import jwt
        from cryptography import x509

        fake = self.owner
        try:
            unverified = jwt.decode(assertion, options={"verify_signature": False})
            certificate = fake.hub_certificates[unverified.get("iss")]
            public_key = x509.load_pem_x509_certificate(certificate).public_key()
            # Salesforce tolerates a few minutes of clock skew (CumulusCI sets exp to now).
            claims = jwt.decode(assertion, public_key, algorithms=["RS256"], leeway=180,
                                options={"verify_aud": False})
        except jwt.ExpiredSignatureError:
            return self._token_error("invalid_grant", "expired authorization code")
        except (jwt.PyJWTError, KeyError):
            return self._token_error("invalid_grant", "invalid assertion")
        user = fake.users.get(claims.get("sub", ""))
        if user is None:
            return self._token_error("invalid_grant", "user hasn't approved this consumer")
        self._send(200, fake._issue(_Grant(user, self.host_url), refresh=False))

    def _userinfo(self, query: dict[str, str]) -> None:
        grant = self._bearer(query)
        if grant is None:
            return self._send(403, "Bad_OAuth_Token", content_type="text/plain")
        user, org = grant.user, grant.user.org
        identity = f"{grant.host_url}/id/{org.org_id}/{user.user_id}"
        rest = f"{org.instance_url}/services/data/v{{version}}/"
        self._send(200, {
            "sub": identity,
            "user_id": user.user_id,
            "organization_id": org.org_id,
            "preferred_username": user.username,
            "nickname": user.username.split("@")[0],
            "name": "Test User",
            "email": user.email,
            "email_verified": True,
            "given_name": "Test",
            "family_name": "User",
            "zoneinfo": "America/Los_Angeles",
            "photos": {},
            "profile": f"{org.instance_url}/{user.user_id}",
            "picture": f"{org.instance_url}/img/userprofile/default_profile_200_v2.png",
            "active": True,
            "user_type": "STANDARD",
            "language": "en_US",
            "locale": "en_US",
            "utcOffset": -28800000,
            "updated_at": "2026-01-01T00:00:00Z",
            "is_app_installed": True,
            "urls": {
                "enterprise": f"{org.instance_url}/services/Soap/c/{{version}}/{org.org_id[:15]}",
                "rest": rest,
                "sobjects": f"{rest}sobjects/",
                "query": f"{rest}query/",
                "profile": f"{org.instance_url}/{user.user_id}",
                "custom_domain": org.instance_url,
            },
        })

    def _frontdoor(self, query: dict[str, str]) -> None:
        with self.owner.lock:
            grant = self.owner.access_tokens.get(query.get("sid", ""))
        if grant is None:
            return self._send(302, headers={"Location": f"{self.host_url}/?ec=302"})
        self._send(302, headers={"Location": f"{self.host_url}/lightning/page/home"})

    # -- REST ---------------------------------------------------------------------------------

    def _organization(self, org: FakeOrg) -> dict[str, Any]:
        return {
            "Id": org.org_id, "Name": org.name, "OrganizationType": org.organization_type,
            "IsSandbox": org.is_sandbox, "TrialExpirationDate": org.trial_expiration,
            "InstanceName": "CS1" if org.is_sandbox else "NA1", "NamespacePrefix": None,
        }

    def _rows(self, org: FakeOrg, sobject: str) -> list[dict[str, Any]]:
        fake = self.owner
        if sobject == "Organization":
            return [self._organization(org)]
        if sobject == "ScratchOrgInfo":
            return [fake_advance(fake, row) for row in fake.scratch_requests.values()]
        if sobject == "ActiveScratchOrg":
            return list(fake.active_scratch_orgs.values())
        return list(org.records.get(sobject, {}).values())

    def _query(self, org: FakeOrg, soql: str) -> None:
        match = re.fullmatch(
            r"\s*SELECT\s+(.+?)\s+FROM\s+(\w+)(?:\s+WHERE\s+(\w+)\s*=\s*'([^']*)')?"
            r"(?:\s+LIMIT\s+\d+)?\s*", soql, re.IGNORECASE | re.DOTALL,
        )
        if not match:
            return self._send(400, [{"message": "unexpected token",
                                     "errorCode": "MALFORMED_QUERY"}])
        fields = [f.strip() for f in match.group(1).split(",")]
        sobject = match.group(2)
        with self.owner.lock:
            rows = self._rows(org, sobject)
        if match.group(3):
            rows = [r for r in rows if str(r.get(match.group(3))) == match.group(4)]
        sobjects = f"/services/data/v{API_VERSION}/sobjects/{sobject}"
        records = [
            {"attributes": {"type": sobject, "url": f"{sobjects}/{r.get('Id')}"},
             **{name: r.get(name) for name in fields}}
            for r in rows
        ]
        self._send(200, {"totalSize": len(records), "done": True, "records": records})

    def _sobject(self, org: FakeOrg, method: str, sobject: str, record_id: str | None) -> None:
        fake = self.owner
        if sobject == "Organization" and method == "GET" and record_id:
            if record_id[:15] != org.org_id[:15]:
                return self._send(404, [{"errorCode": "NOT_FOUND", "message": "Not found"}])
            return self._record("Organization", self._organization(org))
        if sobject == "ScratchOrgInfo" and method == "POST" and not record_id:
            body = self._form()
            new_id = salesforce_id("2SR")
            with fake.lock:
                fake.scratch_requests[new_id] = {
                    "Id": new_id, "Status": "New", "ErrorCode": None, "ScratchOrg": None,
                    "SignupUsername": None, "LoginUrl": None, "AuthCode": None,
                    "_polls": 0, "_plan": fake.scratch_plan, "_request": body,
                }
            return self._send(201, {"id": new_id, "success": True, "errors": []})
        if sobject == "ScratchOrgInfo" and method == "DELETE" and record_id:
            with fake.lock:
                found = fake.scratch_requests.pop(record_id, None)
                for key, active in list(fake.active_scratch_orgs.items()):
                    if found and active["ScratchOrg"] == found.get("ScratchOrg"):
                        fake.active_scratch_orgs.pop(key)
                        fake.orgs.pop(active["_org_id"], None)
            if found is None:
                return self._send(404, [{"errorCode": "NOT_FOUND", "message": "Not found"}])
            return self._send(204)
        if sobject == "ActiveScratchOrg" and method == "DELETE" and record_id:
            with fake.lock:
                found = fake.active_scratch_orgs.pop(record_id, None)
                if found is not None:
                    fake.orgs.pop(found["_org_id"], None)
            if found is None:
                return self._send(404, [{"errorCode": "NOT_FOUND", "message": "Not found"}])
            return self._send(204)
        if sobject in ("ScratchOrgInfo", "ActiveScratchOrg", "Organization"):
            return self._send(405, [{"errorCode": "METHOD_NOT_ALLOWED", "message": method}])
        with fake.lock:
            table = org.records.setdefault(sobject, {})
        if method == "POST" and not record_id:
            new_id = salesforce_id("001" if sobject == "Account" else "a00")
            with fake.lock:
                table[new_id] = {"Id": new_id, **self._form()}
            return self._send(201, {"id": new_id, "success": True, "errors": []})
        if method == "GET" and record_id:
            with fake.lock:
                row = table.get(record_id)
            if row is None:
                return self._send(404, [{"errorCode": "NOT_FOUND",
                                         "message": "The requested resource does not exist"}])
            return self._record(sobject, row)
        self._send(405, [{"errorCode": "METHOD_NOT_ALLOWED", "message": method}])

    def _record(self, sobject: str, row: dict[str, Any]) -> None:
        self._send(200, {
            "attributes": {"type": sobject,
                           "url": f"/services/data/v{API_VERSION}/sobjects/{sobject}/{row['Id']}"},
            **{k: v for k, v in row.items() if not k.startswith("_")},
        })


def fake_advance(fake: FakeSalesforce, row: dict[str, Any]) -> dict[str, Any]:
    """One query of a ScratchOrgInfo: its status moves as its ScratchPlan says."""
    plan: ScratchPlan = row["_plan"]
    if row["Status"] in ("New", "Creating"):
        row["_polls"] += 1
        if row["_polls"] <= plan.creating_polls or plan.outcome == "never":
            row["Status"] = "Creating"
        elif plan.outcome == "Error":
            row["Status"], row["ErrorCode"] = "Error", plan.error_code
        else:
            request = row["_request"]
            org = fake.add_org(request.get("OrgName") or "Scratch Org",
                               organization_type="Developer Edition", is_sandbox=True,
                               trial_expiration=(datetime.date.today() + datetime.timedelta(
                                   days=int(request.get("DurationDays") or 7))).isoformat())
            # A domain no test's e-mail uses: "test-…a@example.com" would hold a requester's
            # "a@example.com" and the end-of-session dump check would report it as leaked.
            user = fake.add_user(org, f"test-{secrets.token_hex(4)}@scratch.example",
                                 request.get("AdminEmail"))
            code = f"aPrx{secrets.token_urlsafe(32)}"
            callback = request.get("ConnectedAppCallbackUrl") or SFDX_REDIRECT_URI
            fake.codes[code] = (_Grant(user, org.instance_url), callback, None)
            active_id = salesforce_id("2AS")
            # Salesforce stores the scratch org's id in 15 characters here.
            fake.active_scratch_orgs[active_id] = {
                "Id": active_id, "ScratchOrg": org.org_id[:15], "SignupUsername": user.username,
                "_org_id": org.org_id,
            }
            row.update(Status="Active", ScratchOrg=org.org_id[:15],
                       SignupUsername=user.username, LoginUrl=org.instance_url, AuthCode=code)
    return {k: v for k, v in row.items() if not k.startswith("_")}
