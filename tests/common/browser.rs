//! A real browser for tests: headless Chromium (Debian's `chromium`) driven over the Chrome
//! DevTools Protocol through `--remote-debugging-pipe` (JSON messages ending in NUL on file
//! descriptors 3 and 4), so no WebDriver server, websocket or port is involved. Synchronous:
//! one reader thread hands each answer to the caller waiting for its id.
//!
//! The browser gets no way off this machine: every host but loopback resolves to nothing, and
//! its background services (updates, sync, safe browsing) are off.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// How long one protocol command may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

type Pending = Arc<Mutex<HashMap<u64, mpsc::Sender<Value>>>>;

/// A headless Chromium. Killed on drop.
pub struct Browser {
    child: Child,
    to_browser: Mutex<std::io::PipeWriter>,
    pending: Pending,
    /// Console errors, exceptions and CSP reports seen on any page, for diagnostics.
    pub problems: Arc<Mutex<Vec<String>>>,
    next_id: AtomicU64,
    _profile: tempfile::TempDir,
    /// One browser at a time in a test binary: a Docker test's containers add and remove network
    /// interfaces, and Chromium aborts every request in flight when the machine's network
    /// changes (ERR_NETWORK_CHANGED), so another test's page would fail by chance.
    _one_at_a_time: std::sync::MutexGuard<'static, ()>,
}

static ONE_BROWSER: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The Chromium binary: `$CHROMIUM`, else the first of the usual names on `PATH`.
pub fn chromium() -> Option<PathBuf> {
    if let Ok(path) = std::env::var("CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| {
            ["chromium", "chromium-browser", "google-chrome"].map(|name| dir.join(name))
        })
        .find(|candidate| candidate.is_file())
}

/// A browser, or `None` after printing why the test skips. Fails instead of skipping when
/// `MCP_GATEWAY_REQUIRE_DOCKER=1` or `CI` is set (CI installs chromium with scripts/test.sh).
pub fn browser_or_skip(test: &str) -> Option<Browser> {
    let required = std::env::var("MCP_GATEWAY_REQUIRE_DOCKER").as_deref() == Ok("1")
        || std::env::var_os("CI").is_some();
    let Some(binary) = chromium() else {
        let reason = "no chromium on PATH (apt-get install chromium; scripts/test.sh does)";
        if required {
            panic!("{test}: {reason}, and MCP_GATEWAY_REQUIRE_DOCKER=1 or CI is set");
        }
        eprintln!("skipping {test}: {reason}");
        return None;
    };
    Some(Browser::launch(&binary))
}

unsafe extern "C" {
    fn dup2(old: i32, new: i32) -> i32;
    fn fcntl(fd: i32, cmd: i32, ...) -> i32;
}
/// `fcntl` command: duplicate to the lowest free descriptor at or above the argument.
const F_DUPFD: i32 = 0;

impl Browser {
    pub fn launch(binary: &Path) -> Browser {
        let one_at_a_time = ONE_BROWSER.lock().unwrap_or_else(|p| p.into_inner());
        let profile = tempfile::tempdir().expect("profile dir");
        let (browser_reads, we_write) = std::io::pipe().expect("pipe");
        let (we_read, browser_writes) = std::io::pipe().expect("pipe");
        let (read_fd, write_fd) = (browser_reads.as_raw_fd(), browser_writes.as_raw_fd());
        let mut command = Command::new(binary);
        command
            .args([
                "--headless",
                "--remote-debugging-pipe",
                "--no-sandbox", // tests run as root in CI, where the sandbox refuses to start
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-default-apps",
                "--disable-domain-reliability",
                "--disable-client-side-phishing-detection",
                "--disable-breakpad",
                "--no-pings",
                "--metrics-recording-only",
                "--mute-audio",
                "--hide-scrollbars",
                "--force-color-profile=srgb",
                "--font-render-hinting=none",
                "--disable-features=Translate,OptimizationHints,MediaRouter,AutofillServerCommunication,DialMediaRouteProvider",
                // Nothing but loopback resolves, and anything else would go to a closed port.
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                "--proxy-server=http://127.0.0.1:9",
                "--window-size=1280,900",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        // SAFETY: between fork and exec the closure only calls fcntl and dup2, both
        // async-signal-safe. The pipe ends are first moved to descriptors at or above 10 so
        // that neither is 3 or 4 already (dup2 onto itself would keep close-on-exec).
        unsafe {
            command.pre_exec(move || {
                let (high_read, high_write) =
                    (fcntl(read_fd, F_DUPFD, 10), fcntl(write_fd, F_DUPFD, 10));
                if high_read < 0
                    || high_write < 0
                    || dup2(high_read, 3) < 0
                    || dup2(high_write, 4) < 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = command.spawn().expect("start chromium");
        drop((browser_reads, browser_writes));
        if let Some(stderr) = child.stderr.take() {
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if std::env::var_os("CONSOLE_TEST_VERBOSE").is_some() {
                        eprintln!("chromium: {line}");
                    }
                }
            });
        }
        let pending: Pending = Arc::default();
        let problems: Arc<Mutex<Vec<String>>> = Arc::default();
        let (answers, events) = (pending.clone(), problems.clone());
        std::thread::spawn(move || {
            let mut reader = BufReader::new(we_read);
            let mut message = Vec::new();
            while reader.read_until(0, &mut message).is_ok_and(|n| n > 0) {
                message.pop_if(|byte| *byte == 0);
                if let Ok(value) = serde_json::from_slice::<Value>(&message) {
                    dispatch(value, &answers, &events);
                }
                message.clear();
            }
        });
        Browser {
            child,
            to_browser: Mutex::new(we_write),
            pending,
            problems,
            next_id: AtomicU64::new(1),
            _profile: profile,
            _one_at_a_time: one_at_a_time,
        }
    }

    /// Sends one command (to the browser, or to a page's session) and waits for its result.
    pub fn call(
        &self,
        session: Option<&str>,
        method: &str,
        params: Value,
    ) -> Result<Value, String> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (sender, receiver) = mpsc::channel();
        self.pending.lock().expect("pending").insert(id, sender);
        let mut message = json!({"id": id, "method": method, "params": params});
        if let Some(session) = session {
            message["sessionId"] = json!(session);
        }
        let mut bytes = serde_json::to_vec(&message).expect("serialise");
        bytes.push(0);
        self.to_browser
            .lock()
            .expect("writer")
            .write_all(&bytes)
            .map_err(|err| format!("{method}: the browser is gone: {err}"))?;
        let answer = receiver
            .recv_timeout(COMMAND_TIMEOUT)
            .map_err(|_| format!("{method}: no answer within {COMMAND_TIMEOUT:?}"))?;
        match answer.get("error") {
            Some(error) => Err(format!("{method}: {error}")),
            None => Ok(answer["result"].clone()),
        }
    }

    /// A new tab of `width` × `height` CSS pixels.
    pub fn page(&self, width: u32, height: u32) -> Page<'_> {
        let target = self
            .call(None, "Target.createTarget", json!({"url": "about:blank"}))
            .expect("create a tab");
        let attached = self
            .call(
                None,
                "Target.attachToTarget",
                json!({"targetId": target["targetId"], "flatten": true}),
            )
            .expect("attach to the tab");
        let page = Page {
            browser: self,
            session: attached["sessionId"]
                .as_str()
                .expect("session id")
                .to_string(),
        };
        for domain in ["Page.enable", "Runtime.enable", "Log.enable"] {
            page.cmd(domain, json!({}));
        }
        page.resize(width, height);
        page
    }
}

fn dispatch(value: Value, answers: &Pending, problems: &Mutex<Vec<String>>) {
    if let Some(id) = value.get("id").and_then(Value::as_u64) {
        if let Some(sender) = answers.lock().expect("pending").remove(&id) {
            let _ = sender.send(value);
        }
        return;
    }
    let params = &value["params"];
    let problem = match value["method"].as_str() {
        Some("Runtime.exceptionThrown") => Some(format!(
            "exception: {}",
            params["exceptionDetails"]["exception"]["description"]
        )),
        Some("Runtime.consoleAPICalled") if params["type"] == "error" => {
            Some(format!("console.error: {}", params["args"]))
        }
        Some("Log.entryAdded") if params["entry"]["level"] == "error" => {
            Some(format!("log: {}", params["entry"]["text"]))
        }
        _ => None,
    };
    if let Some(problem) = problem {
        problems.lock().expect("problems").push(problem);
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One tab, attached with its own protocol session.
pub struct Page<'a> {
    browser: &'a Browser,
    session: String,
}

impl Page<'_> {
    fn cmd(&self, method: &str, params: Value) -> Value {
        self.browser
            .call(Some(&self.session), method, params)
            .unwrap_or_else(|err| panic!("{err}"))
    }

    pub fn resize(&self, width: u32, height: u32) {
        self.cmd(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false}),
        );
    }

    /// Opens `url` and waits for the document to load.
    pub fn goto(&self, url: &str) {
        self.cmd("Page.navigate", json!({"url": url}));
        self.wait_for(
            &format!("{url} loaded"),
            "document.readyState === 'complete'",
        );
    }

    /// Evaluates `expression` (promises awaited) and returns its value as JSON.
    pub fn eval(&self, expression: &str) -> Result<Value, String> {
        let answer = self.browser.call(
            Some(&self.session),
            "Runtime.evaluate",
            json!({"expression": expression, "awaitPromise": true, "returnByValue": true}),
        )?;
        if let Some(details) = answer.get("exceptionDetails") {
            return Err(format!("{expression}: {details}"));
        }
        Ok(answer["result"]["value"].clone())
    }

    /// Polls `condition` (a JavaScript expression) until it is true, for at most `timeout`.
    pub fn wait_for_within(&self, what: &str, condition: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if self.eval(&format!("Boolean({condition})")) == Ok(Value::Bool(true)) {
                return;
            }
            if Instant::now() > deadline {
                let text = self
                    .eval("document.body ? document.body.innerText.slice(0, 3000) : ''")
                    .unwrap_or_default();
                let problems = self.browser.problems.lock().expect("problems").clone();
                panic!(
                    "timed out waiting for {what} ({condition}); location {}; page text:\n{}\nbrowser problems: {problems:#?}",
                    self.eval("location.href").unwrap_or_default(),
                    text.as_str().unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn wait_for(&self, what: &str, condition: &str) {
        self.wait_for_within(what, condition, Duration::from_secs(20));
    }

    /// The visible text of the first element matching `selector` ("" if none).
    pub fn text(&self, selector: &str) -> String {
        self.eval(&format!(
            "(document.querySelector({}) || {{}}).innerText || ''",
            json!(selector)
        ))
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
    }

    /// Waits until the element matching `selector` shows `needle`.
    pub fn wait_text(&self, selector: &str, needle: &str) {
        self.wait_for(
            &format!("{selector} to show {needle:?}"),
            &format!(
                "((document.querySelector({}) || {{}}).innerText || '').includes({})",
                json!(selector),
                json!(needle)
            ),
        );
    }

    /// Clicks, with the mouse, the middle of the element `element` (a JavaScript expression
    /// giving an element), after scrolling it into view.
    fn click_element(&self, what: &str, element: &str) {
        self.wait_for(
            &format!("{what} to be visible"),
            &format!(
                "(() => {{ const el = {element}; return el && el.getClientRects().length > 0; }})()"
            ),
        );
        let rect = self
            .eval(&format!(
                "(() => {{ const el = {element}; el.scrollIntoView({{block: 'center'}}); const r = el.getBoundingClientRect(); return {{x: r.x + r.width / 2, y: r.y + r.height / 2}}; }})()"
            ))
            .unwrap_or_else(|err| panic!("{what}: {err}"));
        for kind in ["mousePressed", "mouseReleased"] {
            self.cmd(
                "Input.dispatchMouseEvent",
                json!({"type": kind, "x": rect["x"], "y": rect["y"], "button": "left", "clickCount": 1}),
            );
        }
    }

    /// Clicks the element matching `selector`.
    pub fn click(&self, selector: &str) {
        self.click_element(
            selector,
            &format!("document.querySelector({})", json!(selector)),
        );
    }

    /// Clicks the visible button, link or summary whose text is `text`.
    pub fn click_text(&self, text: &str) {
        self.click_element(
            &format!("the {text:?} control"),
            &format!(
                "[...document.querySelectorAll('button, a, summary')].find(el => el.innerText.trim() === {} && el.getClientRects().length > 0)",
                json!(text)
            ),
        );
    }

    /// Focuses the field matching `selector`, clears it and types `text` (as keyboard input).
    pub fn fill(&self, selector: &str, text: &str) {
        self.wait_for(
            &format!("{selector} to exist"),
            &format!("document.querySelector({})", json!(selector)),
        );
        self.eval(&format!(
            "(() => {{ const el = document.querySelector({}); el.focus(); el.select && el.select(); }})()",
            json!(selector)
        ))
        .unwrap_or_else(|err| panic!("{err}"));
        if text.is_empty() {
            self.key("Backspace");
        } else {
            self.cmd("Input.insertText", json!({"text": text}));
        }
    }

    /// Chooses the option whose text is `label` in the select matching `selector`.
    pub fn select(&self, selector: &str, label: &str) {
        let done = self
            .eval(&format!(
                "(() => {{ const el = document.querySelector({}); const o = [...el.options].find(o => o.text === {}); if (!o) return false; el.focus(); el.value = o.value; el.dispatchEvent(new Event('change', {{bubbles: true}})); return true; }})()",
                json!(selector),
                json!(label)
            ))
            .unwrap_or_else(|err| panic!("{err}"));
        assert_eq!(
            done,
            Value::Bool(true),
            "{selector} has no option {label:?}"
        );
    }

    /// Presses one key (`Tab`, `Enter`, `Backspace`).
    pub fn key(&self, key: &str) {
        let (code, text) = match key {
            "Tab" => (9, ""),
            "Enter" => (13, "\r"),
            "Backspace" => (8, ""),
            other => panic!("no key code for {other}"),
        };
        for kind in ["keyDown", "keyUp"] {
            let mut params =
                json!({"type": kind, "key": key, "code": key, "windowsVirtualKeyCode": code});
            if kind == "keyDown" && !text.is_empty() {
                params["text"] = json!(text);
            }
            self.cmd("Input.dispatchKeyEvent", params);
        }
    }

    /// Saves a PNG of the page from its top, at most `max_height` pixels tall, to `path`.
    pub fn screenshot(&self, path: &Path, max_height: f64) {
        use base64::Engine;
        let metrics = self.cmd("Page.getLayoutMetrics", json!({}));
        let width = metrics["cssLayoutViewport"]["clientWidth"]
            .as_f64()
            .unwrap_or(1280.0);
        let height = metrics["cssContentSize"]["height"]
            .as_f64()
            .unwrap_or(900.0)
            .clamp(200.0, max_height);
        let shot = self.cmd(
            "Page.captureScreenshot",
            json!({"format": "png", "captureBeyondViewport": true,
                   "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}}),
        );
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().expect("png data"))
            .expect("base64");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("screenshot dir");
        }
        std::fs::write(path, png).expect("write screenshot");
    }
}
