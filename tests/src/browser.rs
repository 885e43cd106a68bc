//! A real browser for page tests: Debian's headless Chromium driven through ChromeDriver
//! (WebDriver over plain HTTP/1.1 on loopback). [`Browser::start`] starts a ChromeDriver on a
//! free port and one session with a fresh profile; dropping it ends the session (Chromium
//! quits) and the driver.
//!
//! As root Chromium needs `--no-sandbox`; the other flags keep it from reaching out
//! (`--disable-background-networking`, `--disable-component-update`, `--disable-sync`,
//! `--no-first-run`, `--disable-quic`). Screenshots go to `tests/artifacts/` (git-ignored).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

use crate::{free_port, repo};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The W3C WebDriver key of an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Chromium and ChromeDriver from Debian (or `$CHROMIUM`, `$CHROMEDRIVER`), or a failure that
/// says how to get them. Call it before starting nodes, to fail fast.
pub fn binaries() -> (PathBuf, PathBuf) {
    let (chromium, driver) = (
        std::env::var_os("CHROMIUM").map_or_else(|| PathBuf::from(CHROMIUM), PathBuf::from),
        std::env::var_os("CHROMEDRIVER").map_or_else(|| PathBuf::from(CHROMEDRIVER), PathBuf::from),
    );
    let missing: Vec<String> = [&chromium, &driver]
        .iter()
        .filter(|p| !p.exists())
        .map(|p| p.display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "the browser tests need Chromium and ChromeDriver, missing: {missing:?}. Install them \
         with `apt-get install -y chromium chromium-driver` (`scripts/setup-debian.sh --tests` does), or \
         point CHROMIUM and CHROMEDRIVER at them"
    );
    (chromium, driver)
}

/// One WebDriver HTTP call; returns the answer's `value`, panicking on an error answer.
async fn webdriver(port: u16, method: http::Method, path: &str, body: Option<Value>) -> Value {
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect to chromedriver");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("HTTP/1.1 handshake with chromedriver");
    tokio::spawn(conn);
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let req = http::Request::builder()
        .method(method.clone())
        .uri(path)
        .header("host", format!("127.0.0.1:{port}"))
        .header("content-type", "application/json; charset=utf-8")
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let resp = sender.send_request(req).await.expect("chromedriver answer");
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let answer: Value = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        panic!(
            "{method} {path}: not JSON ({e}): {}",
            String::from_utf8_lossy(&bytes)
        )
    });
    assert!(status.is_success(), "{method} {path}: {status} {answer:#}");
    answer["value"].clone()
}

/// A headless Chromium session.
pub struct Browser {
    driver: Child,
    port: u16,
    session: String,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// ChromeDriver on a free port and a session of a fresh Chromium profile with a window of
    /// `width`×`height`, accepting the test nodes' certificates, in Chinese.
    pub async fn start(width: u32, height: u32) -> Browser {
        let (chromium, driver) = binaries();
        let port = free_port();
        let child = Command::new(&driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", driver.display()));
        let profile = tempfile::Builder::new()
            .prefix("e2e-chromium-")
            .tempdir()
            .unwrap();
        let mut browser = Browser {
            driver: child,
            port,
            session: String::new(),
            _profile: profile,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
                && webdriver(port, http::Method::GET, "/status", None).await["ready"] == true
            {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "acceptInsecureCerts": true,
            "goog:chromeOptions": {
                "binary": chromium.to_str().unwrap(),
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
                    "--disable-dev-shm-usage", format!("--window-size={width},{height}"), "--lang=zh-CN",
                    format!("--user-data-dir={}", browser._profile.path().display()),
                ],
            },
        }}});
        let session = webdriver(port, http::Method::POST, "/session", Some(caps)).await;
        browser.session = session["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {session:#}"))
            .to_owned();
        browser
    }

    /// A command of this session: POST with a body, GET or DELETE without.
    pub async fn call(&self, method: http::Method, path: &str, body: Option<Value>) -> Value {
        let path = format!("/session/{}{path}", self.session);
        webdriver(self.port, method, &path, body).await
    }

    pub async fn goto(&self, url: &str) {
        self.call(http::Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    /// Set a session cookie (`name=value`, as `e2e::Node::login` returns it) for `origin`: a
    /// cookie belongs to the page's origin, so this visits the origin first.
    pub async fn set_cookie(&self, origin: &str, cookie: &str) {
        self.goto(&format!("{origin}/healthz")).await;
        let (name, value) = cookie.split_once('=').unwrap();
        let cookie = json!({"name": name, "value": value, "path": "/", "secure": true,
                            "httpOnly": true, "sameSite": "Strict"});
        self.call(
            http::Method::POST,
            "/cookie",
            Some(json!({"cookie": cookie})),
        )
        .await;
    }

    /// Run `script` (a function body; `arguments` are `args`) in the page; its return value.
    pub async fn execute(&self, script: &str, args: Value) -> Value {
        let body = json!({"script": script, "args": args});
        self.call(http::Method::POST, "/execute/sync", Some(body))
            .await
    }

    /// Run `script` until it returns something other than `null`/`false`, or fail after
    /// `secs` saying `what`.
    pub async fn wait_for(&self, script: &str, args: Value, secs: u64, what: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let v = self.execute(script, args.clone()).await;
            if !v.is_null() && v != false {
                return v;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The element `css` selects (the first), as a WebDriver element id.
    pub async fn element(&self, css: &str) -> String {
        let found = self
            .call(
                http::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        found[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {found}"))
            .to_owned()
    }

    pub async fn click(&self, css: &str) {
        let id = self.element(css).await;
        self.call(
            http::Method::POST,
            &format!("/element/{id}/click"),
            Some(json!({})),
        )
        .await;
    }

    /// Type `text` into the element `css` selects. For an `<input type=file>`, `text` is the
    /// absolute path of the file to pick.
    pub async fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css).await;
        self.call(
            http::Method::POST,
            &format!("/element/{id}/value"),
            Some(json!({"text": text})),
        )
        .await;
    }

    /// A PNG of the window, saved as `tests/artifacts/{name}`; returns its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.call(http::Method::GET, "/screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap())
            .unwrap();
        assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
        let artifacts = repo().join("tests/artifacts");
        std::fs::create_dir_all(&artifacts).unwrap();
        let path = artifacts.join(name);
        std::fs::write(&path, &png).unwrap();
        path
    }
}

/// End the session (Chromium quits) with a blocking request: Drop cannot await.
fn delete_session(port: u16, session: &str) {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let request = format!(
        "DELETE /session/{session} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    if stream.write_all(request.as_bytes()).is_ok() {
        let _ = stream.read_to_end(&mut Vec::new());
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            delete_session(self.port, &self.session);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Write `value` as a JSON file `name` in `dir` (a file for the page to pick); its absolute path.
pub fn json_file(dir: &Path, name: &str, value: &Value) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_vec_pretty(value).unwrap()).unwrap();
    path.canonicalize().unwrap()
}
