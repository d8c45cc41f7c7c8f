//! Any string presented as a license, lease or portal token: verification
//! answers Ok or Err, never panics, and never accepts what it did not sign.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use tessera_domain::issuance::{LeaseVerifier, PortalLinkVerifier, LEASE_TOKEN_TYPE, LICENSE_TOKEN_TYPE};
use tessera_ring::{generate_private_key_pem, Keyring, RingSigner, SigningKey, TokenVerifier};

fn fixtures() -> &'static (TokenVerifier, RingSigner) {
    static FIXTURES: OnceLock<(TokenVerifier, RingSigner)> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        let key = SigningKey::from_pem("fuzz", &generate_private_key_pem(None).unwrap()).unwrap();
        let keyring = Arc::new(Keyring::new(key, vec![]).unwrap());
        (keyring.verifier(), RingSigner::new(keyring))
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else { return };
    let (verifier, signer) = fixtures();
    for typ in [LICENSE_TOKEN_TYPE, LEASE_TOKEN_TYPE] {
        // A random input cannot carry a valid signature of this run's fresh key.
        assert!(verifier.verify(token, typ, 1_800_000_000, true).is_err());
        let _ = verifier.verify(token, typ, 0, false);
    }
    assert!(signer.verify_lease(token).is_err());
    assert!(signer.verify_portal_link(token).is_err());
    let _ = TokenVerifier::peek_type(token);
});
