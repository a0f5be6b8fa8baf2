//! Mutual TLS: the client presents the certificate from its config and trusts only the
//! configured CA. A TLS front (rustls, client certificate required) is put before the local
//! registry service, as a real gateway's load balancer would be.

mod common;

use common::*;
use kyc_flow_core::RegistryStatus;
use kyc_flow_core::ports::{PortErrorKind, RegistryClient, RegistryReply};
use kyc_flow_registry::MtlsConfig;
use rcgen::{
    BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

struct Pki {
    dir: PathBuf,
    ca_der: CertificateDer<'static>,
    server_der: CertificateDer<'static>,
    server_key: Vec<u8>,
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, written as PEM files.
fn make_pki(tag: &str) -> Pki {
    let dir = std::env::temp_dir().join(format!("kyc-registry-mtls-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);

    let mut server_params = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server_key = KeyPair::generate().unwrap();
    let server_cert = server_params.signed_by(&server_key, &issuer).unwrap();

    let mut client_params =
        CertificateParams::new(vec!["client.kyc-flow.test".to_string()]).unwrap();
    client_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let client_key = KeyPair::generate().unwrap();
    let client_cert = client_params.signed_by(&client_key, &issuer).unwrap();

    std::fs::write(dir.join("ca.pem"), ca_cert.pem()).unwrap();
    std::fs::write(dir.join("client.pem"), client_cert.pem()).unwrap();
    std::fs::write(dir.join("client.key"), client_key.serialize_pem()).unwrap();
    Pki {
        dir,
        ca_der: ca_cert.der().clone(),
        server_der: server_cert.der().clone(),
        server_key: server_key.serialize_der(),
    }
}

/// TLS front requiring a client certificate signed by the CA; forwards to `backend`.
async fn tls_front(pki: &Pki, backend: SocketAddr) -> SocketAddr {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki.ca_der.clone()).unwrap();
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            vec![pki.server_der.clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pki.server_key.clone())),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A client without a certificate fails here: the handshake is refused.
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut plain) = tokio::net::TcpStream::connect(backend).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn client_certificate_from_config_is_presented_and_required() {
    let pki = make_pki("ok");
    let reg = local_registry().await;
    let front = tls_front(&pki, reg.addr()).await;

    let mut with_cert = fast_endpoint(&reg, "pe-reniec");
    with_cert.base_url = format!("https://{front}");
    with_cert.retries = 0;
    with_cert.mtls = Some(MtlsConfig {
        client_cert_pem_path: pki.dir.join("client.pem"),
        client_key_pem_path: pki.dir.join("client.key"),
        ca_pem_path: Some(pki.dir.join("ca.pem")),
    });
    let c = client(vec![with_cert.clone()]);
    let q = query(
        "pe-reniec",
        "PE",
        &[("document_number", "45678912")],
        "tls-1",
    );
    match c.query(&q).await.unwrap() {
        RegistryReply::Answered(r) => assert_eq!(r.status, RegistryStatus::Valid),
        other => panic!("{other:?}"),
    }

    // Same CA trust, but a client certificate the gateway's CA did not sign: the TLS front
    // refuses it, which is a transport failure (retryable), never an answer.
    let rogue = make_pki("rogue-client");
    let mut wrong_cert = with_cert.clone();
    wrong_cert.mtls = Some(MtlsConfig {
        client_cert_pem_path: rogue.dir.join("client.pem"),
        client_key_pem_path: rogue.dir.join("client.key"),
        ca_pem_path: Some(pki.dir.join("ca.pem")),
    });
    let c = client(vec![wrong_cert]);
    let err = c.query(&q).await.unwrap_err();
    assert_eq!(err.kind, PortErrorKind::Unavailable, "{err}");
    assert!(err.is_retryable());
    // Only the check with the right certificate reached the registry.
    assert_eq!(reg.stats().checks, 1);
    let _ = std::fs::remove_dir_all(&rogue.dir);
    let _ = std::fs::remove_dir_all(&pki.dir);
}

#[tokio::test]
async fn a_gateway_certificate_from_another_ca_is_not_trusted() {
    let pki = make_pki("trusted");
    let rogue = make_pki("rogue");
    let reg = local_registry().await;
    // The front presents a certificate from the rogue CA.
    let front = tls_front(&rogue, reg.addr()).await;
    let mut e = fast_endpoint(&reg, "pe-reniec");
    e.base_url = format!("https://{front}");
    e.retries = 0;
    e.mtls = Some(MtlsConfig {
        client_cert_pem_path: pki.dir.join("client.pem"),
        client_key_pem_path: pki.dir.join("client.key"),
        ca_pem_path: Some(pki.dir.join("ca.pem")),
    });
    let c = client(vec![e]);
    let q = query(
        "pe-reniec",
        "PE",
        &[("document_number", "45678912")],
        "tls-2",
    );
    let err = c.query(&q).await.unwrap_err();
    assert_eq!(err.kind, PortErrorKind::Unavailable, "{err}");
    assert_eq!(reg.stats().checks, 0);
    let _ = std::fs::remove_dir_all(&pki.dir);
    let _ = std::fs::remove_dir_all(&rogue.dir);
}
