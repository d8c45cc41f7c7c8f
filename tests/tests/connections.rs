//! Connection budgets and deadlines on the real server (contract §2
//! `[server]`, §8): idle and slow clients are cut off, neither listener can be
//! starved by the other's clients, and the process stays idle meanwhile.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use tessera_blackbox::RunningServer;

fn addr_of(url: &str) -> SocketAddr {
    url.trim_start_matches("http://").parse().expect("host:port")
}

/// `GET /health` on a fresh connection: the status, or `None` when the
/// connection was closed without an answer.
fn health(addr: SocketAddr) -> Option<u16> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    stream.write_all(b"GET /health HTTP/1.1\r\nHost: tessera\r\nConnection: close\r\n\r\n").ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    answer.split_whitespace().nth(1)?.parse().ok()
}

/// Whether the server closed `stream` (EOF or reset) within `wait`.
fn closed_by_server(stream: &mut TcpStream, wait: Duration) -> bool {
    stream.set_read_timeout(Some(wait)).unwrap();
    let mut byte = [0u8; 1];
    match stream.read(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(error) => !matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
    }
}

fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
    (fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap()) / 100.0
}

fn start(dir: &std::path::Path, server: &str) -> RunningServer {
    std::fs::write(dir.join("tessera.toml"), format!("[server]\n{server}\n")).unwrap();
    RunningServer::start(dir)
}

#[test]
fn idle_and_slow_connections_are_cut_off_while_both_listeners_answer_and_the_cpu_idles() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), "header_timeout_s = 2\nidle_timeout_s = 4");
    let (public, admin) = (addr_of(&server.public_url), addr_of(&server.admin_url));

    // 300 connections that say nothing, 100 that send half a head and keep trickling.
    let mut idle: Vec<TcpStream> = (0..300).map(|_| TcpStream::connect(public).unwrap()).collect();
    idle.extend((0..50).map(|_| TcpStream::connect(admin).unwrap()));
    let mut slow: Vec<TcpStream> = (0..100)
        .map(|_| {
            let mut stream = TcpStream::connect(public).unwrap();
            stream.write_all(b"GET /health HTTP/1.1\r\nHost: tessera\r\n").unwrap();
            stream
        })
        .collect();
    let opened = Instant::now();

    assert_eq!(health(public), Some(200), "the public listener answers beside 400 idle and slow clients");
    assert_eq!(health(admin), Some(200), "so does the admin listener");

    let cpu_before = cpu_seconds(server.pid());
    for round in 0..4 {
        std::thread::sleep(Duration::from_millis(300));
        for stream in &mut slow {
            let _ = stream.write_all(format!("X-Slow-{round}: 1\r\n").as_bytes());
        }
    }
    let cpu_used = cpu_seconds(server.pid()) - cpu_before;
    assert!(cpu_used < 0.5, "the server used {cpu_used:.2} s of CPU in 1.2 s holding idle connections");

    // Past the header deadline (2 s from the connection's start), every one is closed.
    let wait = Duration::from_secs(2).saturating_sub(opened.elapsed()) + Duration::from_secs(2);
    std::thread::sleep(wait);
    let still_open = idle
        .iter_mut()
        .chain(&mut slow)
        .map(|stream| closed_by_server(stream, Duration::from_millis(500)))
        .filter(|closed| !closed)
        .count();
    assert_eq!(still_open, 0, "connections still open past header_timeout_s");
    assert_eq!(health(public), Some(200));
}

#[test]
fn a_keep_alive_connection_may_idle_for_idle_timeout_s_then_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), "header_timeout_s = 1\nidle_timeout_s = 3");
    let mut stream = TcpStream::connect(addr_of(&server.public_url)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let request = b"GET /health HTTP/1.1\r\nHost: tessera\r\n\r\n";
    let read_answer = |stream: &mut TcpStream| {
        let mut buffer = vec![0u8; 4096];
        let read = stream.read(&mut buffer).unwrap();
        String::from_utf8_lossy(&buffer[..read]).into_owned()
    };
    stream.write_all(request).unwrap();
    assert!(read_answer(&mut stream).starts_with("HTTP/1.1 200"));
    // Longer than header_timeout_s between requests is fine: that is idle time.
    std::thread::sleep(Duration::from_millis(1800));
    stream.write_all(request).unwrap();
    assert!(read_answer(&mut stream).starts_with("HTTP/1.1 200"), "kept alive past header_timeout_s");
    assert!(closed_by_server(&mut stream, Duration::from_secs(5)), "closed after idle_timeout_s of silence");
}

#[test]
fn over_the_budget_new_connections_are_closed_at_once_and_the_admin_listener_keeps_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), "max_connections = 20\nheader_timeout_s = 30");
    let (public, admin) = (addr_of(&server.public_url), addr_of(&server.admin_url));
    let held: Vec<TcpStream> = (0..20).map(|_| TcpStream::connect(public).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(300));

    let started = Instant::now();
    assert_eq!(health(public), None, "the 21st connection is closed without an answer");
    assert!(started.elapsed() < Duration::from_secs(2), "refused at once, not after a timeout");
    assert_eq!(health(admin), Some(200), "the admin listener has its own budget");

    drop(held);
    let deadline = Instant::now() + Duration::from_secs(5);
    while health(public) != Some(200) {
        assert!(Instant::now() < deadline, "the budget comes back when the clients go");
        std::thread::sleep(Duration::from_millis(100));
    }
}
