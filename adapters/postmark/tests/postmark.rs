//! PostmarkMailer against a local fake Postmark: what it sends, and how each
//! kind of answer is classified.

use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use tessera_domain::mail::{Attachment, Email, Mailer, SendError};
use tessera_postmark::PostmarkMailer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What the fake received: headers (lower-case names) and the JSON body.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    headers: Vec<(String, String)>,
    body: Value,
}

/// A one-connection-per-request HTTP server answering `answers` in turn.
async fn fake_postmark(answers: Vec<(u16, String)>) -> (String, Arc<Mutex<Vec<Received>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let received = Arc::new(Mutex::new(Vec::new()));
    let log = received.clone();
    tokio::spawn(async move {
        for (status, body) in answers {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            let mut buffer = [0u8; 4096];
            let (head, content_length) = loop {
                let read = socket.read(&mut buffer).await.unwrap();
                request.extend_from_slice(&buffer[..read]);
                if let Some(end) = request.windows(4).position(|window| window == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&request[..end]).into_owned();
                    let length = head
                        .lines()
                        .find_map(|line| {
                            line.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned())
                        })
                        .and_then(|value| value.parse::<usize>().ok())
                        .unwrap_or(0);
                    request.drain(..end + 4);
                    break (head, length);
                }
            };
            while request.len() < content_length {
                let read = socket.read(&mut buffer).await.unwrap();
                request.extend_from_slice(&buffer[..read]);
            }
            let mut lines = head.lines();
            let path = lines.next().unwrap_or_default().split(' ').nth(1).unwrap_or_default().to_owned();
            let headers = lines
                .filter_map(|line| line.split_once(':'))
                .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
                .collect();
            log.lock().unwrap().push(Received {
                path,
                headers,
                body: serde_json::from_slice(&request).unwrap_or(Value::Null),
            });
            let reason = if status == 200 { "OK" } else { "Error" };
            let response = format!(
                "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            socket.write_all(response.as_bytes()).await.unwrap();
        }
    });
    (url, received)
}

fn email() -> Email {
    Email {
        from: "DataTools <licenses@example.com>".into(),
        to: "ada@example.com".into(),
        subject: "Your DataTools license".into(),
        text_body: "Key: DT1-CORE-AAAAA".into(),
        html_body: "<p>Key: <b>DT1-CORE-AAAAA</b></p>".into(),
        attachments: vec![Attachment {
            name: "DataTools.lic".into(),
            content_type: "application/octet-stream".into(),
            content: b"eyJ.token.sig\n".to_vec(),
        }],
        reference: "delivery-42".into(),
    }
}

fn answer(code: i64, message: &str) -> String {
    json!({"ErrorCode": code, "Message": message, "MessageID": "b7bc2f4a-e38e-4336-af7d-e6c392c2f817", "To": "ada@example.com"}).to_string()
}

#[tokio::test]
async fn sends_postmarks_email_shape_and_keeps_the_message_id() {
    let (url, received) = fake_postmark(vec![(200, answer(0, "OK"))]).await;
    let mailer = PostmarkMailer::new(&url, "server-token-1", "outbound");
    let sent = mailer.send(&email()).await.unwrap();
    assert_eq!(sent.provider_message_id.as_deref(), Some("b7bc2f4a-e38e-4336-af7d-e6c392c2f817"));

    let request = received.lock().unwrap()[0].clone();
    assert_eq!(request.path, "/email");
    let header = |name: &str| request.headers.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str());
    assert_eq!(header("x-postmark-server-token"), Some("server-token-1"));
    assert_eq!(header("accept"), Some("application/json"));
    let body = &request.body;
    assert_eq!(body["From"], "DataTools <licenses@example.com>");
    assert_eq!(body["To"], "ada@example.com");
    assert_eq!(body["Subject"], "Your DataTools license");
    assert_eq!(body["TextBody"], "Key: DT1-CORE-AAAAA");
    assert_eq!(body["HtmlBody"], "<p>Key: <b>DT1-CORE-AAAAA</b></p>");
    assert_eq!(body["MessageStream"], "outbound");
    assert_eq!(body["Attachments"][0]["Name"], "DataTools.lic");
    assert_eq!(body["Attachments"][0]["Content"], "ZXlKLnRva2VuLnNpZwo=", "base64 of the file");
    assert_eq!(body["Attachments"][0]["ContentType"], "application/octet-stream");
}

/// The outcome's kind, to compare with what each answer must give.
fn outcome(result: &Result<tessera_domain::mail::Sent, SendError>) -> &'static str {
    match result {
        Ok(_) => "sent",
        Err(SendError::Rejected(_)) => "rejected",
        Err(SendError::Misconfigured(_)) => "misconfigured",
        Err(SendError::Transient(_)) => "transient",
    }
}

#[tokio::test]
async fn each_answer_is_classified_by_what_a_retry_could_change() {
    let cases = [
        (422, answer(406, "You tried to send to a recipient that has been marked as inactive."), "rejected"),
        (422, answer(300, "Invalid email request"), "rejected"),
        (401, answer(10, "The Server Token you provided was invalid."), "misconfigured"),
        (422, answer(10, "No Account or Server API tokens were supplied"), "misconfigured"),
        (429, answer(429, "Rate limit exceeded"), "transient"),
        (500, "Internal Server Error".to_owned(), "transient"),
        (503, answer(0, "Service Unavailable"), "transient"),
        (200, answer(0, "OK"), "sent"),
    ];
    let (url, received) = fake_postmark(cases.iter().map(|(status, body, _)| (*status, body.clone())).collect()).await;
    let mailer = PostmarkMailer::new(&url, "token", "outbound");
    for (status, body, expected) in &cases {
        let result = mailer.send(&email()).await;
        assert_eq!(outcome(&result), *expected, "{status} {body} gave {result:?}");
    }
    assert_eq!(received.lock().unwrap().len(), cases.len(), "one request per send, no hidden retries");
}

#[tokio::test]
async fn an_unreachable_postmark_is_transient() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener); // connection refused
    let result = PostmarkMailer::new(&url, "token", "outbound").send(&email()).await;
    assert!(matches!(result, Err(SendError::Transient(_))), "{result:?}");
}
