//! `Ports::builder()`: storage in memory in one call, optional engines left out, and the engine
//! refusing at build time a flow that needs what was left out.

use kyc_flow::{BuildError, EngineBuilder, Ports, PortsError, Routing};
use kyc_flow_core::CapabilityProblem;
use kyc_flow_core::flow::{Flow, FlowSet, Step};
use kyc_flow_testkit::sim::{
    MemoryMedia, RecordingDecisionSink, RecordingTransport, ScriptedDocumentReader,
    ScriptedFaceMatcher, ScriptedLiveness,
};
use std::sync::Arc;

fn base() -> kyc_flow::PortsBuilder {
    Ports::builder()
        .in_memory()
        .transport(Arc::new(RecordingTransport::default()))
        .media(Arc::new(MemoryMedia::default()))
        .decisions(Arc::new(RecordingDecisionSink::default()))
}

fn with_vision(b: kyc_flow::PortsBuilder) -> kyc_flow::PortsBuilder {
    b.documents(Arc::new(ScriptedDocumentReader::default()))
        .faces(Arc::new(ScriptedFaceMatcher::default()))
        .liveness(Arc::new(ScriptedLiveness::default()))
}

/// mx-ine without its registry step, as a bank without a registry gateway would run it.
fn without_registry() -> Flow {
    let mut flow = Flow::preset("mx-ine").unwrap();
    flow.id = "mx-ine-no-registry".into();
    flow.steps.retain(|s| !matches!(s, Step::Registry(_)));
    flow
}

#[test]
fn a_flow_without_a_registry_step_needs_no_registry_client() {
    let ports = with_vision(base()).build().expect("registry is optional");
    let mut flows = FlowSet::new();
    flows.insert(without_registry());
    EngineBuilder::new(ports, flows, Routing::single("mx-ine-no-registry"))
        .build()
        .expect("builds without a registry client");
}

#[test]
fn a_flow_that_needs_what_was_left_out_is_refused_at_build_time_with_each_gap_named() {
    // No vision engines and no registry client, for the full mx-ine preset.
    let ports = base().build().unwrap();
    let err = EngineBuilder::new(ports, FlowSet::presets(), Routing::single("mx-ine"))
        .build()
        .expect_err("mx-ine needs documents, faces, liveness and registries");
    let BuildError::Capability { flow, missing } = err else {
        panic!("expected a capability error, got {err}");
    };
    assert_eq!(flow, "mx-ine");
    assert!(
        missing
            .iter()
            .any(|m| matches!(m, CapabilityProblem::Document { .. }))
    );
    assert!(missing.contains(&CapabilityProblem::FaceMatch));
    assert!(missing.contains(&CapabilityProblem::Liveness));
    assert!(
        missing
            .iter()
            .any(|m| matches!(m, CapabilityProblem::Registry(_)))
    );
}

#[test]
fn required_ports_are_named_when_missing() {
    let err = Ports::builder().in_memory().build().unwrap_err();
    assert_eq!(err, PortsError::Missing("message transport"));
    let err = Ports::builder()
        .transport(Arc::new(RecordingTransport::default()))
        .build()
        .unwrap_err();
    assert_eq!(err, PortsError::Missing("session store"));
}

#[test]
fn an_invalid_flow_lists_every_problem_as_data() {
    let ports = with_vision(base()).build().unwrap();
    let mut flow = without_registry();
    flow.id = "broken".into();
    flow.steps.clear();
    let mut flows = FlowSet::new();
    flows.insert(flow);
    let err = EngineBuilder::new(ports, flows, Routing::single("broken"))
        .build()
        .expect_err("an empty flow is invalid");
    match err {
        BuildError::Flow { flow, problems } => {
            assert_eq!(flow, "broken");
            assert!(!problems.is_empty());
        }
        other => panic!("expected a flow error, got {other}"),
    }
}

#[test]
fn to_builder_keeps_every_port_and_replaces_only_what_is_set() {
    let ports = with_vision(base()).build().unwrap();
    let transport = Arc::new(RecordingTransport::default());
    let swapped = ports
        .to_builder()
        .transport(transport.clone())
        .build()
        .unwrap();
    assert!(Arc::ptr_eq(&ports.sessions, &swapped.sessions));
    assert!(Arc::ptr_eq(&ports.queue, &swapped.queue));
    assert!(Arc::ptr_eq(&ports.documents, &swapped.documents));
    assert!(Arc::ptr_eq(&ports.decisions, &swapped.decisions));
    assert!(!Arc::ptr_eq(&ports.transport, &swapped.transport));
    let expected: Arc<dyn kyc_flow_core::ports::MessageTransport> = transport;
    assert!(Arc::ptr_eq(&expected, &swapped.transport));
}
