//! The bank receiver example verifies what kyc-flow's decision sink signs and refuses a forgery.

#[test]
fn the_bank_receiver_accepts_a_signed_decision_and_refuses_a_forged_one() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_bank_receiver"))
        .arg("--self-test")
        .output()
        .expect("example runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("bank: verified decision"), "{stdout}");
    assert!(stdout.contains("forged decision was refused"), "{stdout}");
}
