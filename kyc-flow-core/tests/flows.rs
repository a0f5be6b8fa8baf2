//! Flow loading, validation, capability checks and Mermaid rendering.

use kyc_flow_core::ports::VisionCapabilities;
use kyc_flow_core::{
    CapabilityProblem, Catalog, ConsentStep, Country, DocumentKind, DocumentStep, Flow,
    FlowProblem, FlowSet, Locale, RegistryCheck, RegistryId, RegistryStep, SelfieStep, Side, Step,
    check_capabilities,
};

#[test]
fn presets_are_valid() {
    let catalog = Catalog::builtin();
    for name in Flow::PRESETS {
        let flow = Flow::preset(name).unwrap();
        assert_eq!(flow.validate(&catalog), Ok(()), "{name}");
        for &side in flow.document.sides() {
            assert!(
                flow.requirements()
                    .documents
                    .contains(&(flow.document, side))
            );
        }
    }
    assert!(Flow::preset("xx-nope").is_none());
    let mx = Flow::preset("mx-ine").unwrap();
    assert_eq!(
        mx.registries(),
        vec![RegistryId("mx-renapo".into()), RegistryId("mx-ine".into())]
    );
}

#[test]
fn flows_round_trip_through_toml_and_json() {
    for name in Flow::PRESETS {
        let flow = Flow::preset(name).unwrap();
        let toml = flow.to_toml();
        assert_eq!(Flow::from_toml(&toml).unwrap(), flow, "{toml}");
        let json = serde_json::to_string(&flow).unwrap();
        assert_eq!(Flow::from_json(&json).unwrap(), flow);
    }
}

#[test]
fn a_hand_written_toml_flow_uses_defaults() {
    let flow = Flow::from_toml(
        r#"
id = "pe-dni-lite"
version = 3
country = "PE"
document = "pe-dni"
default_locale = "es-PE"

[reminders]
after_secs = [1800]
expire_after_secs = 86400

[[steps]]
type = "consent"

[[steps]]
type = "document"
side = "front"
max_attempts = 4

[[steps]]
type = "document"
side = "back"

[[steps]]
type = "selfie"
min_liveness_score = 0.7
uncertified_liveness = "approve_with_flag"

[[steps]]
type = "registry"
checks = [{ registry = "pe-reniec", fields = ["document_number"] }]

[[steps]]
type = "decision"
"#,
    )
    .unwrap();
    assert_eq!(flow.validate(&Catalog::builtin()), Ok(()));
    let Step::Document(front) = &flow.steps[1] else {
        panic!()
    };
    assert_eq!(front.max_attempts, 4);
    assert_eq!(
        front.min_field_confidence,
        DocumentStep::default().min_field_confidence
    );
    let Step::Registry(r) = &flow.steps[4] else {
        panic!()
    };
    assert_eq!(r.max_attempts, 3);
    assert!(Flow::from_toml("id = 3").is_err());
    assert!(Flow::from_json("{}").is_err());
}

#[test]
fn validation_reports_every_problem() {
    let bad_selfie = SelfieStep {
        min_liveness_score: 1.5,
        max_attempts: 0,
        ..SelfieStep::default()
    };
    let bad_front = DocumentStep {
        max_attempts: 40,
        ..DocumentStep::new(Side::Front)
    };
    let mut registry = RegistryStep::new(vec![RegistryCheck {
        registry: RegistryId("co-registraduria".into()),
        fields: vec![],
        phone: None,
    }]);
    registry.backoff_secs = 0;
    let flow = Flow {
        id: "broken".into(),
        version: 0,
        country: Country::new("mx"),
        document: DocumentKind::CoCedula,
        default_locale: Locale::EsCo,
        reminders: kyc_flow_core::ReminderPolicy {
            after_secs: vec![7200, 3600],
            expire_after_secs: 3000,
        },
        decision: Default::default(),
        steps: vec![
            Step::Selfie(bad_selfie),
            Step::Registry(registry),
            Step::Consent(ConsentStep::default()),
            Step::Document(bad_front),
            Step::Decision,
            Step::Document(DocumentStep::new(Side::Front)),
        ],
    };
    let mut catalog = Catalog::builtin();
    // A catalog with a hole: one message missing in pt-BR only.
    let mut holed = Catalog::empty();
    for key in catalog.keys().map(str::to_owned).collect::<Vec<_>>() {
        for l in Locale::ALL {
            if !(key == "retake.glare" && l == Locale::PtBr) {
                holed.set(&key, l, catalog.text(&key, l).unwrap());
            }
        }
    }
    for k in kyc_flow_core::catalog::OUT_OF_WINDOW_KEYS {
        if k != "expired" {
            holed.set_template(k, catalog.template_name(k).unwrap());
        }
    }
    catalog = holed;
    let problems = flow.validate(&catalog).unwrap_err();
    let names: Vec<String> = problems
        .iter()
        .map(|p| {
            serde_json::to_value(p).unwrap()["problem"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    for expected in [
        "zero_version",
        "country_mismatch",
        "consent_not_first",
        "unreachable",
        "duplicate_step",
        "missing_side",
        "selfie_before_portrait",
        "registry_before_document",
        "registry_without_fields",
        "insane_limit",
        "missing_message",
        "missing_template",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} not in {names:?}"
        );
    }
    let insane: Vec<&FlowProblem> = problems
        .iter()
        .filter(|p| matches!(p, FlowProblem::InsaneLimit { .. }))
        .collect();
    // reminders out of order, expiry before them, max_attempts 0 and 40, liveness 1.5, backoff 0
    assert!(insane.len() >= 5, "{insane:#?}");
    assert!(problems.contains(&FlowProblem::MissingMessage {
        key: "retake.glare".into(),
        locale: "pt-BR".into()
    }));
    // Every problem reads as a sentence.
    for p in &problems {
        assert!(!p.to_string().is_empty());
    }
    assert_eq!(
        Flow {
            steps: vec![],
            ..Flow::preset("mx-ine").unwrap()
        }
        .validate(&Catalog::builtin()),
        Err(vec![FlowProblem::NoSteps])
    );
}

#[test]
fn capability_check_names_every_gap() {
    let flow = Flow::preset("mx-ine").unwrap();
    let caps = VisionCapabilities {
        documents: vec![(DocumentKind::MxIne, Side::Front)],
        face_match: true,
        liveness: false,
        liveness_certified: false,
        video_liveness: false,
    };
    let problems = check_capabilities(&flow, &caps, &[RegistryId("mx-renapo".into())]).unwrap_err();
    assert_eq!(
        problems,
        vec![
            CapabilityProblem::Document {
                document: DocumentKind::MxIne,
                side: Side::Back
            },
            CapabilityProblem::Liveness,
            CapabilityProblem::Registry("mx-ine".into()),
        ]
    );
    let full = VisionCapabilities {
        documents: vec![
            (DocumentKind::MxIne, Side::Front),
            (DocumentKind::MxIne, Side::Back),
        ],
        face_match: true,
        liveness: true,
        liveness_certified: false,
        video_liveness: false,
    };
    let regs = [RegistryId("mx-renapo".into()), RegistryId("mx-ine".into())];
    assert_eq!(check_capabilities(&flow, &full, &regs), Ok(()));
    // A flow that rejects uncertified liveness needs a certified engine.
    let mut strict = flow.clone();
    if let Step::Selfie(s) = &mut strict.steps[3] {
        s.uncertified_liveness = kyc_flow_core::UncertifiedLiveness::Reject;
    }
    assert_eq!(
        check_capabilities(&strict, &full, &regs),
        Err(vec![CapabilityProblem::CertifiedLiveness])
    );
    // A video-liveness step needs a video liveness checker.
    let mut video = flow.clone();
    video
        .steps
        .insert(4, Step::VideoLiveness(kyc_flow_core::VideoStep::default()));
    assert_eq!(
        check_capabilities(&video, &full, &regs),
        Err(vec![CapabilityProblem::VideoLiveness])
    );
    let with_video = VisionCapabilities {
        video_liveness: true,
        ..full
    };
    assert_eq!(check_capabilities(&video, &with_video, &regs), Ok(()));
}

#[test]
fn the_video_step_follows_every_photo_step_and_has_its_messages() {
    let catalog = Catalog::builtin();
    let video = || Step::VideoLiveness(kyc_flow_core::VideoStep::default());
    let mut ok = Flow::preset("co-cedula").unwrap();
    ok.steps.insert(4, video());
    assert_eq!(ok.validate(&catalog), Ok(()));
    assert_eq!(ok.steps[4].name(), "video_liveness");
    assert!(ok.requirements().video_liveness);
    // Before the selfie: photos would be filed past it.
    let mut early = Flow::preset("co-cedula").unwrap();
    early.steps.insert(3, video());
    assert_eq!(
        early.validate(&catalog),
        Err(vec![FlowProblem::VideoBeforeCaptures { index: 3 }])
    );
    // No selfie at all.
    let mut no_selfie = Flow::preset("co-cedula").unwrap();
    no_selfie.steps.remove(3);
    no_selfie.steps.insert(3, video());
    assert_eq!(
        no_selfie.validate(&catalog),
        Err(vec![FlowProblem::VideoBeforeCaptures { index: 3 }])
    );
    // Its limits are checked like the other capture steps'.
    let mut zero = ok.clone();
    if let Step::VideoLiveness(v) = &mut zero.steps[4] {
        v.max_attempts = 0;
    }
    assert!(matches!(
        zero.validate(&catalog).unwrap_err()[..],
        [FlowProblem::InsaneLimit { .. }]
    ));
    // TOML round trip, with the challenge named.
    let toml = ok.to_toml();
    assert!(toml.contains("type = \"video_liveness\""), "{toml}");
    assert!(
        toml.contains("challenge = \"turn_left_and_right\""),
        "{toml}"
    );
    assert_eq!(Flow::from_toml(&toml).unwrap(), ok);
}

#[test]
fn flow_sets_keep_every_version() {
    let mut set = FlowSet::presets();
    let mut v2 = Flow::preset("mx-ine").unwrap();
    v2.version = 2;
    set.insert(v2);
    assert_eq!(set.len(), 4);
    assert_eq!(set.latest("mx-ine").unwrap().version, 2);
    assert_eq!(set.get("mx-ine", 1).unwrap().version, 1);
    assert!(set.latest("mx").is_none());
    assert!(set.get("co-cedula", 2).is_none());
    let json = serde_json::to_string(&set).unwrap();
    assert_eq!(serde_json::from_str::<FlowSet>(&json).unwrap(), set);
}

#[test]
fn mermaid_diagrams() {
    for name in Flow::PRESETS {
        let flow = Flow::preset(name).unwrap();
        insta::assert_snapshot!(format!("mermaid_{name}"), flow.to_mermaid());
    }
}

#[test]
fn flows_md_shows_the_current_diagrams() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/FLOWS.md");
    let doc = std::fs::read_to_string(path).expect("docs/FLOWS.md");
    for name in Flow::PRESETS {
        let mermaid = Flow::preset(name).unwrap().to_mermaid();
        assert!(
            doc.contains(&format!("```mermaid\n{mermaid}```")),
            "docs/FLOWS.md is missing the current {name} diagram"
        );
    }
}

/// The selfie prompt says "Por último" / "Last step" on flows where it is the last thing asked;
/// with a video-note step after it the flow words it otherwise, in every locale.
#[test]
fn the_selfie_prompt_says_last_only_when_no_video_note_follows() {
    let catalog = Catalog::builtin();
    for preset in ["mx-ine", "co-cedula", "pe-dni"] {
        let plain = Flow::preset(preset).unwrap();
        let selfie = plain
            .steps
            .iter()
            .position(|s| matches!(s, Step::Selfie(_)))
            .unwrap();
        assert_eq!(plain.prompt_key(selfie), Some("capture.selfie"));
        let mut video = plain.clone();
        video.steps.insert(
            selfie + 1,
            Step::VideoLiveness(kyc_flow_core::VideoStep::default()),
        );
        assert_eq!(
            video.prompt_key(selfie),
            Some("capture.selfie_before_video")
        );
        assert_eq!(video.validate(&catalog), Ok(()));
        let keys = video.message_keys();
        assert!(keys.contains_key("capture.selfie_before_video"));
        assert!(!keys.contains_key("capture.selfie"), "{preset}");
        // Other steps keep their own prompt.
        assert_eq!(video.prompt_key(0), plain.prompt_key(0));
        assert_eq!(video.prompt_key(video.steps.len()), None);
        let locale = video.default_locale;
        let before = catalog.text("capture.selfie_before_video", locale).unwrap();
        let last = catalog.text("capture.selfie", locale).unwrap();
        assert!(
            last.starts_with("Por último") || last.starts_with("Last step"),
            "{preset}: {last}"
        );
        assert!(
            !before.contains("último") && !before.contains("Last"),
            "{preset}: {before}"
        );
    }
    for locale in Locale::ALL {
        let before = catalog.text("capture.selfie_before_video", locale).unwrap();
        for word in ["último", "Last step"] {
            assert!(!before.contains(word), "{locale:?}: {before}");
        }
    }
}
