//! Any signed JSON body for the custom-checkout storefront: a correctly signed
//! body of any shape parses into an event or a clear error, never panics; the
//! same body with a flipped signature byte is refused.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use tessera_checkout::CheckoutStorefront;
use tessera_domain::storefront::{InboundRequest, Storefront};
use tessera_memory::ManualClock;

fuzz_target!(|data: &[u8]| {
    let now = time::OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
    let storefront = CheckoutStorefront::new("fuzz-checkout-secret-0123", Arc::new(ManualClock::at(now)));
    let header = storefront.sign(now.unix_timestamp(), data);
    let request = |header: String| InboundRequest {
        query: vec![],
        headers: vec![("tessera-signature".into(), header)],
        body: data.to_vec(),
    };
    let signed = request(header.clone());
    assert!(storefront.authenticate(&signed).is_ok(), "our own signature verifies");
    let _ = storefront.parse(&signed);
    let mut forged = header.into_bytes();
    let last = forged.len() - 1;
    forged[last] = if forged[last] == b'0' { b'1' } else { b'0' };
    assert!(storefront.authenticate(&request(String::from_utf8(forged).unwrap())).is_err());
});
