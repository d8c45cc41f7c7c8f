//! Any body Gumroad (or anyone who knows the secret) might post: the adapter
//! authenticates and parses it into an event or a clear error, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_domain::storefront::{InboundRequest, Storefront};
use tessera_gumroad::GumroadStorefront;

fuzz_target!(|data: &[u8]| {
    let storefront = GumroadStorefront::new("fuzz-secret-0123456789", None);
    let request = InboundRequest {
        query: vec![("secret".into(), "fuzz-secret-0123456789".into())],
        headers: vec![("content-type".into(), "application/x-www-form-urlencoded".into())],
        body: data.to_vec(),
    };
    if storefront.authenticate(&request).is_ok() {
        let _ = storefront.parse(&request);
    }
});
