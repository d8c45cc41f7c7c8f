//! The development mailer writes complete, readable `.eml` files.

use base64::Engine;
use tessera_domain::mail::{Attachment, Email, Mailer, SendError};
use tessera_log_mail::{render_eml, LogMailer};

fn email() -> Email {
    Email {
        from: "DataTools <licenses@example.com>".into(),
        to: "ada@example.com".into(),
        subject: "Your DataTools license — thank you".into(),
        text_body: "Key: DT1-CORE-AAAAA".into(),
        html_body: "<p>Key: <b>DT1-CORE-AAAAA</b></p>".into(),
        attachments: vec![Attachment {
            name: "DataTools.lic".into(),
            content_type: "application/octet-stream".into(),
            content: b"eyJ.token.sig\n".to_vec(),
        }],
        reference: "delivery/42".into(),
    }
}

#[tokio::test]
async fn each_email_becomes_one_eml_file() {
    let dir = tempfile::tempdir().unwrap();
    let mailer = LogMailer::new(dir.path().join("mail-outbox"));
    let sent = mailer.send(&email()).await.unwrap();
    let name = sent.provider_message_id.unwrap();
    assert!(name.ends_with("-delivery_42.eml"), "{name}");
    let files: Vec<_> = std::fs::read_dir(dir.path().join("mail-outbox"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(files, std::slice::from_ref(&name), "one file, no temporary left");

    let eml = std::fs::read_to_string(dir.path().join("mail-outbox").join(&name)).unwrap();
    assert!(eml.contains("From: DataTools <licenses@example.com>\r\n"));
    assert!(eml.contains("To: ada@example.com\r\n"));
    assert!(eml.contains("Subject: =?UTF-8?B?"), "non-ASCII subjects are encoded");
    assert!(eml.contains("Content-Type: text/plain; charset=utf-8"));
    assert!(eml.contains("Content-Type: text/html; charset=utf-8"));
    assert!(eml.contains("Content-Disposition: attachment; filename=\"DataTools.lic\""));
    let encode = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    assert!(eml.contains(&encode(b"eyJ.token.sig\n")), "the attachment's bytes");
    assert!(eml.contains(&encode(b"Key: DT1-CORE-AAAAA")), "the text body");

    let second = mailer.send(&email()).await.unwrap().provider_message_id.unwrap();
    assert_ne!(second, name, "a second send is a second file");
}

#[tokio::test]
async fn an_unwritable_folder_is_a_transient_failure() {
    let dir = tempfile::tempdir().unwrap();
    let blocked = dir.path().join("file-not-folder");
    std::fs::write(&blocked, b"").unwrap();
    let result = LogMailer::new(&blocked).send(&email()).await;
    assert!(matches!(result, Err(SendError::Transient(_))), "{result:?}");
}

#[test]
fn header_injection_is_not_possible() {
    let mut hostile = email();
    hostile.subject = "Hello\r\nBcc: victim@example.com".into();
    let eml = render_eml(&hostile, time::OffsetDateTime::UNIX_EPOCH);
    assert!(!eml.contains("\r\nBcc:"), "{eml}");
}
