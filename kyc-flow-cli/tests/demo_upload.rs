//! Issue 10, "done when": the demo accepts a readable card photo uploaded from its page on the
//! first try, for each of its three presets (mx-ine, co-cedula, pe-dni), and a genuinely
//! blurred photo still gets the precise `retake.blur` prompt. Both hold for all three presets
//! (the readable DNI front since the reader found its number after `N°` and its labels read
//! as one line, 2026-12-05).
//!
//! The photos come from the domain-randomised renderer (`kyc_flow_vision_testkit::randomised`:
//! its own fonts, label wording, positions, backgrounds, lighting, perspective and encoding),
//! not from the fixed-layout generator behind the page's SPECIMEN buttons, so the reader cannot
//! have been tuned to them. For each preset the card is the first *readable* front of a fixed
//! seed range (the renderer draws no defect on it), whatever its clutter, tilt or turn; the
//! blurred photo is the first front the renderer blurred on purpose (σ 9 px).
//!
//! The upload path is the page's: `POST /sim/api/send` with `kind: "image"` and the file's
//! base64, exactly what the page's file picker sends, to a demo started as a user starts it.

mod process;
use kyc_flow_core::catalog::{CONSENT_ACCEPT, retake_key};
use kyc_flow_core::evidence::Side;
use kyc_flow_core::{Catalog, Locale, RetakeReason};
use kyc_flow_vision_testkit::randomised::{self, RandomModel, RandomSample};
use process::{assets_or_skip, start_demo, wait_for};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// First seed of the range the photos are drawn from (any fixed value: the test takes the first
/// sample of the range that fits, not a sample picked for passing).
const FIRST_SEED: u64 = 10_000;

/// The first front of `model` from [`FIRST_SEED`] on that the renderer drew `readable` (no
/// defect) or with a blur defect.
fn first_front(model: RandomModel, want: Option<RetakeReason>) -> RandomSample {
    (FIRST_SEED..FIRST_SEED + 200)
        .map(|s| randomised::generate(model, Side::Front, s).unwrap())
        .find(|s| s.expected_retake == want)
        .unwrap_or_else(|| panic!("no {model:?} front with {want:?} in 200 seeds"))
}

/// One simulated user of one preset, talking to the demo over its page's API.
struct User {
    http: reqwest::Client,
    demo: String,
    country: &'static str,
    phone: &'static str,
}

impl User {
    async fn send(&self, body: Value) {
        let mut body = body;
        body["country"] = json!(self.country);
        body["user"] = json!(self.phone);
        let r = self
            .http
            .post(format!("{}/sim/api/send", self.demo))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status();
        let v: Value = r.json().await.unwrap_or_default();
        assert!(
            status.is_success(),
            "{}: send answered {status} {v}",
            self.country
        );
    }

    /// Every message the engine sent this user so far.
    async fn messages(&self) -> Vec<Value> {
        let v: Value = self
            .http
            .get(format!(
                "{}/sim/api/messages?user={}&since=0",
                self.demo, self.phone
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["messages"].as_array().cloned().unwrap_or_default()
    }

    /// The session's step once it is stored and its prompts have gone out.
    async fn state(&self) -> Option<String> {
        let v: Value = self
            .http
            .get(format!(
                "{}/sim/api/session?country={}&user={}",
                self.demo, self.country, self.phone
            ))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        (v["pending"].as_u64() == Some(0))
            .then(|| v["state"].as_str().map(str::to_owned))
            .flatten()
    }

    async fn reach(&self, step: &str, limit: Duration) {
        wait_for(&format!("{} {step}", self.country), limit, || async {
            self.state().await.filter(|s| s.starts_with(step))
        })
        .await;
    }

    /// "Hola", then the consent button, up to the card's front.
    async fn to_document_front(&self) {
        self.send(json!({ "kind": "text", "text": "Hola" })).await;
        let button = wait_for("the consent button", Duration::from_secs(60), || async {
            self.messages().await.iter().find_map(|m| {
                m["buttons"].as_array()?.iter().find_map(|b| {
                    let id = b["id"].as_str()?;
                    (id == CONSENT_ACCEPT)
                        .then(|| (id.to_owned(), b["title"].as_str().unwrap_or("").to_owned()))
                })
            })
        })
        .await;
        self.send(json!({ "kind": "reply", "reply_id": button.0, "text": button.1 }))
            .await;
        // Awaiting the photo, not still prompting (a photo sent earlier is kept for later).
        self.reach("document_front (awaiting", Duration::from_secs(60))
            .await;
    }

    /// Uploads `image` as the page's file picker does; returns the session's step and the
    /// messages the engine sent in answer, once the session has left `document_front` or a
    /// message other than the "processing" acknowledgement arrived (or, after `limit`,
    /// whatever arrived: the caller's assertion then shows it).
    async fn upload(&self, image: &[u8], processing: &[String]) -> (String, Vec<String>) {
        use base64::Engine as _;
        let before = self.messages().await.len();
        let b64 = base64::engine::general_purpose::STANDARD.encode(image);
        self.send(json!({ "kind": "image", "image_b64": b64 }))
            .await;
        let start = Instant::now();
        loop {
            let state = self.state().await.unwrap_or_default();
            let answers: Vec<String> = self.messages().await[before..]
                .iter()
                .filter_map(|m| m["text"].as_str().map(str::to_owned))
                .collect();
            let answered = answers.iter().any(|a| !processing.contains(a));
            if !state.is_empty() && (!state.starts_with("document_front") || answered)
                || start.elapsed() > Duration::from_secs(300)
            {
                return (state, answers);
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// What one upload should get: accepted at once, or the blur prompt.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Want {
    Accepted,
    Blur,
}

/// Starts the demo, uploads each case's photo as a new user of its preset and returns the
/// cases that did not get what they should, each with what it got.
async fn run_cases(cases: &[(&'static str, RandomModel, &'static str, Want)]) -> Vec<String> {
    let catalog = Catalog::builtin();
    let locales = [Locale::EsMx, Locale::EsCo, Locale::EsPe];
    let texts = |key: &str| -> Vec<String> {
        locales
            .iter()
            .filter_map(|l| catalog.text(key, *l).map(str::to_owned))
            .collect()
    };
    // Every retake prompt the catalog has, in the demo's locales, to recognise any of them.
    let retake_prompts: Vec<String> = RetakeReason::ALL
        .iter()
        .flat_map(|r| texts(retake_key(*r)))
        .collect();
    let blur_prompts = texts(retake_key(RetakeReason::Blur));
    let processing = texts("processing");
    assert!(!blur_prompts.is_empty() && !processing.is_empty());

    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let (_demo, demo) = start_demo(&http).await;

    let mut failures = Vec::new();
    for &(country, model, phone, want) in cases {
        let sample = match want {
            Want::Accepted => first_front(model, None),
            Want::Blur => first_front(model, Some(RetakeReason::Blur)),
        };
        let user = User {
            http: http.clone(),
            demo: demo.clone(),
            country,
            phone,
        };
        user.to_document_front().await;
        let (state, answers) = user.upload(&sample.image, &processing).await;
        let ok = match want {
            Want::Accepted => {
                state.starts_with("document_back")
                    && !answers.iter().any(|a| retake_prompts.contains(a))
            }
            Want::Blur => {
                state.starts_with("document_front")
                    && answers.iter().any(|a| blur_prompts.contains(a))
            }
        };
        if !ok {
            failures.push(format!(
                "{country} ({}, seed {}, {:?}) wanted {want:?}: state {state}, answers \
                 {answers:?}",
                model.as_str(),
                sample.seed,
                sample.variation
            ));
        }
    }
    failures
}

/// Readable INE, yellow-cédula and DNI fronts accepted at the first upload. The DNI front
/// (seed 10000: tilted 18°, moiré, `DNI N° 75679281 - 0`, two labels read as one line) was
/// sent back `unreadable` until 2026-12-05.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readable_randomised_fronts_are_accepted_on_the_first_upload() {
    if !assets_or_skip() {
        return;
    }
    let failures = run_cases(&[
        (
            "mx",
            RandomModel::MxIne2019,
            "5215512340101",
            Want::Accepted,
        ),
        ("co", RandomModel::CoCedula, "573001230101", Want::Accepted),
        ("pe", RandomModel::PeDni, "51987650101", Want::Accepted),
    ])
    .await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A genuinely blurred front gets the blur prompt, for each preset: the first front of the
/// range the renderer blurred on purpose (INE seed 10022, cédula 10007, DNI 10066). Before the
/// reader named blur first when it measured it, the INE was told it is too small and the
/// cédula and DNI fronts were taken for selfies ("I kept what you sent for its step").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blurred_randomised_fronts_are_told_they_are_blurred() {
    if !assets_or_skip() {
        return;
    }
    let failures = run_cases(&[
        ("mx", RandomModel::MxIne2019, "5215512340102", Want::Blur),
        ("co", RandomModel::CoCedula, "573001230102", Want::Blur),
        ("pe", RandomModel::PeDni, "51987650102", Want::Blur),
    ])
    .await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
