//! The console's signed-in browsers: a random session id in an `HttpOnly`,
//! `SameSite=Strict` cookie, and per session the CSRF token its forms carry.
//!
//! Kept in memory, so a restart signs everyone out (the admin token signs in
//! again). Only the SHA-256 of a session id is kept, so a memory dump holds no
//! usable cookie. Wrong admin tokens are limited per client IP.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::clock::DefaultClock;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use ring::digest::{digest, SHA256};
use subtle::ConstantTimeEq;

use crate::cookies::random_token;

/// How long a sign-in lasts.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 60 * 60);

/// Sign-in attempts per client IP and minute (a burst of as many).
pub const SIGN_INS_PER_MINUTE: u32 = 10;

/// Sessions beyond this sign the oldest out (a flood of sign-ins cannot grow memory).
const MAX_SESSIONS: usize = 1_000;

/// A signed-in browser, as a request handler sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The token every form of this session carries.
    pub csrf: String,
    pub expires_at: Instant,
}

impl Session {
    /// Whether a form's `csrf` field is this session's token.
    pub fn csrf_matches(&self, field: &str) -> bool {
        bool::from(self.csrf.as_bytes().ct_eq(field.as_bytes()))
    }
}

type SignInLimiter = RateLimiter<IpAddr, DefaultKeyedStateStore<IpAddr>, DefaultClock>;

pub struct ConsoleSessions {
    sessions: Mutex<HashMap<[u8; 32], Session>>,
    sign_ins: SignInLimiter,
}

impl Default for ConsoleSessions {
    fn default() -> Self {
        Self::new()
    }
}

fn session_key(id: &str) -> [u8; 32] {
    digest(&SHA256, id.as_bytes()).as_ref().try_into().expect("SHA-256 is 32 bytes")
}

impl ConsoleSessions {
    pub fn new() -> Self {
        let per_minute = NonZeroU32::new(SIGN_INS_PER_MINUTE).expect("a positive limit");
        Self { sessions: Mutex::new(HashMap::new()), sign_ins: RateLimiter::keyed(Quota::per_minute(per_minute)) }
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Session>> {
        // A panic elsewhere cannot leave a session half-written: take the map as it is.
        self.sessions.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Counts one sign-in attempt from `ip`; `Err(wait)` when it is over the limit.
    pub fn attempt_sign_in(&self, ip: IpAddr) -> Result<(), Duration> {
        self.sign_ins
            .check_key(&ip)
            .map_err(|not_until| not_until.wait_time_from(governor::clock::Clock::now(&DefaultClock::default())))
    }

    /// Starts a session: its cookie value (the id) and its state.
    pub fn start(&self) -> (String, Session) {
        let id = random_token();
        let session = Session { csrf: random_token(), expires_at: Instant::now() + SESSION_LIFETIME };
        let mut sessions = self.sessions();
        let now = Instant::now();
        sessions.retain(|_, session| session.expires_at > now);
        if sessions.len() >= MAX_SESSIONS {
            if let Some(oldest) = sessions.iter().min_by_key(|(_, session)| session.expires_at).map(|(key, _)| *key) {
                sessions.remove(&oldest);
            }
        }
        sessions.insert(session_key(&id), session.clone());
        (id, session)
    }

    /// The live session of cookie value `id`.
    pub fn find(&self, id: &str) -> Option<Session> {
        let key = session_key(id);
        let mut sessions = self.sessions();
        match sessions.get(&key) {
            Some(session) if session.expires_at > Instant::now() => Some(session.clone()),
            Some(_) => {
                sessions.remove(&key);
                None
            }
            None => None,
        }
    }

    /// Ends the session of cookie value `id`; the cookie is worthless from now on.
    pub fn end(&self, id: &str) {
        self.sessions().remove(&session_key(id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_found_by_its_id_until_it_ends() {
        let sessions = ConsoleSessions::new();
        let (id, session) = sessions.start();
        assert_eq!(sessions.find(&id), Some(session.clone()));
        assert!(session.csrf_matches(&session.csrf));
        assert!(!session.csrf_matches("forged"));
        assert_eq!(sessions.find("another id"), None);
        sessions.end(&id);
        assert_eq!(sessions.find(&id), None);
    }

    #[test]
    fn sign_ins_are_limited_per_ip() {
        let sessions = ConsoleSessions::new();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..SIGN_INS_PER_MINUTE {
            assert!(sessions.attempt_sign_in(ip).is_ok());
        }
        let wait = sessions.attempt_sign_in(ip).unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(60), "{wait:?}");
        assert!(sessions.attempt_sign_in("192.0.2.2".parse().unwrap()).is_ok(), "another IP has its own budget");
    }
}
