//! The core's registry conformance suite, run against the HTTP client over the local registry
//! service with its shipped fixtures.

mod common;

use common::*;
use kyc_flow_core::RegistryStatus::*;
use kyc_flow_core::conformance::registry::{Expected, RegistryCase, run_all};
use std::sync::Arc;

fn cases() -> Vec<RegistryCase> {
    let a = |name: &str, reg: &str, c: &str, f: &[(&str, &str)], s| {
        RegistryCase::new(name, reg, c, f, Expected::Answered(s))
    };
    vec![
        a(
            "renapo valid",
            "mx-renapo",
            "MX",
            &[("curp", "GOMA850101HDFRRL06"), ("birth_date", "1985-01-01")],
            Valid,
        ),
        a(
            "renapo deceased",
            "mx-renapo",
            "MX",
            &[("curp", "PEHL720315MJCRRS05")],
            Deceased,
        ),
        a(
            "renapo baja",
            "mx-renapo",
            "MX",
            &[("curp", "ramc900612hnlmrr05")],
            Cancelled,
        ),
        a(
            "renapo not found",
            "mx-renapo",
            "MX",
            &[("curp", "LOSJ010101HDFPNN07")],
            NotFound,
        ),
        RegistryCase::new(
            "renapo by callback",
            "mx-renapo",
            "MX",
            &[("curp", "TOVE950820MMCRLS01")],
            Expected::Pending,
        ),
        RegistryCase::new(
            "renapo down",
            "mx-renapo",
            "MX",
            &[("curp", "SAGA880229HOCNRL00")],
            Expected::RetryableError,
        ),
        a(
            "ine match",
            "mx-ine",
            "MX",
            &[("cic", "123456789"), ("citizen_id", "987654321")],
            Valid,
        ),
        a(
            "ine citizen id differs",
            "mx-ine",
            "MX",
            &[("cic", "123456789"), ("citizen_id", "000000000")],
            DataMismatch,
        ),
        a(
            "ine stolen",
            "mx-ine",
            "MX",
            &[("cic", "323456789")],
            LostOrStolen,
        ),
        a(
            "registraduria vigente",
            "co-registraduria",
            "CO",
            &[("nuip", "1.020.304.050"), ("issue_date", "2010-03-15")],
            Valid,
        ),
        a(
            "registraduria muerte",
            "co-registraduria",
            "CO",
            &[("nuip", "79111222")],
            Deceased,
        ),
        a(
            "registraduria suplantacion",
            "co-registraduria",
            "CO",
            &[("nuip", "52333444")],
            Cancelled,
        ),
        a(
            "registraduria unknown label",
            "co-registraduria",
            "CO",
            &[("nuip", "1000000002")],
            Unavailable,
        ),
        a(
            "registraduria not found",
            "co-registraduria",
            "CO",
            &[("nuip", "1000000001")],
            NotFound,
        ),
        a(
            "reniec caduco",
            "pe-reniec",
            "PE",
            &[("document_number", "40112233")],
            Expired,
        ),
        a(
            "renaper deceased flag",
            "ar-renaper",
            "AR",
            &[("document_number", "20.987.654")],
            Deceased,
        ),
        a(
            "renaper copy superseded",
            "ar-renaper",
            "AR",
            &[("document_number", "33444555")],
            Cancelled,
        ),
        a(
            "chile bloqueado",
            "cl-registro-civil",
            "CL",
            &[("run", "9.876.543-3")],
            LostOrStolen,
        ),
        a(
            "cpf regular",
            "br-receita-cpf",
            "BR",
            &[("cpf", "529.982.247-25"), ("birth_date", "1990-05-20")],
            Valid,
        ),
        a(
            "cpf falecido",
            "br-receita-cpf",
            "BR",
            &[("cpf", "390.533.447-05")],
            Deceased,
        ),
        a(
            "cpf unknown to the registry",
            "br-receita-cpf",
            "BR",
            &[("cpf", "000.000.001-91")],
            NotFound,
        ),
    ]
}

#[tokio::test]
async fn http_client_over_local_service_conforms() {
    let reg = local_registry().await;
    let callback_url = serve_callbacks(Arc::new(Recorder::default())).await;
    let endpoints = reg
        .fixtures()
        .registries()
        .iter()
        .map(|r| {
            let mut e = fast_endpoint(&reg, r);
            e.retries = 1;
            e.callback_url = Some(callback_url.clone());
            e
        })
        .collect();
    let client = client(endpoints);
    run_all(&client, &cases()).await;
    reg.shutdown().await;
}
