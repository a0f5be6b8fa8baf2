//! What a happy-path onboarding costs the bank in WhatsApp messages (issue 11, "prices and
//! pacing"): every message a business sends is priced since October 2026, so the default flows
//! say as little as a clear conversation allows. The snapshot is the count per preset and its
//! estimated cost at the built-in rates (`PriceTable::meta_2026_10`); `docs/FLOWS.md` keeps the
//! figures from before prompts were merged.

use kyc_flow_core::funnel::PriceTable;
use kyc_flow_tests::Harness;

#[tokio::test]
async fn each_presets_happy_path_sends_few_paid_messages() {
    let prices = PriceTable::meta_2026_10();
    let mut lines = Vec::new();
    for preset in ["mx-ine", "co-cedula", "pe-dni"] {
        let mut h = Harness::new(preset);
        h.onboard(&[], &[], true).await;
        assert!(
            matches!(
                h.decisions().as_slice(),
                [kyc_flow_core::session::Decision::Approved { .. }]
            ),
            "{preset}: {:?}",
            h.decisions()
        );
        let session = h.engine.session(&h.key).await.unwrap().unwrap();
        let sent = session.sent;
        let total = u32::from(sent.service) + u32::from(sent.utility) + u32::from(sent.marketing);
        // The session's tally is what actually left, message for message.
        assert_eq!(total as usize, h.sim.transport.sent().len(), "{preset}");
        let cost = prices
            .cost(&h.flow.country.0, &sent)
            .expect("the built-in table prices every preset's country");
        lines.push(format!(
            "{preset}: {total} messages ({} service, {} utility, {} marketing), estimated USD {cost:.4}",
            sent.service, sent.utility, sent.marketing
        ));
        lines.extend(
            h.sent_texts()
                .iter()
                .map(|t| format!("  - {}", t.chars().take(60).collect::<String>())),
        );
    }
    insta::assert_snapshot!(lines.join("\n"));
}

/// Re-engagement that converts: a user who stopped after consent gets a reminder, comes back,
/// finishes, and the funnel counts the session as reminded and recovered.
#[tokio::test]
async fn a_reminded_user_who_finishes_counts_as_recovered() {
    let mut h = Harness::new("mx-ine");
    let hello = h.text("hola");
    h.send(hello).await;
    let consent = h.reply("consent.accept");
    h.send(consent).await;
    let before = h.sim.transport.sent().len();
    // Silence until the first reminder (the flow's schedule), well inside the 24-hour window.
    let first = h.flow.reminders_at(1).after_secs[0];
    h.advance(std::time::Duration::from_secs(first + 60)).await;
    let session = h.engine.session(&h.key).await.unwrap().unwrap();
    assert_eq!(session.nudged, 1, "one reminder sent");
    assert_eq!(h.sim.transport.sent().len(), before + 1);
    let front = h.document_photo(kyc_flow_core::Side::Front);
    h.send(front).await;
    let back = h.document_photo(kyc_flow_core::Side::Back);
    h.send(back).await;
    let selfie = h.selfie(true);
    h.send(selfie).await;
    let session = h.engine.session(&h.key).await.unwrap().unwrap();
    let mut flows = kyc_flow_core::flow::FlowSet::new();
    flows.insert(h.flow.clone());
    let report = kyc_flow_core::funnel::report(
        [&session],
        &flows,
        &PriceTable::meta_2026_10(),
        None,
        session.updated_at,
    );
    let f = &report.flows[0];
    assert_eq!((f.completed, f.reminded, f.recovered), (1, 1, 1));
}
