//! `kyc-flow session show` and `kyc-flow erase`: one person's stored data, read (masked unless
//! revealed with the session id secret) or erased, in the `serve` config's Redis.

use crate::cli::{Verdict, print_json};
use anyhow::{Context, anyhow};
use kyc_flow::engine::{Engine, EngineBuilder, Ports};
use kyc_flow::review::SessionView;
use kyc_flow_core::flow::FlowSet;
use kyc_flow_core::session::Session;
use kyc_flow_core::{PhoneNumberId, SessionIdSecret, SessionKey, UserRef};
use kyc_flow_redis::RedisStorage;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// `kyc-flow session …`
#[derive(clap::Subcommand, Debug)]
pub enum SessionCommand {
    /// Print one session: state, step, captures, checks, decision and its log.
    Show {
        /// The session's keyed id (as logs, review cases and decision notices name it).
        id: String,
        #[arg(long)]
        config: PathBuf,
        /// One JSON document instead of text.
        #[arg(long)]
        json: bool,
        /// Show personal data in clear: a file holding the session id secret (hex), which must
        /// be the one that derived `ID`.
        #[arg(long, value_name = "SECRET_FILE")]
        reveal: Option<PathBuf>,
    },
}

pub fn run_session(command: SessionCommand) -> anyhow::Result<Verdict> {
    match command {
        SessionCommand::Show {
            id,
            config,
            json,
            reveal,
        } => show(&id, &config, json, reveal.as_deref()),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// `kyc-flow session show ID --config FILE [--json] [--reveal SECRET_FILE]`. Reads only the
/// config's `[redis]` table (like `dlq`): the session is found through the index entry the
/// engine keeps under its keyed id.
fn show(id: &str, config: &Path, json: bool, reveal: Option<&Path>) -> anyhow::Result<Verdict> {
    let text = std::fs::read_to_string(config)
        .with_context(|| format!("cannot read {}", config.display()))?;
    let redis = crate::dlq::redis_config(&text)?;
    let secret = match reveal {
        Some(file) => {
            let hex = std::fs::read_to_string(file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            Some(
                SessionIdSecret::from_hex(hex.trim())
                    .context("--reveal: not a session id secret")?,
            )
        }
        None => None,
    };
    runtime()?.block_on(async {
        let storage = RedisStorage::connect(redis).await.context("Redis")?;
        let found = lookup(&storage, id).await?;
        let Some((key, session)) = found else {
            return Err(anyhow!(
                "no session is stored under {id} (unknown, expired, or erased)"
            ));
        };
        if let Some(secret) = &secret
            && secret.session_id(&key) != id
        {
            return Err(anyhow!(
                "--reveal: that secret did not derive {id}; nothing is shown in clear"
            ));
        }
        let doc = describe(id, &key, &session, secret.is_some());
        if json {
            print_json(&doc)?;
        } else {
            print!("{}", render_text(&doc));
        }
        Ok(Verdict::Ok)
    })
}

async fn lookup(storage: &RedisStorage, id: &str) -> anyhow::Result<Option<(SessionKey, Session)>> {
    use kyc_flow_core::ports::{EvidenceStore as _, SessionStore as _};
    let index = storage
        .evidence()
        .get(&kyc_flow_core::EvidenceKey(format!("session-key/{id}")))
        .await?;
    let Some(bytes) = index else {
        return Ok(None);
    };
    let key: SessionKey = serde_json::from_slice(&bytes).context("session index entry")?;
    Ok(storage.sessions().load(&key).await?.map(|v| (key, v.value)))
}

/// The session as `session show` prints it; personal data masked unless `reveal`.
pub fn describe(id: &str, key: &SessionKey, s: &Session, reveal: bool) -> Value {
    let flows = FlowSet::presets();
    let step = flows
        .for_session(s)
        .map_or_else(|| format!("{:?}", s.state), |f| s.step_name(f).to_owned());
    let mut evidence = serde_json::to_value(SessionView::of(s).evidence).unwrap_or(Value::Null);
    if reveal && let Some(docs) = evidence["documents"].as_array_mut() {
        for (view, side) in docs.iter_mut().zip(&s.evidence.documents) {
            for (name, f) in &side.fields {
                view["fields"][name]["value"] = json!(f.value);
            }
        }
    }
    json!({
        "id": id,
        "revealed": reveal,
        "user": if reveal { key.user.raw().to_owned() } else { key.user.redacted() },
        // Kept only for a registry keyed by phone (docs/FLOWS.md); masked like the fields.
        "phone": s.phone.as_ref().map(|p| {
            if reveal { p.raw().to_owned() } else { kyc_flow::review::mask(p.raw()) }
        }),
        "opted_out_at": s.opted_out_at,
        "tenant": key.tenant.0,
        "phone_number_id": key.phone_number_id.0,
        "flow_id": s.flow_id,
        "flow_version": s.flow_version,
        "seq": s.seq,
        "state": s.state,
        "step": step,
        "locale": s.locale,
        "started_at": s.started_at,
        "updated_at": s.updated_at,
        "captures": s.captures,
        "attempts": s.attempts,
        "held_photos": s.pending.len(),
        "failures": s.failures,
        "evidence": evidence,
        "decision": s.decision,
        "decided_at": s.decided_at,
        "restarts": s.restarts,
        "outbox": s.outbox.pending.iter().map(|e| e.command.kind()).collect::<Vec<_>>(),
        "log": s.log,
    })
}

fn render_text(doc: &Value) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let s = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    };
    let _ = writeln!(out, "session   {}", s(&doc["id"]));
    let _ = writeln!(
        out,
        "user      {} ({} / {})",
        s(&doc["user"]),
        s(&doc["tenant"]),
        s(&doc["phone_number_id"])
    );
    let _ = writeln!(
        out,
        "flow      {} v{}",
        s(&doc["flow_id"]),
        s(&doc["flow_version"])
    );
    let _ = writeln!(
        out,
        "step      {} (seq {})",
        s(&doc["step"]),
        s(&doc["seq"])
    );
    let _ = writeln!(
        out,
        "captures  {} (attempts {})",
        s(&doc["captures"]),
        s(&doc["attempts"])
    );
    let _ = writeln!(
        out,
        "decision  {} at {}",
        s(&doc["decision"]),
        s(&doc["decided_at"])
    );
    for d in doc["evidence"]["documents"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let _ = writeln!(out, "document  {}", s(&d["side"]));
        for (name, f) in d["fields"].as_object().into_iter().flatten() {
            let value = if f["value"].is_string() {
                &f["value"]
            } else {
                &f["masked"]
            };
            let _ = writeln!(out, "  {name:<18} {}  ({})", s(value), s(&f["confidence"]));
        }
        for c in d["checks"].as_array().into_iter().flatten() {
            let ok = if c["passed"] == json!(true) {
                "passed"
            } else {
                "FAILED"
            };
            let _ = writeln!(out, "  check {} {ok}", s(&c["name"]));
        }
    }
    if !doc["evidence"]["selfie"].is_null() {
        let sf = &doc["evidence"]["selfie"];
        let _ = writeln!(
            out,
            "selfie    face {} (threshold {}), liveness {} (certified {})",
            s(&sf["face_score"]),
            s(&sf["face_threshold"]),
            s(&sf["liveness_score"]),
            s(&sf["liveness_certified"])
        );
    }
    for r in doc["evidence"]["risk"].as_array().into_iter().flatten() {
        let _ = writeln!(out, "risk      {} ({})", s(&r["code"]), s(&r["severity"]));
    }
    let _ = writeln!(out, "log (newest last):");
    for e in doc["log"].as_array().into_iter().flatten() {
        let _ = writeln!(
            out,
            "  #{:<4} {} {} {}",
            s(&e["seq"]),
            s(&e["at"]),
            s(&e["kind"]),
            e["detail"].as_str().unwrap_or("")
        );
    }
    out
}

/// `kyc-flow erase --config FILE --user ID [--bsuid] [--number PNID]…`: every conversation of
/// that user with the routing's business numbers (and `--number`s) under the config's tenant.
pub fn erase(
    config: &Path,
    user: &str,
    bsuid: bool,
    numbers: &[String],
) -> anyhow::Result<Verdict> {
    let text = std::fs::read_to_string(config)
        .with_context(|| format!("cannot read {}", config.display()))?;
    let base = config.parent().unwrap_or(Path::new(".")).to_owned();
    let config = crate::serve::parse_config(&text)?;
    let user = if bsuid {
        UserRef::Bsuid(user.to_owned())
    } else {
        UserRef::Phone(user.trim_start_matches('+').to_owned())
    };
    runtime()?.block_on(async {
        let engine = operator_engine(&config, &base).await?;
        let numbers: Vec<PhoneNumberId> = numbers.iter().cloned().map(PhoneNumberId).collect();
        let erased = engine
            .erase_user(&user, &numbers, "request (kyc-flow erase)")
            .await?;
        print_json(&json!({
            "user": user.redacted(),
            "found": erased.iter().any(|e| e.found()),
            "erased": erased,
        }))?;
        Ok(Verdict::Ok)
    })
}

/// An engine over the config's storage for operator tools: no worker runs, no photo is
/// analysed, so no vision engine or registry client is loaded.
async fn operator_engine(
    config: &crate::serve::ServeConfig,
    base: &Path,
) -> anyhow::Result<Engine> {
    if config.engine.session_id_secret.is_none() {
        return Err(anyhow!(
            "engine.session_id_secret is not set (nor {}): erasure must find sessions by the ids \
             the service derives",
            crate::serve::SESSION_ID_SECRET_ENV
        ));
    }
    let storage = RedisStorage::connect(config.redis.clone())
        .await
        .context("Redis")?;
    let graph = Arc::new(kyc_flow_whatsapp::GraphClient::new(config.graph.clone())?);
    let ports = Ports::builder()
        .sessions(Arc::new(storage.sessions()))
        .evidence(Arc::new(storage.evidence()))
        .queue(Arc::new(storage.queue()))
        .timers(Arc::new(storage.timers()))
        .leases(Arc::new(storage.leases()))
        .reviews(Arc::new(storage.reviews()))
        .transport(graph.clone())
        .media(graph)
        .decisions(Arc::new(kyc_flow::decisions::WebhookDecisionSink::new(
            config.decisions.clone(),
        )?))
        .build()?;
    let mut flows = FlowSet::presets();
    for file in &config.flow_files {
        let flow =
            kyc_flow::flows::load_flow(&file.to_string_lossy(), base).map_err(|e| anyhow!(e))?;
        flows.insert(flow);
    }
    Ok(EngineBuilder::new(ports, flows, config.routing.clone())
        .config(config.engine.clone())
        .skip_capability_check()
        .build()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kyc_flow_core::evidence::{ExtractedField, FieldSource, Side};
    use kyc_flow_core::session::SideEvidence;
    use kyc_flow_core::{Timestamp, machine};

    fn session() -> (SessionKey, Session) {
        let flows = FlowSet::presets();
        let flow = flows.latest("mx-ine").unwrap();
        let key = SessionKey::new("acme", "100200300", UserRef::Phone("5215512345678".into()));
        let now = Timestamp(1_772_463_600_000);
        let mut s = machine::start(flow, key.clone(), "sess-1".into(), None, now);
        s.evidence.documents.push(SideEvidence {
            side: Some(Side::Front),
            fields: [(
                "curp".to_owned(),
                ExtractedField {
                    value: "GALA900514MDFRPN07".into(),
                    confidence: 0.9,
                    source: FieldSource::Barcode,
                },
            )]
            .into_iter()
            .collect(),
            checks: vec![],
            portrait: true,
        });
        s.note(now, "event.inbound.text", "");
        s.note(now, "consent.given", "");
        (key, s)
    }

    #[test]
    fn session_show_masks_personal_data_unless_revealed() {
        let (key, s) = session();
        let masked = describe("abc123", &key, &s, false);
        let text = masked.to_string();
        for clear in ["GALA900514MDFRPN07", "5215512345678"] {
            assert!(!text.contains(clear), "{clear} in {text}");
        }
        assert_eq!(masked["user"], "phone:…78");
        assert_eq!(
            masked["evidence"]["documents"][0]["fields"]["curp"]["masked"],
            "G•••••••••••••••07"
        );
        insta::assert_json_snapshot!("session_show_masked", masked);
        let shown = describe("abc123", &key, &s, true);
        assert_eq!(shown["user"], "5215512345678");
        assert_eq!(
            shown["evidence"]["documents"][0]["fields"]["curp"]["value"],
            "GALA900514MDFRPN07"
        );
        let text = render_text(&shown);
        assert!(text.contains("GALA900514MDFRPN07"), "{text}");
        assert!(render_text(&masked).contains("consent.given"));
    }

    #[test]
    fn a_shared_phone_number_is_masked_unless_revealed() {
        let (key, mut s) = session();
        s.phone = kyc_flow_core::PhoneNumber::parse("+16505551234");
        let masked = describe("abc123", &key, &s, false);
        assert!(!masked.to_string().contains("5551234"), "{masked}");
        assert_eq!(masked["phone"], "+1••••••••34");
        assert_eq!(describe("abc123", &key, &s, true)["phone"], "+16505551234");
    }
}
