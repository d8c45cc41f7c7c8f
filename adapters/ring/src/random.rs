use ring::rand::{SecureRandom, SystemRandom};
use tessera_domain::random::RandomSource;

/// The operating system's CSPRNG.
#[derive(Debug)]
pub struct RingRandomSource(SystemRandom);

impl Default for RingRandomSource {
    fn default() -> Self {
        Self::new()
    }
}

impl RingRandomSource {
    pub fn new() -> Self {
        Self(SystemRandom::new())
    }
}

impl RandomSource for RingRandomSource {
    fn fill(&self, dest: &mut [u8]) {
        // The port is infallible: no entropy is no safe way forward.
        self.0.fill(dest).expect("the operating system's random source failed");
    }
}
