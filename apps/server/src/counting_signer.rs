//! A [`Signer`] decorator that counts what it signs for `/metrics`.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use tessera_domain::issuance::{DownloadLinkClaims, LeaseClaims, LicenseClaims, PortalLinkClaims, SignError, Signer};

use crate::metrics::TokenLabels;

pub struct CountingSigner<S> {
    inner: S,
    signatures: Family<TokenLabels, Counter>,
}

impl<S: Signer> CountingSigner<S> {
    pub fn new(inner: S, signatures: Family<TokenLabels, Counter>) -> Self {
        Self { inner, signatures }
    }

    fn count<T>(&self, token: &'static str, signed: Result<T, SignError>) -> Result<T, SignError> {
        if signed.is_ok() {
            self.signatures.get_or_create(&TokenLabels { token }).inc();
        }
        signed
    }
}

impl<S: Signer> Signer for CountingSigner<S> {
    fn sign_license(&self, claims: &LicenseClaims) -> Result<String, SignError> {
        self.count("license", self.inner.sign_license(claims))
    }

    fn sign_lease(&self, claims: &LeaseClaims) -> Result<String, SignError> {
        self.count("lease", self.inner.sign_lease(claims))
    }

    fn sign_portal_link(&self, claims: &PortalLinkClaims) -> Result<String, SignError> {
        self.count("portal_link", self.inner.sign_portal_link(claims))
    }

    fn sign_download_link(&self, claims: &DownloadLinkClaims) -> Result<String, SignError> {
        self.count("download_link", self.inner.sign_download_link(claims))
    }
}
