"""Verify the bearer JWT that a CDS client (EHR) sends with every CDS Hooks call.

CDS Hooks 2.0 "Trusting CDS Clients": the token is signed by the EHR with an asymmetric key;
the service checks, in this order,

1. ``alg`` is asymmetric (ES/RS/PS 256/384/512): never ``none`` or HMAC;
2. ``iss`` is an allow-listed issuer (``INOPLAN_CDS_ISSUERS``);
3. the key is found by ``kid`` in that issuer's JWK Set, fetched only from the configured
   ``jwks_url``/``jwks_file`` or an allow-listed ``jku`` (never from a URL the token names);
4. the signature verifies;
5. ``aud`` is exactly the URL of the endpoint being called;
6. ``exp``/``iat``/``nbf`` hold with a small leeway and the lifetime is within the issuer's maximum;
7. ``jti`` was not seen before (the store keeps it until the token expires).

Any failure raises :class:`TokenRejected`; the HTTP adapter answers 401 with no detail and logs
the reason with ``iss`` and ``jti`` only (never the token, never patient data), escaped: they
come from a token that failed verification. The clock and the ``jti`` store (in production the
database's, ``inoplan.persistence.replay``) are injected, so every rule is testable without
waiting.

Each issuer also lists the FHIR servers (``fhir_servers``) that its EHR may name as
``fhirServer``: the EHR's access token is sent to no other address (:meth:`TrustedIssuer.
fhir_base`), only over https, and redirects are never followed.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
import re
import threading
import time
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import orjson

__all__ = [
    "ALLOWED_ALGORITHMS",
    "CdsTokenVerifier",
    "JtiStore",
    "TokenRejected",
    "TrustedIssuer",
    "load_issuers",
    "normalize_fhir_base",
]

log = logging.getLogger("inoplan.cds.security")

ALLOWED_ALGORITHMS = frozenset(
    {"ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
)
_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
DEFAULT_MAX_LIFETIME_S = 900  # Epic's documented tokens live 900 s, the sandbox's 300 s
DEFAULT_LEEWAY_S = 30
REFETCH_INTERVAL_S = 60.0  # an unknown kid triggers at most one JWKS fetch per minute
MAX_ISS_LENGTH = 512  # the replay store's column sizes
MAX_JTI_LENGTH = 255


class TokenRejected(Exception):
    """The token may not be trusted; ``reason`` is for the log, never for the caller."""

    def __init__(self, reason: str, *, iss: str | None = None, jti: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.iss = iss
        self.jti = jti


class JtiStore(Protocol):
    def remember(self, iss: str, jti: str, expires_at: datetime) -> bool:
        """Record a token id; False when it was already recorded (a replay)."""
        ...


def normalize_fhir_base(url: object) -> str | None:
    """``https://host[:port]/path`` in one spelling (host lower case, default port and trailing
    slash dropped), or None when the URL is not a plain https base URL: no user name, query,
    fragment, dot segments, percent escapes, backslashes or empty segments.

    >>> normalize_fhir_base("https://EHR.example.org:443/fhir/R4/")
    'https://ehr.example.org/fhir/R4'
    >>> normalize_fhir_base("https://ehr.example.org/fhir/../admin") is None
    True
    """
    if not isinstance(url, str) or not url or len(url) > 2000:
        return None
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    host = parts.hostname
    if parts.scheme.lower() != "https" or not host:
        return None
    if parts.username is not None or parts.password is not None or parts.query or parts.fragment:
        return None
    path = parts.path.rstrip("/")
    if any(c in path for c in "%\\@;") or any(ord(c) < 33 or ord(c) > 126 for c in url.strip()):
        return None
    if any(segment in ("", ".", "..") for segment in path.split("/")[1:]):
        return None
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != 443:
        netloc += f":{port}"
    return f"https://{netloc}{path}"


@dataclass(frozen=True)
class TrustedIssuer:
    """One EHR (or test client) allowed to call the services."""

    iss: str
    jwks_url: str | None = None
    jwks_file: Path | None = None
    jwks: Mapping[str, Any] | None = None  # inline key set (tests, simple set-ups)
    max_lifetime_s: int = DEFAULT_MAX_LIFETIME_S
    allowed_jku: tuple[str, ...] = ()
    tenants: tuple[str, ...] = ()  # when set, the token's tenant must be one of these
    #: FHIR base URLs this EHR may name as ``fhirServer`` (normalized, https only). Empty: the
    #: service never calls back (prefetch only) and never sends the EHR's token anywhere.
    fhir_servers: tuple[str, ...] = ()

    def jku_allowed(self, jku: str) -> bool:
        return jku == self.jwks_url or jku in self.allowed_jku

    def fhir_base(self, fhir_server: object) -> str | None:
        """The allow-listed base URL that ``fhir_server`` names, or None (never call it)."""
        base = normalize_fhir_base(fhir_server)
        return base if base is not None and base in self.fhir_servers else None


def load_issuers(path: str | Path) -> list[TrustedIssuer]:
    """Read ``[[issuer]]`` tables from the TOML file named by ``INOPLAN_CDS_ISSUERS``.

    A relative ``jwks_file`` is read relative to the TOML file.
    """
    source = Path(path)
    with source.open("rb") as handle:
        data = tomllib.load(handle)
    issuers = []
    for i, table in enumerate(data.get("issuer") or ()):
        where = f"{source}: issuer[{i}]"
        if not isinstance(table, dict) or not isinstance(table.get("iss"), str):
            raise ValueError(f"{where}: needs iss")
        url, file = table.get("jwks_url"), table.get("jwks_file")
        if (url is None) == (file is None):
            raise ValueError(f"{where}: needs exactly one of jwks_url or jwks_file")
        if (
            url is not None
            and not str(url).startswith("https://")
            and not str(url).startswith("http://127.0.0.1")
        ):
            raise ValueError(f"{where}: jwks_url must use https")
        jwks_file = None
        if file is not None:
            jwks_file = Path(file) if Path(file).is_absolute() else source.parent / file
        lifetime = int(table.get("max_lifetime_s", DEFAULT_MAX_LIFETIME_S))
        if not 1 <= lifetime <= 3600:
            raise ValueError(f"{where}: max_lifetime_s must be between 1 and 3600")
        servers = table.get("fhir_servers", [])
        if not isinstance(servers, list):
            raise ValueError(f"{where}: fhir_servers must be a list of https URLs")
        fhir_servers = []
        for server in servers:
            base = normalize_fhir_base(server)
            if base is None:
                raise ValueError(
                    f"{where}: fhir_servers entry {server!r} is not a plain https base URL"
                )
            fhir_servers.append(base)
        issuers.append(
            TrustedIssuer(
                iss=table["iss"],
                jwks_url=url,
                jwks_file=jwks_file,
                max_lifetime_s=lifetime,
                allowed_jku=tuple(table.get("allowed_jku", ())),
                tenants=tuple(table.get("tenants", ())),
                fhir_servers=tuple(fhir_servers),
            )
        )
    return issuers


@dataclass
class _KeySet:
    keys: dict[str, _Key] = field(default_factory=dict)  # kid -> key
    fetched_at: float = float("-inf")


def _public_only(jwks: Mapping[str, Any]) -> dict[str, Any]:
    keys = []
    for key in jwks.get("keys") or ():
        if isinstance(key, Mapping):
            keys.append({name: v for name, v in key.items() if name not in _PRIVATE_MEMBERS})
    return {"keys": keys}


class CdsTokenVerifier:
    """Verify CDS Hooks bearer tokens against trusted issuers (thread-safe).

    Parameters
    ----------
    issuers
        The allow-list.
    jti_store
        Where seen token ids are kept until they expire (the database in production).
    clock
        Seconds since the epoch; injected so tests control time.
    http_get
        ``url -> JWK Set dict``; by default httpx with a 2 s timeout, redirects refused.
    """

    def __init__(
        self,
        issuers: Iterable[TrustedIssuer],
        jti_store: JtiStore,
        *,
        clock: Callable[[], float] = time.time,
        leeway_s: int = DEFAULT_LEEWAY_S,
        http_get: Callable[[str], Mapping[str, Any]] | None = None,
        refetch_interval_s: float = REFETCH_INTERVAL_S,
    ) -> None:
        self._issuers = {issuer.iss: issuer for issuer in issuers}
        self._store = jti_store
        self._clock = clock
        self._leeway = leeway_s
        self._http_get = http_get or _fetch_jwks
        self._refetch_interval = refetch_interval_s
        self._cache: dict[tuple[str, str], _KeySet] = {}
        self._lock = threading.Lock()

    @property
    def issuers(self) -> tuple[str, ...]:
        return tuple(self._issuers)

    def issuer(self, iss: object) -> TrustedIssuer | None:
        """The trusted issuer named ``iss`` (after :meth:`verify`), or None."""
        return self._issuers.get(iss) if isinstance(iss, str) else None

    def verify(self, token: str | None, audience: str, *, remember: bool = True) -> dict[str, Any]:
        """Return the verified claims, or raise :class:`TokenRejected`.

        With ``remember=False`` the replay check is left to the caller, who must then call
        :meth:`remember` before trusting the call.

        The token is split and decoded once; the signature is checked over the bytes as sent
        (``header.payload``) by the algorithm's own verifier (PyJWT's ``Algorithm.verify``:
        OpenSSL through ``cryptography``, the raw ECDSA signature turned into DER, the curve
        checked against the algorithm), with the key object prepared once per key and
        algorithm; the claims are checked here as :func:`jwt.decode` checked them (required
        ``iss``, ``aud``, ``exp``, ``iat``, ``jti``; ``aud`` a string or a list of strings;
        ``sub`` and ``jti`` strings), with no second parse of the token.
        """
        if not token:
            raise TokenRejected("no bearer token")
        header, unverified, signing_input, signature = _split(token)
        iss = unverified.get("iss") if isinstance(unverified.get("iss"), str) else None
        jti = unverified.get("jti") if isinstance(unverified.get("jti"), str) else None
        alg = header.get("alg")
        if alg not in ALLOWED_ALGORITHMS:
            raise TokenRejected(f"algorithm {alg!r} not allowed", iss=iss, jti=jti)
        if header.get("typ") not in (None, "JWT", "jwt"):
            raise TokenRejected("typ is not JWT", iss=iss, jti=jti)
        issuer = self._issuers.get(iss or "")
        if issuer is None:
            raise TokenRejected("issuer not trusted", iss=iss, jti=jti)
        jku = header.get("jku")
        out_of_band = issuer.jwks is not None or issuer.jwks_file is not None
        if out_of_band:
            jku = None  # keys exchanged out of band: the jku hint is never fetched
        elif jku is not None and not issuer.jku_allowed(str(jku)):
            raise TokenRejected("jku not allow-listed", iss=iss, jti=jti)
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise TokenRejected("no kid", iss=iss, jti=jti)
        if "crit" in header:  # no critical extension is understood here (RFC 7515 4.1.11)
            raise TokenRejected("invalid token (crit header)", iss=iss, jti=jti)
        key = self._key(issuer, kid, str(jku) if jku else None)
        if key is None:
            raise TokenRejected("unknown key", iss=iss, jti=jti)
        if key.alg and key.alg != alg:
            raise TokenRejected("alg does not match the key", iss=iss, jti=jti)
        algorithm, prepared = key.verifier(alg, iss, jti)
        if not algorithm.verify(signing_input, prepared, signature):
            raise TokenRejected("bad signature", iss=iss, jti=jti)
        claims = unverified  # the signature covers these very bytes
        for name in _REQUIRED_CLAIMS:
            if claims.get(name) is None:
                raise TokenRejected("invalid token (MissingRequiredClaimError)", iss=iss, jti=jti)
        if claims["iss"] != issuer.iss:
            raise TokenRejected("invalid token (InvalidIssuerError)", iss=iss, jti=jti)
        if not _audience_ok(claims["aud"], audience):
            raise TokenRejected("wrong audience", iss=iss, jti=jti)
        if "sub" in claims and not isinstance(claims["sub"], str):
            raise TokenRejected("invalid token (InvalidSubjectError)", iss=iss, jti=jti)
        if not isinstance(claims["jti"], str):
            raise TokenRejected("invalid token (InvalidJTIError)", iss=iss, jti=jti)
        if len(claims["iss"]) > MAX_ISS_LENGTH or len(claims["jti"]) > MAX_JTI_LENGTH:
            raise TokenRejected("iss or jti too long", iss=iss, jti=jti)
        self._check_times(claims, issuer, iss, jti)
        if issuer.tenants and claims.get("tenant") not in issuer.tenants:
            raise TokenRejected("tenant not allowed", iss=iss, jti=jti)
        if remember:
            self.remember(claims)
        return claims

    def remember(self, claims: Mapping[str, Any]) -> None:
        """Record the token's ``jti`` until it expires; raise TokenRejected on a replay."""
        exp = _numeric_date(claims.get("exp"))
        if exp is None:
            raise TokenRejected(
                "exp/iat/nbf not numbers", iss=str(claims.get("iss")), jti=str(claims.get("jti"))
            )
        expires_at = datetime.fromtimestamp(exp, tz=UTC)
        if not self._store.remember(str(claims["iss"]), str(claims["jti"]), expires_at):
            raise TokenRejected("replayed jti", iss=str(claims["iss"]), jti=str(claims["jti"]))

    def _check_times(
        self, claims: Mapping[str, Any], issuer: TrustedIssuer, iss: str | None, jti: str | None
    ) -> None:
        now = self._clock()
        exp, iat = _numeric_date(claims["exp"]), _numeric_date(claims["iat"])
        nbf = _numeric_date(claims["nbf"]) if "nbf" in claims else None
        if exp is None or iat is None or ("nbf" in claims and nbf is None):
            # RFC 7519 section 2: a NumericDate is a JSON number (not a string, not a boolean)
            raise TokenRejected("exp/iat/nbf not numbers", iss=iss, jti=jti)
        if exp <= now - self._leeway:
            raise TokenRejected("expired", iss=iss, jti=jti)
        if iat > now + self._leeway:
            raise TokenRejected("issued in the future", iss=iss, jti=jti)
        if nbf is not None and nbf > now + self._leeway:
            raise TokenRejected("not yet valid", iss=iss, jti=jti)
        if exp <= iat or exp - iat > issuer.max_lifetime_s:
            raise TokenRejected("lifetime above the issuer's maximum", iss=iss, jti=jti)

    # -- keys ------------------------------------------------------------------------------

    def _key(self, issuer: TrustedIssuer, kid: str, jku: str | None) -> _Key | None:
        source = jku or issuer.jwks_url or str(issuer.jwks_file or "inline")
        cache_key = (issuer.iss, source)
        with self._lock:
            entry = self._cache.get(cache_key)
            if entry is not None and kid in entry.keys:
                return entry.keys[kid]
            now = time.monotonic()
            if entry is not None and now - entry.fetched_at < self._refetch_interval:
                return None  # unknown kid, fetched recently: do not hammer the EHR
            try:
                raw = self._load(issuer, jku)
            except Exception as exc:  # network or file trouble: refuse, keep old keys
                log.warning("JWKS for %s unavailable: %s", issuer.iss, type(exc).__name__)
                if entry is not None:
                    entry.fetched_at = now
                return None
            self._cache[cache_key] = entry = _KeySet(keys=_parse_keys(raw), fetched_at=now)
            return entry.keys.get(kid)

    def _load(self, issuer: TrustedIssuer, jku: str | None) -> Mapping[str, Any]:
        if jku is not None:
            return self._http_get(jku)
        if issuer.jwks is not None:
            return issuer.jwks
        if issuer.jwks_file is not None:
            data: Mapping[str, Any] = json.loads(issuer.jwks_file.read_text(encoding="utf-8"))
            return data
        if issuer.jwks_url is not None:
            return self._http_get(issuer.jwks_url)
        return {"keys": []}


#: A compact-serialisation segment: base64url, optionally padded (as some issuers send it).
_SEGMENT = re.compile(r"[A-Za-z0-9_-]*={0,2}")
_REQUIRED_CLAIMS = ("iss", "aud", "exp", "iat", "jti")


def _split(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    """Header, claims, signing input and signature of a compact JWS, decoded once.

    The header and claims are trusted for nothing until the signature over the signing input
    (the first two segments exactly as sent) has verified: they pick the issuer and the key.
    """
    parts = token.split(".")
    if len(parts) != 3 or not all(_SEGMENT.fullmatch(part) for part in parts):
        raise TokenRejected("malformed token")
    try:
        header, claims = (orjson.loads(_b64decode(part)) for part in parts[:2])
        signature = _b64decode(parts[2])
    except (ValueError, binascii.Error):  # orjson.JSONDecodeError is a ValueError
        raise TokenRejected("malformed token") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise TokenRejected("malformed token")
    return header, claims, f"{parts[0]}.{parts[1]}".encode("ascii"), signature


def _b64decode(segment: str) -> bytes:
    stripped = segment.rstrip("=")
    if stripped != segment and len(segment) % 4:
        raise ValueError("padding that does not complete a quantum")
    return base64.urlsafe_b64decode(stripped + "=" * (-len(stripped) % 4))


def _audience_ok(claim: Any, audience: str) -> bool:
    """``aud`` names this endpoint: the URL itself or a list of strings holding it."""
    names = [claim] if isinstance(claim, str) else claim
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        return False
    return audience in names


class _Key:
    """A trusted public key (by ``kid``) with its verifiers, prepared once per algorithm."""

    def __init__(self, jwk: Any, alg: str | None) -> None:
        self.jwk = jwk  # jwt.PyJWK
        self.alg = alg  # the JWK's own "alg", when it names one
        self._verifiers: dict[str, tuple[Any, Any]] = {}

    def verifier(self, alg: str, iss: str | None, jti: str | None) -> tuple[Any, Any]:
        """(PyJWT algorithm object, key prepared for it); TokenRejected when they do not fit
        (an EC key for an RS algorithm, a P-256 key for ES384...)."""
        found = self._verifiers.get(alg)
        if found is None:
            import jwt

            algorithm = jwt.get_algorithm_by_name(alg)
            try:
                prepared = algorithm.prepare_key(self.jwk.key)
            except (jwt.PyJWTError, TypeError, ValueError):  # PyJWT: TypeError for a key type
                raise TokenRejected("invalid token (InvalidKeyError)", iss=iss, jti=jti) from None
            found = self._verifiers[alg] = (algorithm, prepared)
        return found


def _parse_keys(raw: Mapping[str, Any]) -> dict[str, _Key]:
    import jwt

    keys: dict[str, _Key] = {}
    for jwk in _public_only(raw)["keys"]:
        kid = jwk.get("kid")
        if not isinstance(kid, str) or jwk.get("kty") not in ("EC", "RSA"):
            continue  # symmetric ("oct") keys are never used
        if jwk.get("use") not in (None, "sig"):
            continue
        try:
            keys[kid] = _Key(jwt.PyJWK.from_dict(jwk), jwk.get("alg"))
        except jwt.PyJWTError:
            log.warning("skipping an unusable JWK (kid %s)", kid)
    return keys


def _fetch_jwks(url: str, *, transport: Any = None) -> Mapping[str, Any]:
    """GET a JWK Set: 2 s timeout, https only (or loopback), redirects refused."""
    import httpx

    if not url.startswith(("https://", "http://127.0.0.1", "http://localhost")):
        raise ValueError("a JWK Set URL must use https")
    with httpx.Client(timeout=2.0, follow_redirects=False, transport=transport) as client:
        response = client.get(url, headers={"Accept": "application/json"})
    response.raise_for_status()  # a 3xx is an error too: redirects are not followed
    if response.is_redirect:
        raise ValueError("redirect refused")
    data: Mapping[str, Any] = response.json()
    return data


#: The latest NumericDate accepted: 9999-12-31T23:59:59Z (a datetime can hold it).
_MAX_NUMERIC_DATE = 253_402_300_799


def _numeric_date(value: Any) -> float | None:
    """A JWT NumericDate (RFC 7519 section 2): an int or a finite float from 0 to year 9999;
    anything else (a string such as "NaN", a boolean, NaN, an infinity) is None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value) if isinstance(value, int) and abs(value) < 2**63 else value
    if isinstance(number, int) or not math.isfinite(number):
        return None
    if not 0 <= number <= _MAX_NUMERIC_DATE:
        return None
    return number
