//! The license email, rendered from the license as it is when the email is
//! sent (so a renewal's fresh token is what goes out), in text and HTML.

use super::{Attachment, DeliveryKind, Email};
use crate::license::{EmailAddress, License, LicenseKind};

/// What every email needs from configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailSettings {
    /// `Name <address>` of the sender.
    pub from: String,
    /// The public base URL (`server.base_url`): the portal link is built on it.
    pub base_url: String,
}

impl MailSettings {
    pub fn portal_url(&self) -> String {
        format!("{}/portal", self.base_url.trim_end_matches('/'))
    }
}

/// How long the license runs, in the buyer's terms: a membership that renews
/// says so, one that was cancelled says it no longer does.
fn expiry_text(license: &License) -> String {
    let Some(at) = license.expires_at else { return "perpetual".to_owned() };
    let date = at.date();
    match (&license.subscription, license.kind) {
        (Some(subscription), _) if subscription.renewing => format!("renews automatically, paid through {date}"),
        (Some(_), _) => format!("valid until {date}, not renewing"),
        (None, LicenseKind::Trial) => format!("trial until {date}"),
        (None, _) => format!("valid until {date}"),
    }
}

/// The opening line: thanks for a purchase only when there was one.
fn opening(license: &License, kind: DeliveryKind, product: &str) -> String {
    match kind {
        DeliveryKind::Redelivery | DeliveryKind::Portal => {
            format!("as requested, here is your {product} license again.")
        }
        DeliveryKind::License if license.is_sale() => format!("thank you for buying {product}. Here is your license."),
        DeliveryKind::License => format!("here is your {product} license."),
    }
}

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// `<key>.lic`: the license token and a newline, what a buyer's app reads
/// (attached to emails, downloaded from the console).
pub fn license_file(license: &License) -> Attachment {
    Attachment {
        name: format!("{}.lic", license.key.as_str()),
        content_type: "application/octet-stream".to_owned(),
        content: format!("{}\n", license.token).into_bytes(),
    }
}

/// The email carrying `license`: key, token inline and as `<key>.lic`,
/// activation instructions and the portal link.
pub fn compose(
    license: &License,
    to: &EmailAddress,
    names: &Names<'_>,
    kind: DeliveryKind,
    settings: &MailSettings,
    reference: &str,
) -> Email {
    let Names { product: product_name, tier } = *names;
    let key = license.key.as_str();
    let file_name = format!("{key}.lic");
    let subject = match kind {
        DeliveryKind::License => format!("Your {product_name} license"),
        DeliveryKind::Redelivery | DeliveryKind::Portal => format!("Your {product_name} license (sent again)"),
    };
    let expiry = expiry_text(license);
    let portal = settings.portal_url();
    let seats = license.seats;
    let machines = if seats == 1 { "1 machine".to_owned() } else { format!("{seats} machines") };
    let greeting = license.name.as_str();
    let token = &license.token;
    let opening = opening(license, kind, product_name);

    let text_body = format!(
        "Hello {greeting},\n\n\
         {opening}\n\n\
         License key: {key}\n\
         Edition: {tier} ({expiry}, up to {machines})\n\n\
         To activate: open {product_name}, choose \"Activate license\" and paste the key above.\n\
         Offline or behind a firewall? Import the attached file {file_name} instead; it holds your\n\
         signed license token:\n\n{token}\n\n\
         Changed computers or lost this email? Manage your machines and have your licenses sent\n\
         again at {portal}\n"
    );
    let html_body = format!(
        "<!doctype html><html><body style=\"font-family:sans-serif;line-height:1.5;color:#111\">\
         <p>Hello {greeting},</p>\
         <p>{opening}</p>\
         <p><strong>License key:</strong> <code style=\"font-size:1.1em\">{key}</code><br>\
         <strong>Edition:</strong> {tier} ({expiry}, up to {machines})</p>\
         <p>To activate: open {product}, choose &ldquo;Activate license&rdquo; and paste the key above. \
         Offline or behind a firewall? Import the attached file <code>{file_name}</code> instead; \
         it holds your signed license token:</p>\
         <pre style=\"white-space:pre-wrap;word-break:break-all;background:#f4f4f4;padding:8px\">{token}</pre>\
         <p>Changed computers or lost this email? <a href=\"{portal}\">Manage your machines and have \
         your licenses sent again</a>.</p></body></html>",
        greeting = escape_html(greeting),
        opening = escape_html(&opening),
        product = escape_html(product_name),
        key = escape_html(key),
        tier = escape_html(tier),
        expiry = escape_html(&expiry),
        file_name = escape_html(&file_name),
        token = escape_html(token),
        portal = escape_html(&portal),
    );
    Email {
        from: settings.from.clone(),
        to: to.as_str().to_owned(),
        subject,
        text_body,
        html_body,
        attachments: vec![license_file(license)],
        reference: reference.to_owned(),
    }
}

/// The names buyers see for a license's product and tier.
#[derive(Debug, Clone, Copy)]
pub struct Names<'a> {
    pub product: &'a str,
    pub tier: &'a str,
}

/// One license in the portal email.
pub struct PortalEntry<'a> {
    pub license: &'a License,
    pub names: Names<'a>,
}

/// The portal email: every active license of `to` (key and token, each also as
/// `<key>.lic`) and the signed link to the buyer's licenses page.
pub fn compose_portal(
    entries: &[PortalEntry<'_>],
    to: &EmailAddress,
    link: &str,
    link_expires_at: time::OffsetDateTime,
    settings: &MailSettings,
    reference: &str,
) -> Email {
    let expires =
        format!("{} {:02}:{:02} UTC", link_expires_at.date(), link_expires_at.hour(), link_expires_at.minute());
    let mut text_licenses = String::new();
    let mut html_licenses = String::new();
    let mut attachments = Vec::new();
    for PortalEntry { license, names: Names { product: product_name, tier } } in entries {
        let key = license.key.as_str();
        let expiry = expiry_text(license);
        text_licenses.push_str(&format!(
            "{product_name}, {tier} ({expiry})\nLicense key: {key}\nLicense token:\n{token}\n\n",
            token = license.token,
        ));
        html_licenses.push_str(&format!(
            "<h3 style=\"margin-bottom:0\">{product}, {tier} ({expiry})</h3>\
             <p><strong>License key:</strong> <code style=\"font-size:1.1em\">{key}</code></p>\
             <pre style=\"white-space:pre-wrap;word-break:break-all;background:#f4f4f4;padding:8px\">{token}</pre>",
            product = escape_html(product_name),
            tier = escape_html(tier),
            expiry = escape_html(&expiry),
            key = escape_html(key),
            token = escape_html(&license.token),
        ));
        attachments.push(license_file(license));
    }
    if entries.is_empty() {
        text_licenses
            .push_str("None of your licenses is active right now; the link below shows them and how to renew.\n\n");
        html_licenses
            .push_str("<p>None of your licenses is active right now; the link below shows them and how to renew.</p>");
    }
    let text_body = format!(
        "Hello,\n\nyou asked for your licenses. Here they are.\n\n{text_licenses}\
         To see your licenses and the machines using them, and to free a machine you no longer use,\n\
         open this link (it works until {expires}):\n{link}\n\n\
         If you did not ask for this email, you can ignore it.\n"
    );
    let html_body = format!(
        "<!doctype html><html><body style=\"font-family:sans-serif;line-height:1.5;color:#111\">\
         <p>Hello,</p><p>you asked for your licenses. Here they are.</p>{html_licenses}\
         <p><a href=\"{link}\">See your licenses and machines, and free a machine you no longer use</a> \
         (the link works until {expires}).</p>\
         <p>If you did not ask for this email, you can ignore it.</p></body></html>",
        link = escape_html(link),
        expires = escape_html(&expires),
    );
    Email {
        from: settings.from.clone(),
        to: to.as_str().to_owned(),
        subject: "Your licenses".to_owned(),
        text_body,
        html_body,
        attachments,
        reference: reference.to_owned(),
    }
}
