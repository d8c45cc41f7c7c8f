use std::cmp::Ordering;

use thiserror::Error;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::license::text_enum;

/// A release's version: semantic versioning 2.0 (`1.4.0`, `2.0.0-beta.3`),
/// ordered by its precedence rules (build metadata ignored).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Version(semver::Version);

#[derive(Debug, Error, PartialEq, Eq)]
#[error("`{0}` is not a semantic version (MAJOR.MINOR.PATCH[-PRE][+BUILD], at most 64 characters)")]
pub struct VersionError(pub String);

impl Version {
    pub fn parse(text: &str) -> Result<Self, VersionError> {
        let text = text.trim();
        let invalid = || VersionError(text.chars().take(64).collect());
        if text.len() > 64 {
            return Err(invalid());
        }
        // Updaters send `v1.2.3` as often as `1.2.3`.
        let bare = text.strip_prefix('v').unwrap_or(text);
        semver::Version::parse(bare).map(Self).map_err(|_| invalid())
    }

    pub fn major(&self) -> u32 {
        u32::try_from(self.0.major).unwrap_or(u32::MAX)
    }

    pub fn is_prerelease(&self) -> bool {
        !self.0.pre.is_empty()
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.cmp_precedence(&other.0).then_with(|| self.0.build.cmp(&other.0.build))
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A lower-case word naming a channel, a platform or an arch.
fn slug(text: &str, max: usize, extra: &[char]) -> bool {
    !text.is_empty()
        && text.len() <= max
        && text.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || extra.contains(&c))
}

macro_rules! word {
    ($(#[$doc:meta])* $name:ident, $error:ident, $what:literal, $max:literal, $extra:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        #[derive(Debug, Error, PartialEq, Eq)]
        #[error("{what} `{0}` must be 1-{max} characters of a-z, 0-9 or {extra:?}", what = $what, max = $max, extra = $extra)]
        pub struct $error(pub String);

        impl $name {
            pub fn parse(text: &str) -> Result<Self, $error> {
                let text = text.trim();
                if slug(text, $max, &$extra) {
                    Ok(Self(text.to_owned()))
                } else {
                    Err($error(text.chars().take($max + 1).collect()))
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

word!(
    /// `stable` (the default), `beta`, `nightly`, …
    Channel, ChannelError, "channel", 32, ['-']
);
word!(
    /// The operating system an artifact is for: `windows`, `macos`, `linux`,
    /// or `any` for a platform-independent file (a sample pack, say).
    Platform, PlatformError, "platform", 32, ['-', '_']
);
word!(
    /// The CPU: `x86_64`, `aarch64`, `universal`, … or `any`.
    Arch, ArchError, "arch", 32, ['-', '_']
);

impl Channel {
    pub fn stable() -> Self {
        Self("stable".to_owned())
    }
}

impl Platform {
    pub fn any() -> Self {
        Self("any".to_owned())
    }

    /// Whether a file for this platform runs on `wanted` (`any` runs everywhere).
    pub fn serves(&self, wanted: &Platform) -> bool {
        self == wanted || self.0 == "any"
    }
}

impl Arch {
    pub fn any() -> Self {
        Self("any".to_owned())
    }

    /// Whether a file for this arch runs on `wanted` (`any` and `universal`
    /// run on every arch of their platform).
    pub fn serves(&self, wanted: &Arch) -> bool {
        self == wanted || self.0 == "any" || self.0 == "universal"
    }
}

/// An artifact's file name as buyers download it: no path, no control
/// characters, nothing a `Content-Disposition` header or a file system chokes on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FileName(String);

#[derive(Debug, Error, PartialEq, Eq)]
#[error(
    "file name `{0}` must be 1-200 characters of letters, digits, '.', '-', '_', '+' or ' ', not starting with '.'"
)]
pub struct FileNameError(pub String);

impl FileName {
    pub fn parse(text: &str) -> Result<Self, FileNameError> {
        let ok = !text.is_empty()
            && text.chars().count() <= 200
            && !text.starts_with('.')
            && !text.ends_with(' ')
            && text.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+' | ' '));
        if ok {
            Ok(Self(text.to_owned()))
        } else {
            Err(FileNameError(text.chars().take(201).collect()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The MIME type buyers' browsers and updaters expect, by extension.
    pub fn content_type(&self) -> &'static str {
        let lower = self.0.to_ascii_lowercase();
        let extension = lower.rsplit('.').next().unwrap_or_default();
        match extension {
            "zip" => "application/zip",
            "gz" | "tgz" => "application/gzip",
            "dmg" => "application/x-apple-diskimage",
            "pkg" => "application/vnd.apple.installer+xml",
            "exe" => "application/vnd.microsoft.portable-executable",
            "msi" => "application/x-msi",
            "deb" => "application/vnd.debian.binary-package",
            "rpm" => "application/x-rpm",
            "appimage" => "application/vnd.appimage",
            "json" => "application/json",
            "txt" | "sig" => "text/plain; charset=utf-8",
            _ => "application/octet-stream",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReleaseStatus {
    /// Being prepared: files may be added or replaced; offered to no one.
    Draft,
    /// Offered to the licenses it is for; its files no longer change.
    Published,
    /// Withdrawn: in no feed and no download any more.
    Yanked,
}

text_enum!(ReleaseStatus, "release status", { Draft => "draft", Published => "published", Yanked => "yanked" });

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    pub id: Uuid,
    pub product: String,
    pub version: Version,
    pub channel: Channel,
    /// Release notes shown by updaters (Markdown or plain text).
    pub notes: Option<String>,
    pub status: ReleaseStatus,
    pub created_at: OffsetDateTime,
    /// When it was published: the release date perpetual fallback compares
    /// with a license's expiry.
    pub published_at: Option<OffsetDateTime>,
    pub yanked_at: Option<OffsetDateTime>,
}

/// The longest release notes kept.
pub const MAX_NOTES_CHARS: usize = 20_000;

/// One file of a release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    pub id: Uuid,
    pub release_id: Uuid,
    pub filename: FileName,
    pub platform: Platform,
    pub arch: Arch,
    pub size: u64,
    /// Hex SHA-256 of the bytes.
    pub sha256: String,
    /// Base64 (standard) Ed25519 signature of the bytes by Tessera's key `signature_kid`.
    pub signature: String,
    pub signature_kid: String,
    /// The operator's updater signature uploaded with the file (Tauri's
    /// `.sig` content), served as is.
    pub updater_signature: Option<String>,
    /// Where the store keeps the bytes.
    pub storage_key: String,
    pub downloads: u64,
    pub created_at: OffsetDateTime,
}

impl Artifact {
    pub fn content_type(&self) -> &'static str {
        self.filename.content_type()
    }
}

/// A release with its files, as listed and offered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseWithArtifacts {
    pub release: Release,
    pub artifacts: Vec<Artifact>,
}

/// Which releases to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReleaseFilter {
    pub product: Option<String>,
    pub channel: Option<Channel>,
    pub status: Option<ReleaseStatus>,
}

impl ReleaseFilter {
    pub fn matches(&self, release: &Release) -> bool {
        self.product.as_ref().is_none_or(|product| &release.product == product)
            && self.channel.as_ref().is_none_or(|channel| &release.channel == channel)
            && self.status.is_none_or(|status| release.status == status)
    }
}
