"""JWT verification for CDS Hooks calls: known answers, sandbox tokens, the refusal table."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
import pytest

from inoplan.interop.security import (
    CdsTokenVerifier,
    TokenRejected,
    TrustedIssuer,
    load_issuers,
)
from tests.interop.helpers import (
    CDS,
    NOW,
    SANDBOX_ISS,
    SANDBOX_JKU,
    SeenIds,
    load,
    mint,
    sandbox_jwk,
    sandbox_public_jwks,
)

SPEC_AUD = "https://cds.example.org/cds-services/some-service"
SPEC_ISS = "https://fhir-ehr.example.com/"
SPEC_EXP = 1422568860
AUD = "https://inoplan.example.org/cds-services/inoplan-order-sign"


def spec_token() -> str:
    return (CDS / "spec-example-jwt.txt").read_text(encoding="utf-8").strip()


class FakeJwks:
    """Serves JWK Sets by URL and records every fetch."""

    def __init__(self, sets: dict[str, dict[str, Any]]) -> None:
        self.sets = sets
        self.fetched: list[str] = []

    def __call__(self, url: str) -> dict[str, Any]:
        self.fetched.append(url)
        return self.sets[url]


def sandbox_verifier(clock: float = NOW, **kwargs: object) -> tuple[CdsTokenVerifier, FakeJwks]:
    fetch = FakeJwks({SANDBOX_JKU: sandbox_public_jwks()})
    issuer = TrustedIssuer(iss=SANDBOX_ISS, jwks_url=SANDBOX_JKU, max_lifetime_s=300)
    verifier = CdsTokenVerifier(
        [issuer],
        SeenIds(clock=lambda: clock),
        clock=lambda: clock,
        http_get=fetch,
        **kwargs,  # type: ignore[arg-type]
    )
    return verifier, fetch


# -- known answers from the specification ---------------------------------------------------------


def test_the_spec_example_token_verifies_with_pyjwt_when_expiry_is_not_checked() -> None:
    key = jwt.PyJWKSet.from_dict(load(CDS / "spec-example-jwks.json"))["example-kid"]
    claims = jwt.decode(
        spec_token(),
        key.key,
        algorithms=["ES384"],
        audience=SPEC_AUD,
        options={"verify_exp": False},
    )
    assert claims["iss"] == SPEC_ISS
    assert claims["jti"] == "ee22b021-e1b7-4611-ba5b-8eec6a33ac1e"
    with pytest.raises(jwt.ExpiredSignatureError):
        jwt.decode(spec_token(), key.key, algorithms=["ES384"], audience=SPEC_AUD)


def spec_issuer() -> TrustedIssuer:
    # the example's iat..exp spans years, so this test issuer allows a long lifetime
    return TrustedIssuer(
        iss=SPEC_ISS, jwks=load(CDS / "spec-example-jwks.json"), max_lifetime_s=10**9
    )


def test_the_spec_example_token_verifies_while_it_was_valid() -> None:
    verifier = CdsTokenVerifier([spec_issuer()], SeenIds(), clock=lambda: SPEC_EXP - 60)
    claims = verifier.verify(spec_token(), SPEC_AUD)
    assert claims["tenant"] == "2ddd6c3a-8e9a-44c6-a305-52111ad302a2"


def test_the_spec_example_token_is_expired_today() -> None:
    verifier = CdsTokenVerifier([spec_issuer()], SeenIds())  # real clock
    with pytest.raises(TokenRejected) as caught:
        verifier.verify(spec_token(), SPEC_AUD)
    assert caught.value.reason == "expired"


def test_a_token_minted_with_the_sandbox_key_pair_verifies() -> None:
    verifier, fetch = sandbox_verifier()
    token = mint(AUD)
    assert jwt.get_unverified_header(token)["alg"] == "ES384"
    claims = verifier.verify(token, AUD)
    assert claims["iss"] == SANDBOX_ISS and claims["aud"] == AUD
    assert fetch.fetched == [SANDBOX_JKU]
    verifier.verify(mint(AUD), AUD)  # the key set is cached
    assert fetch.fetched == [SANDBOX_JKU]


def test_an_audience_list_containing_the_url_is_accepted() -> None:
    verifier, _ = sandbox_verifier()
    assert verifier.verify(mint([AUD, "https://other"]), AUD)["iss"] == SANDBOX_ISS  # type: ignore[arg-type]


# -- the refusal table -------------------------------------------------------------------------


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _unsigned() -> str:
    header = {"alg": "none", "typ": "JWT", "kid": sandbox_jwk()["kid"]}
    payload = {"iss": SANDBOX_ISS, "aud": AUD, "exp": NOW + 300, "iat": NOW, "jti": "x1"}
    return f"{_b64(header)}.{_b64(payload)}."


def _hmac() -> str:
    # the classic confusion attack: HS256 keyed with the issuer's public key
    import hashlib
    import hmac

    from cryptography.hazmat.primitives import serialization

    public = jwt.PyJWK.from_dict(sandbox_public_jwks()["keys"][0]).key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "typ": "JWT", "kid": sandbox_jwk()["kid"]}
    payload = {"iss": SANDBOX_ISS, "aud": AUD, "exp": NOW + 300, "iat": NOW, "jti": "x2"}
    signing_input = f"{_b64(header)}.{_b64(payload)}"
    mac = hmac.new(public, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def _other_key() -> dict[str, Any]:
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP384R1())
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key))
    return {**jwk, "kid": sandbox_jwk()["kid"], "alg": "ES384"}


def _tampered() -> str:
    head, payload, signature = mint(AUD).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["aud"] = AUD
    claims["sub"] = "mallory"
    return f"{head}.{_b64(claims)}.{signature}"


REFUSALS: dict[str, tuple[Callable[[], str | None], str]] = {
    "no token": (lambda: None, "no bearer token"),
    "garbage": (lambda: "not-a-jwt", "malformed token"),
    "expired": (lambda: mint(AUD, now=NOW - 400), "expired"),
    "wrong audience": (
        lambda: mint("https://inoplan.example.org/cds-services/other"),
        "wrong audience",
    ),
    "trailing slash audience": (lambda: mint(AUD + "/"), "wrong audience"),
    "unknown issuer": (lambda: mint(AUD, iss="https://evil.example.org"), "issuer not trusted"),
    "unknown key": (lambda: mint(AUD, headers={"kid": "rotated-away"}), "unknown key"),
    "alg none": (_unsigned, "algorithm 'none' not allowed"),
    "HMAC": (_hmac, "algorithm 'HS256' not allowed"),
    "forged signature": (lambda: mint(AUD, jwk=_other_key()), "bad signature"),
    "tampered payload": (_tampered, "bad signature"),
    "jku not allow-listed": (
        lambda: mint(AUD, headers={"jku": "https://evil.example.org/jwks.json"}),
        "jku not allow-listed",
    ),
    "lifetime above the maximum": (
        lambda: mint(AUD, lifetime=301),
        "lifetime above the issuer's maximum",
    ),
    "issued in the future": (lambda: mint(AUD, now=NOW + 120), "issued in the future"),
    "not yet valid": (lambda: mint(AUD, nbf=NOW + 120), "not yet valid"),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_refused_tokens(case: str) -> None:
    verifier, fetch = sandbox_verifier()
    make, reason = REFUSALS[case]
    with pytest.raises(TokenRejected) as caught:
        verifier.verify(make(), AUD)
    assert caught.value.reason == reason
    assert all(url == SANDBOX_JKU for url in fetch.fetched)  # never a URL the token chose


def test_a_missing_jti_is_refused() -> None:
    import jwt as pyjwt

    verifier, _ = sandbox_verifier()
    token = pyjwt.encode(
        {"iss": SANDBOX_ISS, "aud": AUD, "exp": NOW + 300, "iat": NOW},
        pyjwt.PyJWK.from_dict(sandbox_jwk()).key,
        algorithm="ES384",
        headers={"kid": sandbox_jwk()["kid"]},
    )
    with pytest.raises(TokenRejected, match="invalid token"):
        verifier.verify(token, AUD)


def test_a_replayed_jti_is_refused() -> None:
    verifier, _ = sandbox_verifier()
    token = mint(AUD, jti="once")
    verifier.verify(token, AUD)
    with pytest.raises(TokenRejected) as caught:
        verifier.verify(token, AUD)
    assert caught.value.reason == "replayed jti"
    assert caught.value.jti == "once"


def test_leeway_accepts_small_clock_skew_only() -> None:
    verifier, _ = sandbox_verifier(clock=NOW + 300 + 29)  # 29 s after exp, leeway 30 s
    verifier.verify(mint(AUD), AUD)
    late, _ = sandbox_verifier(clock=NOW + 300 + 31)
    with pytest.raises(TokenRejected, match="expired"):
        late.verify(mint(AUD), AUD)


def test_an_alg_that_does_not_match_the_key_is_refused() -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwks = {"keys": [{**public, "kid": "rsa-1", "alg": "RS384"}]}
    issuer = TrustedIssuer(iss="https://ehr.example.org", jwks=jwks, max_lifetime_s=900)
    verifier = CdsTokenVerifier([issuer], SeenIds(), clock=lambda: NOW)
    good = jwt.encode(
        {"iss": issuer.iss, "aud": AUD, "exp": NOW + 900, "iat": NOW, "jti": "r1"},
        key,
        algorithm="RS384",
        headers={"kid": "rsa-1"},
    )
    assert verifier.verify(good, AUD)["jti"] == "r1"
    ps = jwt.encode(
        {"iss": issuer.iss, "aud": AUD, "exp": NOW + 900, "iat": NOW, "jti": "r2"},
        key,
        algorithm="PS384",
        headers={"kid": "rsa-1"},
    )
    with pytest.raises(TokenRejected, match="alg does not match the key"):
        verifier.verify(ps, AUD)


# -- key rotation and configuration ------------------------------------------------------------


def test_keys_rotate_by_kid_from_the_configured_file(tmp_path: Path) -> None:
    old = _other_key() | {"kid": "old"}
    new = _other_key() | {"kid": "new"}
    jwks_file = tmp_path / "ehr.json"
    public: Callable[[dict[str, Any]], dict[str, Any]] = lambda k: {  # noqa: E731
        n: v for n, v in k.items() if n != "d"
    }
    jwks_file.write_text(json.dumps({"keys": [public(old)]}))
    (tmp_path / "issuers.toml").write_text(
        '[[issuer]]\niss = "https://ehr.example.org"\njwks_file = "ehr.json"\n'
        "max_lifetime_s = 900\n"
    )
    issuers = load_issuers(tmp_path / "issuers.toml")
    assert issuers[0].jwks_file == jwks_file
    verifier = CdsTokenVerifier(issuers, SeenIds(), clock=lambda: NOW, refetch_interval_s=0)
    claims = {"iss": "https://ehr.example.org", "aud": AUD, "exp": NOW + 900, "iat": NOW}

    def sign(k: dict[str, Any], jti: str) -> str:
        return jwt.encode(
            {**claims, "jti": jti},
            jwt.PyJWK.from_dict(k).key,
            algorithm="ES384",
            headers={"kid": k["kid"]},
        )

    verifier.verify(sign(old, "a"), AUD)
    with pytest.raises(TokenRejected, match="unknown key"):
        verifier.verify(sign(new, "b"), AUD)
    jwks_file.write_text(json.dumps({"keys": [public(old), public(new)]}))  # the EHR rotates
    verifier.verify(sign(new, "c"), AUD)


def test_issuer_files_are_checked(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[issuer]]\niss = "x"\njwks_url = "http://ehr.example.org/jwks"\n')
    with pytest.raises(ValueError, match="https"):
        load_issuers(bad)
    bad.write_text('[[issuer]]\niss = "x"\n')
    with pytest.raises(ValueError, match="exactly one"):
        load_issuers(bad)


def test_an_unreachable_jwks_url_refuses_without_crashing() -> None:
    def down(url: str) -> dict[str, Any]:
        raise TimeoutError(url)

    issuer = TrustedIssuer(iss=SANDBOX_ISS, jwks_url=SANDBOX_JKU, max_lifetime_s=300)
    verifier = CdsTokenVerifier([issuer], SeenIds(), clock=lambda: NOW, http_get=down)
    with pytest.raises(TokenRejected, match="unknown key"):
        verifier.verify(mint(AUD), AUD)


def test_the_database_store_refuses_a_replay_in_another_worker(tmp_path: Path) -> None:
    from inoplan.bootstrap import Database
    from inoplan.config import Settings

    url = f"sqlite:///{tmp_path / 'cds.db'}"
    database_a, database_b = (
        Database(Settings(database_url=url)),
        Database(Settings(database_url=url)),
    )
    database_a.upgrade()
    try:
        issuer = TrustedIssuer(iss=SANDBOX_ISS, jwks=sandbox_public_jwks(), max_lifetime_s=300)
        now = datetime.now(UTC).timestamp()
        worker_a = CdsTokenVerifier([issuer], database_a.replay, clock=lambda: now)
        worker_b = CdsTokenVerifier([issuer], database_b.replay, clock=lambda: now)
        token = mint(AUD, now=int(now))
        worker_a.verify(token, AUD)
        with pytest.raises(TokenRejected, match="replayed jti"):
            worker_b.verify(token, AUD)
    finally:
        database_a.dispose()
        database_b.dispose()


def test_jwks_urls_are_fetched_with_httpx_without_following_redirects() -> None:
    import httpx

    from inoplan.interop.security import _fetch_jwks

    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        if request.url.path == "/moved":
            return httpx.Response(302, headers={"Location": "https://evil.example.org/jwks"})
        return httpx.Response(200, json=sandbox_public_jwks())

    transport = httpx.MockTransport(handler)
    assert _fetch_jwks(SANDBOX_JKU, transport=transport) == sandbox_public_jwks()
    with pytest.raises((httpx.HTTPError, ValueError)):
        _fetch_jwks("https://sandbox.cds-hooks.org/moved", transport=transport)
    with pytest.raises(ValueError, match="https"):
        _fetch_jwks("http://sandbox.cds-hooks.org/jwks", transport=transport)
    assert seen == [SANDBOX_JKU, "https://sandbox.cds-hooks.org/moved"]


# -- the one-pass verification (no second parse by PyJWT): every claim rule still holds ------------


def _signed(payload: dict[str, Any], **headers: Any) -> str:
    """The sandbox key's signature over any payload (claims missing or of the wrong type)."""
    header = {"kid": sandbox_jwk()["kid"], "jku": SANDBOX_JKU, "typ": "JWT", **headers}
    return jwt.encode(
        payload, jwt.PyJWK.from_dict(sandbox_jwk()).key, algorithm="ES384", headers=header
    )


def _claims(**changes: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "iss": SANDBOX_ISS,
        "aud": AUD,
        "exp": NOW + 300,
        "iat": NOW,
        "jti": "j-1",
    }
    for name, value in changes.items():
        if value is None:
            claims.pop(name)
        else:
            claims[name] = value
    return claims


NOT_NUMBERS = "exp/iat/nbf not numbers"
CLAIM_REFUSALS: dict[str, tuple[dict[str, Any], str]] = {
    "no iss": (_claims(iss=None), "issuer not trusted"),
    "no aud": (_claims(aud=None), "invalid token (MissingRequiredClaimError)"),
    "no exp": (_claims(exp=None), "invalid token (MissingRequiredClaimError)"),
    "no iat": (_claims(iat=None), "invalid token (MissingRequiredClaimError)"),
    "no jti": (_claims(jti=None), "invalid token (MissingRequiredClaimError)"),
    "empty aud": (_claims(aud=""), "wrong audience"),
    "aud a number": (_claims(aud=7), "wrong audience"),
    "aud a list with a number": (_claims(aud=[AUD, 7]), "wrong audience"),
    "aud an object": (_claims(aud={AUD: True}), "wrong audience"),
    "aud a prefix of the URL": (_claims(aud=AUD[:-1]), "wrong audience"),
    "jti a number": (_claims(jti=12), "invalid token (InvalidJTIError)"),
    "sub a number": (_claims(sub=12), "invalid token (InvalidSubjectError)"),
    "exp a string": (_claims(exp="soon"), NOT_NUMBERS),
    # review: float("NaN") passed every comparison (iat NaN skipped the maximum lifetime;
    # exp NaN was a 500 in remember())
    "iat the string NaN": (_claims(iat="NaN", exp=NOW + 10 * 365 * 86400), NOT_NUMBERS),
    "exp the string NaN": (_claims(exp="NaN"), NOT_NUMBERS),
    "exp a numeric string": (_claims(exp=str(NOW + 300)), NOT_NUMBERS),
    "nbf the string NaN": (_claims(nbf="NaN"), NOT_NUMBERS),
    "exp true": (_claims(exp=True), NOT_NUMBERS),
    "iat false": (_claims(iat=False), NOT_NUMBERS),
    "exp after year 9999": (_claims(exp=253_402_300_800, iat=253_402_300_000), NOT_NUMBERS),
    "iat before 1970": (_claims(iat=-1), NOT_NUMBERS),
    "exp beyond a double": (_claims(exp=10**400), "malformed token"),  # was a 500 (OverflowError)
    "iat beyond a double": (_claims(iat=-(10**400)), "malformed token"),
    "jti too long": (_claims(jti="j" * 256), "iss or jti too long"),
}


@pytest.mark.parametrize("case", sorted(CLAIM_REFUSALS))
def test_claims_are_checked_after_the_signature(case: str) -> None:
    verifier, _ = sandbox_verifier()
    payload, reason = CLAIM_REFUSALS[case]
    with pytest.raises(TokenRejected) as caught:
        verifier.verify(_signed(payload), AUD)
    assert caught.value.reason == reason


def test_claims_just_inside_the_limits_are_accepted() -> None:
    verifier, _ = sandbox_verifier()
    # a NumericDate may be a non-integer JSON number (RFC 7519 section 2)
    assert verifier.verify(_signed(_claims(jti="j-f", exp=NOW + 299.5, iat=NOW + 0.25)), AUD)
    claims = verifier.verify(_signed(_claims(jti="j" * 255, sub="Practitioner/1")), AUD)
    assert claims["jti"] == "j" * 255 and claims["sub"] == "Practitioner/1"
    assert verifier.verify(_signed(_claims(jti="j-2", aud=["https://other", AUD])), AUD)


def test_the_claims_returned_are_pyjwts() -> None:
    verifier, _ = sandbox_verifier()
    token = mint(AUD, tenant="t-1", fhirUser="Practitioner/9")
    expected = jwt.decode(
        token,
        jwt.PyJWK.from_dict(sandbox_public_jwks()["keys"][0]).key,
        algorithms=["ES384"],
        audience=AUD,
        options={"verify_exp": False, "verify_iat": False},
    )
    assert verifier.verify(token, AUD) == expected


def _segments(token: str) -> list[str]:
    return token.split(".")


def test_a_header_or_payload_swapped_in_from_another_token_fails_the_signature() -> None:
    verifier, _ = sandbox_verifier()
    first, second = mint(AUD, jti="a-1"), mint(AUD, jti="a-2")
    head, _, signature = _segments(first)
    _, payload, _ = _segments(second)
    with pytest.raises(TokenRejected) as caught:
        verifier.verify(f"{head}.{payload}.{signature}", AUD)
    assert caught.value.reason == "bad signature"
    other_head = _segments(mint(AUD, jti="a-3", headers={"x5t": "z"}))[0]
    _, payload, signature = _segments(first)
    with pytest.raises(TokenRejected) as caught:
        verifier.verify(f"{other_head}.{payload}.{signature}", AUD)
    assert caught.value.reason == "bad signature"


def test_a_truncated_or_lengthened_signature_is_refused() -> None:
    verifier, _ = sandbox_verifier()
    head, payload, signature = _segments(mint(AUD))
    raw = base64.urlsafe_b64decode(signature + "==")
    for changed in (raw[:-1], raw + b"\0", raw[48:] + raw[:48], b""):
        text = base64.urlsafe_b64encode(changed).rstrip(b"=").decode()
        with pytest.raises(TokenRejected) as caught:
            verifier.verify(f"{head}.{payload}.{text}", AUD)
        assert caught.value.reason == "bad signature"


@pytest.mark.parametrize(
    "token",
    [
        "a.b",
        "a.b.c.d",
        "e30.e30.!!!!",  # not base64url
        "e30.e30 .AAAA",
        "e30.e30.A",  # 1 character more than a multiple of 4
        "W10.e30.AAAA",  # the header is a list
        "e30.bnVsbA.AAAA",  # the claims are null
        "eyJhbGc.e30.AAAA",  # not JSON
        "e30.e30.AAAA===",  # too much padding
    ],
)
def test_malformed_tokens_are_refused_before_any_key_is_looked_up(token: str) -> None:
    verifier, fetch = sandbox_verifier()
    with pytest.raises(TokenRejected) as caught:
        verifier.verify(token, AUD)
    assert caught.value.reason == "malformed token"
    assert fetch.fetched == []


def test_padding_is_read_as_pyjwt_reads_it() -> None:
    verifier, _ = sandbox_verifier()
    head, payload, signature = _segments(mint(AUD, jti="pad-1"))
    assert len(signature) % 4 == 0  # 96 bytes: no padding to add, so extra "=" is malformed
    with pytest.raises(TokenRejected) as caught:
        verifier.verify(f"{head}.{payload}.{signature}==", AUD)
    assert caught.value.reason == "malformed token"
    checked = 0
    for n in range(1, 5):  # one of four jti lengths leaves the payload segment unpadded
        head, payload, signature = _segments(mint(AUD, jti="p" * n))
        if len(payload) % 4:  # the signature covers the segments as sent, padding included
            padded = payload + "=" * (-len(payload) % 4)
            with pytest.raises(TokenRejected) as caught:
                verifier.verify(f"{head}.{padded}.{signature}", AUD)
            assert caught.value.reason == "bad signature"
            checked += 1
    assert checked


def test_a_critical_header_extension_is_refused() -> None:
    verifier, _ = sandbox_verifier()
    with pytest.raises(TokenRejected) as caught:
        verifier.verify(mint(AUD, headers={"crit": ["exp"], "exp": 1}), AUD)
    assert caught.value.reason == "invalid token (crit header)"


def test_a_key_of_another_curve_or_type_is_refused_for_the_algorithm() -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    p256 = ec.generate_private_key(ec.SECP256R1())
    public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(p256.public_key()))
    jwks = {"keys": [{**public, "kid": "p256"}]}  # no "alg" in the JWK: the curve decides
    issuer = TrustedIssuer(iss="https://ehr.example.org", jwks=jwks, max_lifetime_s=900)
    verifier = CdsTokenVerifier([issuer], SeenIds(), clock=lambda: NOW)
    claims = {"iss": issuer.iss, "aud": AUD, "exp": NOW + 900, "iat": NOW}
    good = jwt.encode({**claims, "jti": "e1"}, p256, algorithm="ES256", headers={"kid": "p256"})
    assert verifier.verify(good, AUD)["jti"] == "e1"
    # the same key named for ES384 (signed with SHA-384 by the key holder): the curve is wrong
    signer = jwt.algorithms.ECAlgorithm(jwt.algorithms.ECAlgorithm.SHA384)
    head = _b64({"alg": "ES384", "kid": "p256", "typ": "JWT"})
    body = _b64({**claims, "jti": "e2"})
    signature = signer.sign(f"{head}.{body}".encode(), p256)
    token = f"{head}.{body}." + base64.urlsafe_b64encode(signature).rstrip(b"=").decode()
    with pytest.raises(TokenRejected) as caught:
        verifier.verify(token, AUD)
    assert caught.value.reason == "invalid token (InvalidKeyError)"
    # an RSA algorithm named for the EC key
    rs = f"{_b64({'alg': 'RS256', 'kid': 'p256'})}.{body}.AAAA"
    with pytest.raises(TokenRejected) as caught:
        verifier.verify(rs, AUD)
    assert caught.value.reason == "invalid token (InvalidKeyError)"
