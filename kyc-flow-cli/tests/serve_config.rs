//! `kyc-flow serve` / `worker` refuse a configuration they cannot run safely, before connecting
//! to anything, with an error that names the key to fix (exit 2, one line on stderr).

use std::process::{Command, Output};

/// `docs/serve.example.toml` with its environment references filled in, edited by `edit`.
fn example_config(edit: impl FnOnce(String) -> String) -> String {
    let text = include_str!("../../docs/serve.example.toml")
        .replace("${WHATSAPP_APP_SECRET}", "s1")
        .replace("${WHATSAPP_VERIFY_TOKEN}", "s2")
        .replace("${WHATSAPP_ACCESS_TOKEN}", "s3")
        .replace("${KYC_ENCRYPTION_KEY_HEX}", &"ab".repeat(32))
        .replace("${KYC_FACE_INDEX_KEY_HEX}", &"fa".repeat(32))
        .replace("${KYC_KEY_HASH_SECRET_HEX}", &"cd".repeat(32))
        .replace("${KYC_SESSION_ID_SECRET_HEX}", &"ef".repeat(32))
        .replace("${RENAPO_GATEWAY_SECRET}", "s4")
        .replace("${DECISIONS_SECRET}", "s5")
        .replace("${LIVENESS_VENDOR_KEY}", "s6")
        .replace("${DASHBOARD_TOKEN}", "s7")
        .replace("${REVIEW_TOKEN_ANA}", &"r7".repeat(20))
        // Nothing listens there: a configuration that passes validation fails fast on Redis
        // instead of serving.
        .replace("redis://127.0.0.1:6379", "redis://127.0.0.1:1");
    edit(text)
}

/// Runs `kyc-flow SUBCOMMAND --config FILE` on `config`, with `env` set and the session id
/// variable removed unless given.
fn run(subcommand: &str, config: &str, env: &[(&str, &str)]) -> Output {
    let dir = std::env::temp_dir().join(format!("kyc-flow-serve-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let path = dir.join(format!(
        "serve-{}.toml",
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    std::fs::write(&path, config).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kyc-flow"));
    cmd.args([subcommand, "--config", path.to_str().unwrap()])
        .env_remove("KYC_FLOW_SESSION_ID_SECRET");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("binary runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn serve_without_a_session_id_secret_refuses_to_start_and_names_the_key() {
    let config = example_config(|t| {
        t.lines()
            .filter(|l| !l.starts_with("session_id_secret"))
            .collect::<Vec<_>>()
            .join("\n")
    });
    for subcommand in ["serve", "worker"] {
        let out = run(subcommand, &config, &[]);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains("engine.session_id_secret"), "{err}");
        assert!(err.contains("KYC_FLOW_SESSION_ID_SECRET"), "{err}");
    }
    // The environment variable alone is enough: the run gets past the check (and fails on the
    // unreachable Redis instead).
    let out = run(
        "worker",
        &config,
        &[("KYC_FLOW_SESSION_ID_SECRET", &"12".repeat(32))],
    );
    let err = stderr(&out);
    assert!(!err.contains("session_id_secret"), "{err}");
    // A secret that is too short is refused, naming where it came from.
    let out = run("worker", &config, &[("KYC_FLOW_SESSION_ID_SECRET", "abcd")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("KYC_FLOW_SESSION_ID_SECRET"),
        "{}",
        stderr(&out)
    );
}

/// Each bad configuration and the key its error must name.
#[test]
fn config_errors_name_the_key_at_fault() {
    let cases: [(&str, &str, &str, &str); 9] = [
        (
            "wrong type",
            "header_timeout_secs = 10",
            "header_timeout_secs = \"ten-please\"",
            "`http.header_timeout_secs`",
        ),
        (
            "zero timeout",
            "header_timeout_secs = 10",
            "header_timeout_secs = 0",
            "`http.header_timeout_secs`: must be greater than 0",
        ),
        (
            "unknown key in a strict section",
            "header_timeout_secs = 10",
            "header_timeout = 10",
            "`http.header_timeout`",
        ),
        (
            "unknown key in a lenient section",
            "max_job_attempts = 8",
            "max_job_attempts = 8\nreclaim_afer = 5",
            "`engine.reclaim_afer`",
        ),
        (
            "unknown top-level key",
            "listen = \"0.0.0.0:8080\"",
            "listen = \"0.0.0.0:8080\"\nworkerz = 2",
            "`workerz`",
        ),
        (
            "wrong type in an array of tables",
            "key_id = \"acme-2026-11\"",
            "key_id = 7",
            "`registries[0].key_id`",
        ),
        (
            "zero workers",
            "events = 4",
            "events = 0",
            "`worker.events`: must be greater than 0",
        ),
        (
            "a cluster node that is not a URL",
            "# cluster = [\"redis://10.0.0.11:6379\", \"redis://10.0.0.12:6379\"",
            "cluster = [\"redis://10.0.0.11:6379\", \"10.0.0.12 6379\"",
            "`redis.cluster[1]`: not a redis:// URL",
        ),
        (
            "a cluster list of the wrong type",
            "# cluster = [",
            "cluster = 7 # [",
            "`redis.cluster`",
        ),
    ];
    for (what, from, to, named) in cases {
        let config = example_config(|t| {
            assert!(t.contains(from), "{what}: the example has no `{from}`");
            t.replacen(from, to, 1)
        });
        let out = run("serve", &config, &[]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{what}: {err}");
        assert!(err.contains(named), "{what}: expected {named} in: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{what}: one line: {err}");
    }
}

/// A value in the wrong place is named by its key, never repeated: it may be a secret.
#[test]
fn config_errors_do_not_repeat_the_value() {
    let config = example_config(|t| {
        t.replacen(
            "max_connections = 4096",
            "max_connections = \"s3cr3t-token-value\"",
            1,
        )
    });
    let out = run("serve", &config, &[]);
    let err = stderr(&out);
    assert!(err.contains("`http.max_connections`"), "{err}");
    assert!(!err.contains("s3cr3t"), "{err}");
}
