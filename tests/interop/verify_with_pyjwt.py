"""Verifies a Tessera license token with PyJWT, an independent JOSE library.

usage: verify_with_pyjwt.py TOKEN_FILE JWKS_URL ISSUER [TYP]
TYP is the expected header type (default tessera-license+jwt). Prints the verified claims as JSON; exits non-zero if PyJWT rejects the token.
"""
import json
import sys

import jwt

token_file, jwks_url, issuer = sys.argv[1:4]
expected_typ = sys.argv[4] if len(sys.argv) > 4 else "tessera-license+jwt"
token = open(token_file, encoding="utf-8").read().strip()

header = jwt.get_unverified_header(token)
if header.get("typ") != expected_typ:
    sys.exit(f"unexpected typ {header.get('typ')!r}")

signing_key = jwt.PyJWKClient(jwks_url).get_signing_key_from_jwt(token)
claims = jwt.decode(
    token,
    signing_key.key,
    algorithms=["EdDSA"],
    issuer=issuer,
    options={"require": ["iss", "sub", "iat"], "verify_aud": False},
)
print(json.dumps(claims, sort_keys=True))
