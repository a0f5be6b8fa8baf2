//! The demo's simulator page, driven by a real browser: headless Chromium through ChromeDriver
//! (Debian's `chromium` and `chromium-driver`, installed by `scripts/setup.sh`; no browser
//! download). The test completes an onboarding — text, the consent button, a card photo
//! uploaded through the page's file picker, SPECIMEN buttons for the back and the selfie — and
//! snapshots the transcript the page shows.
//!
//! WebDriver is spoken directly (a handful of W3C endpoints over HTTP) rather than through a
//! client crate: it keeps the build lean and the protocol visible.

mod process;
use kyc_flow_testkit::simulate::SampleSource as _;
use process::{Reaper, free_port, start_demo, wait_for};
use serde_json::{Value, json};
use std::process::{Command, Stdio};
use std::time::Duration;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn prerequisites() -> bool {
    let browser =
        std::path::Path::new(CHROMIUM).exists() && std::path::Path::new(CHROMEDRIVER).exists();
    let assets = kyc_flow_vision::assets::AssetPaths::discover().is_ok();
    if browser && assets {
        return true;
    }
    assert!(
        std::env::var("CI").is_err(),
        "CI must have chromium, chromium-driver and the vision assets (scripts/setup.sh)"
    );
    eprintln!(
        "SKIPPED: needs chromium + chromium-driver and the vision assets; run scripts/setup.sh"
    );
    false
}

struct Browser {
    http: reqwest::Client,
    base: String,
}

impl Browser {
    async fn call(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let resp = self
            .http
            .request(method, format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .expect("chromedriver answers");
        let status = resp.status();
        let v: Value = resp.json().await.expect("chromedriver speaks JSON");
        assert!(status.is_success(), "webdriver {path}: {status} {v}");
        v["value"].clone()
    }
    async fn post(&self, path: &str, body: Value) -> Value {
        self.call(reqwest::Method::POST, path, body).await
    }
    async fn find(&self, css: &str) -> String {
        let v = self
            .post("/element", json!({ "using": "css selector", "value": css }))
            .await;
        v[ELEMENT].as_str().expect("element id").to_owned()
    }
    async fn count(&self, css: &str) -> usize {
        self.post(
            "/elements",
            json!({ "using": "css selector", "value": css }),
        )
        .await
        .as_array()
        .map_or(0, Vec::len)
    }
    async fn click(&self, css: &str) {
        let id = self.find(css).await;
        self.post(&format!("/element/{id}/click"), json!({})).await;
    }
    async fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        self.post(&format!("/element/{id}/value"), json!({ "text": text }))
            .await;
    }
    async fn script(&self, script: &str) -> Value {
        self.post("/execute/sync", json!({ "script": script, "args": [] }))
            .await
    }
}

#[tokio::test]
async fn an_onboarding_through_the_simulator_page_in_headless_chromium() {
    if !prerequisites() {
        return;
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let dir = std::env::temp_dir().join(format!("kyc-flow-browser-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    // The demo, as a user starts it.
    let (_demo, demo) = start_demo(&http).await;

    // ChromeDriver and a headless Chromium that makes no connection of its own.
    let driver_port = free_port();
    let _driver = Reaper(
        Command::new(CHROMEDRIVER)
            .arg(format!("--port={driver_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts"),
    );
    let driver = format!("http://127.0.0.1:{driver_port}");
    wait_for("chromedriver", Duration::from_secs(30), || {
        let http = http.clone();
        let url = format!("{driver}/status");
        async move { http.get(url).send().await.ok() }
    })
    .await;
    let profile = dir.join("profile");
    let caps = json!({ "capabilities": { "alwaysMatch": {
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", format!("--user-data-dir={}", profile.display()),
            ],
        },
    }}});
    let session = http
        .post(format!("{driver}/session"))
        .json(&caps)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let session_id = session["value"]["sessionId"]
        .as_str()
        .unwrap_or_else(|| panic!("no WebDriver session: {session}"))
        .to_owned();
    let browser = Browser {
        http: http.clone(),
        base: format!("{driver}/session/{session_id}"),
    };

    browser
        .post("/url", json!({ "url": format!("{demo}/") }))
        .await;
    // A fixed simulated number, so the session can be looked up.
    let user = "5215512340001";
    browser
        .script(&format!(
            "const u = document.getElementById('user'); u.value = '{user}'; u.onchange(); return 1;"
        ))
        .await;
    let state = || {
        let http = http.clone();
        let url = format!("{demo}/sim/api/session?country=mx&user={user}");
        async move {
            let v: Value = http.get(url).send().await.ok()?.json().await.ok()?;
            // The step is reached once its state is stored *and* the transition's effects
            // (the step's prompt among them) have gone out of the outbox.
            (v["pending"].as_u64() == Some(0))
                .then(|| v["state"].as_str().map(str::to_owned))
                .flatten()
        }
    };
    let reach = |step: &'static str| async move {
        wait_for(step, Duration::from_secs(120), || async move {
            state().await.filter(|s| s.starts_with(step))
        })
        .await
    };

    // Before each action, wait until the page shows every message sent so far, so that the
    // transcript's order is the conversation's and not the page's polling schedule.
    let sent_total = || {
        let http = http.clone();
        let url = format!("{demo}/sim/api/messages?user={user}&since=0");
        async move {
            let v: Value = http.get(url).send().await.ok()?.json().await.ok()?;
            v["total"].as_u64().map(|t| t as usize)
        }
    };
    let settle = || async {
        wait_for("the page to catch up", Duration::from_secs(60), || async {
            let sent = sent_total().await?;
            (browser.count("#chat .msg.bot").await == sent).then_some(())
        })
        .await
    };

    // "Hola", then the consent button the page renders.
    browser.type_into("#text", "Hola").await;
    browser.click("#sendBtn").await;
    wait_for("the consent buttons", Duration::from_secs(60), || async {
        (browser.count("#chat .buttons button").await > 0).then_some(())
    })
    .await;
    settle().await;
    browser.click("#chat .buttons button").await;
    reach("document_front").await;
    settle().await;

    // The card front through the page's file picker, as a user with a photo on disk would.
    let assets = kyc_flow_vision::assets::AssetPaths::discover().unwrap();
    let front = kyc_flow_testkit::engines::Samples::new(assets)
        .generate("mx", "front", "clean")
        .unwrap();
    let front_path = dir.join("ine-front.jpg");
    std::fs::write(&front_path, front).unwrap();
    browser
        .type_into("#file", &front_path.display().to_string())
        .await;
    reach("document_back").await;
    settle().await;

    // The back and the selfie from the page's SPECIMEN buttons.
    browser.click("button[onclick=\"sample('back')\"]").await;
    reach("selfie").await;
    settle().await;
    browser.click("button[onclick=\"sample('selfie')\"]").await;
    reach("decided").await;

    // The page shows every message the engine sent, the decision included.
    settle().await;
    let transcript = wait_for(
        "every message on the page",
        Duration::from_secs(60),
        || async {
            let lines = browser
                .script(
                    "return [...document.querySelectorAll('#chat .msg, #chat .note')].map(e => \
                 (e.classList.contains('bot') ? 'bot: ' : e.classList.contains('user') ? \
                 'user: ' : 'note: ') + (e.firstChild ? e.firstChild.textContent : ''));",
                )
                .await;
            // A single photo gets its own "received" line only when its analysis outlasts the
            // 2 s burst window (otherwise its answer acknowledges it): that depends on how busy
            // the machine is, so the transcript leaves those lines out.
            let received = format!(
                "bot: {}",
                kyc_flow_core::Catalog::builtin()
                    .text("processing", kyc_flow_core::Locale::EsMx)
                    .unwrap()
            );
            let lines: Vec<String> = lines
                .as_array()?
                .iter()
                .filter_map(|l| l.as_str().map(str::to_owned))
                .filter(|l| *l != received)
                .collect();
            Some(lines.join("\n"))
        },
    )
    .await;

    // The demo sends the onboarding to manual review; its reviewer approves it on the review
    // page (anonymous on loopback, the reviewer id typed in), and the approval reaches the
    // session and the user.
    let decision = || {
        let http = http.clone();
        let url = format!("{demo}/sim/api/session?country=mx&user={user}");
        async move {
            let v: Value = http.get(url).send().await.ok()?.json().await.ok()?;
            Some(v["decision"].to_string())
        }
    };
    let before = decision().await.unwrap_or_default();
    assert!(before.contains("manual_review"), "{before}");
    let sent_before = sent_total().await.unwrap();
    browser
        .post("/url", json!({ "url": format!("{demo}/review") }))
        .await;
    browser.type_into("#reviewer", "browser-reviewer").await;
    browser.click("#refresh").await;
    wait_for(
        "the case on the review page",
        Duration::from_secs(60),
        || async { (browser.count("tr.case").await == 1).then_some(()) },
    )
    .await;
    // The list re-renders every 5 s, so the row is clicked from the page's own script (a
    // WebDriver element id could go stale between finding and clicking it).
    wait_for(
        "the case's evidence and buttons",
        Duration::from_secs(60),
        || async {
            let shown = browser
                .script(
                    "const row = document.querySelector('tr.case'); \
                 if (row && !document.getElementById('approve')) row.click(); \
                 return !!document.getElementById('approve');",
                )
                .await;
            (shown == Value::Bool(true)).then_some(())
        },
    )
    .await;
    browser.click("#approve").await;
    let note = wait_for(
        "the page's confirmation",
        Duration::from_secs(60),
        || async {
            let t = browser
                .script("return document.getElementById('msg').textContent;")
                .await;
            t.as_str().filter(|t| !t.is_empty()).map(str::to_owned)
        },
    )
    .await;
    assert!(note.contains("browser-reviewer"), "{note}");
    let after = wait_for(
        "the approval in the session",
        Duration::from_secs(120),
        || async { decision().await.filter(|d| d.contains("approved")) },
    )
    .await;
    assert!(after.contains("operator_decision"), "{after}");
    wait_for(
        "the approval message to the user",
        Duration::from_secs(60),
        || async { (sent_total().await? > sent_before).then_some(()) },
    )
    .await;
    wait_for(
        "the closed case to leave the list",
        Duration::from_secs(60),
        || async {
            browser.click("#refresh").await;
            (browser.count("tr.case").await == 0).then_some(())
        },
    )
    .await;

    let _ = http
        .delete(format!("{driver}/session/{session_id}"))
        .send()
        .await;
    let _ = std::fs::remove_dir_all(&dir);
    insta::assert_snapshot!("simulator_page_transcript", transcript);
}
