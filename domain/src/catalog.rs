//! What the operator sells: products and their tiers, from configuration.

use std::collections::BTreeMap;

use thiserror::Error;

/// One tier of a product: what a license of that tier grants by default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tier {
    /// The name buyers see (emails, portal); `None`: the slug.
    pub name: Option<String>,
    pub slug: String,
    pub features: Vec<String>,
    pub seats: u32,
    /// `None`: licenses of this tier are perpetual unless the mint says otherwise.
    pub duration_days: Option<u32>,
    /// App major versions licenses of this tier may activate; `None`: any.
    pub app_versions: Option<Vec<u32>>,
    /// Which releases licenses of this tier may download.
    pub downloads: Downloads,
}

/// A tier's rules for releases (`[products.tiers.<slug>]` `channels`,
/// `perpetual_fallback`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Downloads {
    /// The channels offered; `None`: every channel.
    pub channels: Option<Vec<String>>,
    /// An expired license keeps the releases published while it was valid.
    pub perpetual_fallback: bool,
}

impl Tier {
    /// What buyers are shown: the configured name, else the slug.
    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.slug)
    }

    /// Whether an app of `major` version may run under this tier.
    pub fn allows_major_version(&self, major: u32) -> bool {
        self.app_versions.as_ref().is_none_or(|allowed| allowed.contains(&major))
    }
}

/// A product: its tiers and the prefix of its license keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    pub slug: String,
    pub name: String,
    pub key_prefix: String,
    pub tiers: BTreeMap<String, Tier>,
    /// The storefront page where a buyer renews (shown by the portal for
    /// licenses that expire soon or have expired).
    pub renew_url: Option<String>,
}

impl Product {
    pub fn tier(&self, slug: &str) -> Option<&Tier> {
        self.tiers.get(slug)
    }
}

/// The operator's products, validated once at start-up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Catalog {
    products: BTreeMap<String, Product>,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum CatalogError {
    #[error("product slug `{0}` must be 1-64 characters of a-z, 0-9, '-' or '_'")]
    InvalidProductSlug(String),
    #[error("product `{0}` is configured twice")]
    DuplicateProduct(String),
    #[error("product `{product}`: key_prefix `{prefix}` must be 1-12 characters of A-Z and 0-9")]
    InvalidKeyPrefix { product: String, prefix: String },
    #[error("key_prefix `{0}` is used by two products")]
    DuplicateKeyPrefix(String),
    #[error("product `{0}`: renew_url must be an http:// or https:// address")]
    InvalidRenewUrl(String),
    #[error("product `{0}` has no tiers")]
    NoTiers(String),
    #[error("product `{product}`: tier slug `{tier}` must be 1-32 characters of a-z and 0-9")]
    InvalidTierSlug { product: String, tier: String },
    #[error("product `{product}`, tier `{tier}`: seats must be between 1 and {max}", max = crate::license::MAX_SEATS)]
    InvalidSeats { product: String, tier: String },
    #[error("product `{product}`, tier `{tier}`: name must be 1-100 characters without control characters")]
    InvalidTierName { product: String, tier: String },
    #[error("product `{product}`, tier `{tier}`: duration_days must be between 1 and {max}", max = crate::license::MAX_DURATION_DAYS)]
    InvalidDuration { product: String, tier: String },
    #[error("product `{product}`, tier `{tier}`: channels must be 1-32 characters of a-z, 0-9 or '-'")]
    InvalidChannel { product: String, tier: String },
}

fn is_slug(text: &str, max: usize, extra: &[char]) -> bool {
    !text.is_empty()
        && text.len() <= max
        && text.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || extra.contains(&c))
}

impl Catalog {
    /// Validates the products; every rule broken is a start-up error naming the product.
    pub fn new(products: Vec<Product>) -> Result<Self, CatalogError> {
        let mut by_slug = BTreeMap::new();
        let mut prefixes = std::collections::BTreeSet::new();
        for product in products {
            if !is_slug(&product.slug, 64, &['-', '_']) {
                return Err(CatalogError::InvalidProductSlug(product.slug));
            }
            let prefix_ok = !product.key_prefix.is_empty()
                && product.key_prefix.len() <= 12
                && product.key_prefix.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
            if !prefix_ok {
                return Err(CatalogError::InvalidKeyPrefix { product: product.slug, prefix: product.key_prefix });
            }
            if !prefixes.insert(product.key_prefix.clone()) {
                return Err(CatalogError::DuplicateKeyPrefix(product.key_prefix));
            }
            let renew_url_ok = |url: &str| {
                (url.starts_with("https://") || url.starts_with("http://"))
                    && !url.chars().any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '<' || c == '>')
            };
            if product.renew_url.as_deref().is_some_and(|url| !renew_url_ok(url)) {
                return Err(CatalogError::InvalidRenewUrl(product.slug));
            }
            if product.tiers.is_empty() {
                return Err(CatalogError::NoTiers(product.slug));
            }
            for tier in product.tiers.values() {
                let invalid =
                    |make: fn(String, String) -> CatalogError| Err(make(product.slug.clone(), tier.slug.clone()));
                if !is_slug(&tier.slug, 32, &[]) {
                    return invalid(|product, tier| CatalogError::InvalidTierSlug { product, tier });
                }
                if tier.seats == 0 || tier.seats > crate::license::MAX_SEATS {
                    return invalid(|product, tier| CatalogError::InvalidSeats { product, tier });
                }
                if tier.duration_days.is_some_and(|days| days == 0 || days > crate::license::MAX_DURATION_DAYS) {
                    return invalid(|product, tier| CatalogError::InvalidDuration { product, tier });
                }
                // The rule of `release::Channel`.
                let bad_channel = |channel: &String| !is_slug(channel, 32, &['-']);
                if tier.downloads.channels.as_ref().is_some_and(|channels| channels.iter().any(bad_channel)) {
                    return invalid(|product, tier| CatalogError::InvalidChannel { product, tier });
                }
                let bad_name = |name: &String| name.trim().is_empty() || crate::text::check("name", name, 100).is_err();
                if tier.name.as_ref().is_some_and(bad_name) {
                    return invalid(|product, tier| CatalogError::InvalidTierName { product, tier });
                }
            }
            if by_slug.contains_key(&product.slug) {
                return Err(CatalogError::DuplicateProduct(product.slug));
            }
            by_slug.insert(product.slug.clone(), product);
        }
        Ok(Self { products: by_slug })
    }

    pub fn product(&self, slug: &str) -> Option<&Product> {
        self.products.get(slug)
    }

    pub fn products(&self) -> impl Iterator<Item = &Product> {
        self.products.values()
    }
}
