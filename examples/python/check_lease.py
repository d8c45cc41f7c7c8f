"""Offline lease check for a Python app, with PyJWT (pip install 'PyJWT[crypto]').

usage: check_lease.py LEASE_FILE JWKS_URL_OR_FILE FINGERPRINT
Prints {"state": "active" | "in_grace" | "expired", "claims": {...}}; exits 1 when
the lease is not valid for this machine. Run by Tessera's tests against a real server.
"""
import json
import sys
import time

import jwt

LEASE_TYPE = "tessera-lease+jwt"
DAY = 86400


def signing_key(jwks_source, token):
    if jwks_source.startswith(("http://", "https://")):
        return jwt.PyJWKClient(jwks_source).get_signing_key_from_jwt(token).key
    kid = jwt.get_unverified_header(token).get("kid")
    with open(jwks_source, encoding="utf-8") as file:  # a JWKS embedded in the app
        keys = json.load(file)["keys"]
    return next(jwt.PyJWK(key).key for key in keys if key["kid"] == kid)


def check_lease(lease, jwks_source, fingerprint, issuer="tessera", now=None):
    """Returns (state, claims); raises on a lease that is forged or not this machine's."""
    if jwt.get_unverified_header(lease).get("typ") != LEASE_TYPE:
        raise ValueError("not a Tessera lease")
    claims = jwt.decode(
        lease,
        signing_key(jwks_source, lease),
        algorithms=["EdDSA"],
        issuer=issuer,
        options={"verify_exp": False, "require": ["exp", "fp", "sub"]},  # expiry: judged with grace below
    )
    if claims["fp"] != fingerprint:
        raise ValueError("the lease belongs to another machine")
    now = time.time() if now is None else now
    grace_until = claims["exp"] + claims["grace_days"] * DAY
    state = "active" if now < claims["exp"] else "in_grace" if now < grace_until else "expired"
    return state, claims


if __name__ == "__main__":
    lease_file, jwks_source, fingerprint = sys.argv[1:4]
    with open(lease_file, encoding="utf-8") as file:
        lease = file.read().strip()
    try:
        state, claims = check_lease(lease, jwks_source, fingerprint)
    except (jwt.InvalidTokenError, ValueError) as error:
        sys.exit(f"invalid lease: {error}")
    print(json.dumps({"state": state, "claims": claims}, sort_keys=True))
