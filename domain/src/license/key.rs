use std::fmt;

use thiserror::Error;

use crate::random::RandomSource;

/// Crockford-style base32 without 0, 1, I and O, so keys read aloud or typed from
/// a screenshot survive: 32 symbols, 5 bits each.
pub const KEY_ALPHABET: &[u8; 32] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
/// Random groups in a generated key: 4 × 5 symbols × 5 bits = 100 bits (≥ 80).
const RANDOM_GROUPS: usize = 4;
const GROUP_LEN: usize = 5;

/// A license key, e.g. `DT1-CORE-7K3QX-M9P2A-R4T8W-ZC6HN`: `[A-Z0-9-]`, 8-64
/// characters. Input is trimmed and upper-cased, since buyers type keys by hand.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LicenseKey(String);

#[derive(Debug, Error, PartialEq, Eq)]
#[error("a license key is 8-64 characters of A-Z, 0-9 and '-'")]
pub struct LicenseKeyError;

impl LicenseKey {
    pub fn parse(text: &str) -> Result<Self, LicenseKeyError> {
        let key = text.trim().to_ascii_uppercase();
        let valid = (8..=64).contains(&key.len())
            && key.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-');
        if valid {
            Ok(Self(key))
        } else {
            Err(LicenseKeyError)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for LicenseKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A fresh key `PREFIX-TIER-XXXXX-XXXXX-XXXXX-XXXXX` with 100 random bits.
pub fn generate_key(prefix: &str, tier: &str, random: &dyn RandomSource) -> LicenseKey {
    let mut bytes = [0u8; RANDOM_GROUPS * GROUP_LEN];
    random.fill(&mut bytes);
    let tier: String = tier.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_uppercase()).collect();
    let mut key = format!("{prefix}-{tier}");
    for group in bytes.chunks(GROUP_LEN) {
        key.push('-');
        // 256 is a multiple of 32, so `byte % 32` is uniform.
        key.extend(group.iter().map(|b| KEY_ALPHABET[(b % 32) as usize] as char));
    }
    LicenseKey(key)
}
