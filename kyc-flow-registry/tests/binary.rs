//! The `kyc-flow-registry-local` binary: lists its fixtures, serves the signed protocol.

mod common;

use common::*;
use kyc_flow_core::RegistryStatus;
use kyc_flow_core::ports::{RegistryClient, RegistryReply};
use kyc_flow_registry::{RegistryEndpoint, Secret};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_kyc-flow-registry-local");

#[test]
fn lists_the_shipped_fixtures() {
    let out = Command::new(BIN).arg("--list").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let n = kyc_flow_registry::local::Fixtures::default()
        .identities
        .len();
    assert_eq!(text.lines().count(), n);
    assert!(text.contains("co-registraduria: deceased"));
}

#[test]
fn refuses_unknown_arguments() {
    let out = Command::new(BIN).arg("--frobnicate").output().unwrap();
    assert!(!out.status.success());
}

#[tokio::test]
async fn serves_signed_checks_with_the_secret_from_the_environment() {
    let mut child = Command::new(BIN)
        .args(["--bind", "127.0.0.1:0", "--key-id", "bin-test"])
        .env("KYC_REGISTRY_SECRET", "bin-secret")
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.trim().strip_prefix("listening ").unwrap().to_string();
    let ok = client(vec![RegistryEndpoint::new(
        "pe-reniec",
        url.clone(),
        "bin-test",
        Secret::new("bin-secret"),
    )]);
    let q = query(
        "pe-reniec",
        "PE",
        &[("document_number", "40112233")],
        "bin-1",
    );
    let reply = ok.query(&q).await;
    let mut wrong = RegistryEndpoint::new("pe-reniec", url, "bin-test", Secret::new("other"));
    wrong.retries = 0;
    let refused = client(vec![wrong]).query(&q).await;
    let _ = child.kill();
    let _ = child.wait();
    match reply.unwrap() {
        RegistryReply::Answered(r) => assert_eq!(r.status, RegistryStatus::Expired),
        other => panic!("{other:?}"),
    }
    assert!(refused.is_err());
}
