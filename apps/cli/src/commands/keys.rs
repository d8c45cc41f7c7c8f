//! Signing keys: the server's, a new one, and offline verification.

use std::path::PathBuf;

use clap::Subcommand;

use super::{print_page_or_json, Session};
use crate::admin_client::CliError;
use crate::{local, output};

#[derive(Subcommand)]
pub enum KeyCommand {
    /// The server's signing keys: the active one and the retired ones (verify only).
    Keys,
    /// Generate an Ed25519 signing key (PKCS#8 PEM, mode 0600) and print its public JWK.
    Keygen {
        #[arg(long)]
        kid: String,
        #[arg(long)]
        out: PathBuf,
    },
    /// Verify a token offline against a JWKS; exit 0 when valid.
    Verify {
        /// The token, or a file holding it (e.g. buyer.lic).
        token: String,
        /// A JWKS file or URL (e.g. https://licenses.example.com/.well-known/jwks.json).
        #[arg(long)]
        jwks: String,
    },
}

impl KeyCommand {
    pub fn run(self, session: &Session) -> Result<(), CliError> {
        let json_output = session.json;
        match self {
            Self::Keys => {
                let page = session.client()?.keys()?;
                print_page_or_json(&page, json_output, |page| output::print_page(page, &output::KEYS));
                Ok(())
            }
            Self::Keygen { kid, out } => local::keygen(&kid, &out, json_output),
            Self::Verify { token, jwks } => local::verify(&token, &jwks, json_output),
        }
    }
}
