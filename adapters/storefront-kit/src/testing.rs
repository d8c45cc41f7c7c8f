//! [`FakeApi`]: a local stand-in for a provider's REST API (Paddle's
//! customers, Stripe's line items) that answers `GET`s from a route table,
//! records what it was asked (path and `Authorization`), and can be taken
//! down and brought back, so tests see a lookup fail and then succeed.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

pub struct FakeApi {
    pub url: String,
    routes: Arc<Mutex<HashMap<String, String>>>,
    asked: Arc<Mutex<Vec<(String, String)>>>,
    down: Arc<AtomicBool>,
}

impl FakeApi {
    /// Listens on a free port, answering each `(path, JSON)` with `200` and
    /// anything else with `404`.
    pub fn start(routes: &[(&str, &str)]) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fake API");
        let url = format!("http://{}", listener.local_addr().expect("an address"));
        let routes: HashMap<String, String> =
            routes.iter().map(|(path, body)| ((*path).to_owned(), (*body).to_owned())).collect();
        let fake = Self { url, routes: Arc::new(Mutex::new(routes)), asked: Arc::default(), down: Arc::default() };
        let (routes, asked, down) = (fake.routes.clone(), fake.asked.clone(), fake.down.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let (routes, asked, down) = (routes.clone(), asked.clone(), down.clone());
                std::thread::spawn(move || answer(stream, &routes, &asked, &down));
            }
        });
        fake
    }

    /// While down, every request is answered `503`.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    pub fn add_route(&self, path: &str, body: &str) {
        self.routes.lock().expect("routes").insert(path.to_owned(), body.to_owned());
    }

    /// Every request so far: its path and its `Authorization` header.
    pub fn asked(&self) -> Vec<(String, String)> {
        self.asked.lock().expect("requests").clone()
    }
}

fn answer(
    stream: TcpStream,
    routes: &Mutex<HashMap<String, String>>,
    asked: &Mutex<Vec<(String, String)>>,
    down: &AtomicBool,
) {
    let Ok(reader) = stream.try_clone() else { return };
    let mut reader = BufReader::new(reader);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut authorization = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.trim_end().split_once(':') {
            if name.eq_ignore_ascii_case("authorization") {
                authorization = value.trim().to_owned();
            }
        }
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or_default().to_owned();
    asked.lock().expect("requests").push((path.clone(), authorization));
    let found = routes.lock().expect("routes").get(&path).cloned();
    let (status, body) = match found {
        _ if down.load(Ordering::SeqCst) => (503, r#"{"error":"down for the test"}"#.to_owned()),
        Some(body) => (200, body),
        None => (404, r#"{"error":"not found"}"#.to_owned()),
    };
    let mut stream = stream;
    let response = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes());
}
