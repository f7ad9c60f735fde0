//! Outgoing HTTPS (partner discovery, keys, SAML metadata, back-channel logout) verifies the
//! server: one whose certificate no trusted authority issued is refused.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::ssl::{SslAcceptor, SslMethod};
use openssl::x509::extension::{BasicConstraints, KeyUsage, SubjectAlternativeName};
use openssl::x509::{X509, X509NameBuilder};

use super::Federation;

/// The body the test server answers.
const BODY: &str = "<EntityDescriptor/>";

fn key() -> PKey<Private> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap()
}

/// A certificate for `cn`, signed by `issuer` (itself when `None`): an authority when `ca`.
fn certificate(
    cn: &str,
    key: &PKey<Private>,
    issuer: Option<(&X509, &PKey<Private>)>,
    ca: bool,
) -> X509 {
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_nid(Nid::COMMONNAME, cn).unwrap();
    let name = name.build();
    let mut builder = X509::builder().unwrap();
    builder.set_version(2).unwrap();
    let mut serial = BigNum::new().unwrap();
    serial.rand(64, MsbOption::MAYBE_ZERO, false).unwrap();
    builder
        .set_serial_number(&serial.to_asn1_integer().unwrap())
        .unwrap();
    builder.set_subject_name(&name).unwrap();
    builder
        .set_issuer_name(issuer.map_or(&name, |(cert, _)| cert.subject_name()))
        .unwrap();
    builder.set_pubkey(key).unwrap();
    builder
        .set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    builder
        .set_not_after(&Asn1Time::days_from_now(1).unwrap())
        .unwrap();
    if ca {
        builder
            .append_extension(BasicConstraints::new().critical().ca().build().unwrap())
            .unwrap();
        builder
            .append_extension(
                KeyUsage::new()
                    .critical()
                    .key_cert_sign()
                    .crl_sign()
                    .build()
                    .unwrap(),
            )
            .unwrap();
    } else {
        let san = SubjectAlternativeName::new()
            .ip("127.0.0.1")
            .build(&builder.x509v3_context(issuer.map(|(cert, _)| cert.as_ref()), None))
            .unwrap();
        builder.append_extension(san).unwrap();
    }
    let signer = issuer.map_or(key, |(_, key)| key);
    builder.sign(signer, MessageDigest::sha256()).unwrap();
    builder.build()
}

/// Writes an authority (`ca.pem`) and a server certificate it issued for 127.0.0.1
/// (`server.pem`, `server.key`) into `dir`.
fn write_pki(dir: &Path) {
    let ca_key = key();
    let ca = certificate("Gatehouse test authority", &ca_key, None, true);
    let server_key = key();
    let server = certificate("127.0.0.1", &server_key, Some((&ca, &ca_key)), false);
    std::fs::write(dir.join("ca.pem"), ca.to_pem().unwrap()).unwrap();
    std::fs::write(dir.join("server.pem"), server.to_pem().unwrap()).unwrap();
    std::fs::write(
        dir.join("server.key"),
        server_key.private_key_to_pem_pkcs8().unwrap(),
    )
    .unwrap();
}

/// An HTTPS server on 127.0.0.1 with the certificate in `dir`, answering [`BODY`] to every
/// request; returns its port.
fn serve(dir: &Path) -> u16 {
    let mut acceptor = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls()).unwrap();
    acceptor
        .set_certificate_chain_file(dir.join("server.pem"))
        .unwrap();
    acceptor
        .set_private_key_file(dir.join("server.key"), openssl::ssl::SslFiletype::PEM)
        .unwrap();
    let acceptor = acceptor.build();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            // A client that refuses the certificate ends the handshake; serve the next one.
            let Ok(mut tls) = acceptor.accept(stream) else {
                continue;
            };
            let mut request = Vec::new();
            let mut buffer = [0; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match tls.read(&mut buffer) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buffer[..n]),
                }
            }
            let _ = write!(
                tls,
                "HTTP/1.1 200 OK\r\ncontent-type: application/xml\r\ncontent-length: {}\r\n\
                 connection: close\r\n\r\n{BODY}",
                BODY.len()
            );
            let _ = tls.shutdown();
        }
    });
    port
}

#[tokio::test]
async fn a_server_no_trusted_authority_vouches_for_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    write_pki(dir.path());
    let port = serve(dir.path());
    let url = format!("https://127.0.0.1:{port}/metadata");
    let federation = Federation::new(true).unwrap();
    let refused = federation
        .fetch_document(&url)
        .await
        .expect_err("a certificate no trusted authority issued is refused");
    assert!(
        refused.to_string().contains("cannot be fetched"),
        "{refused}"
    );
    // The server itself answers: a client that trusts its authority gets the document.
    let ca =
        reqwest::Certificate::from_pem(&std::fs::read(dir.path().join("ca.pem")).unwrap()).unwrap();
    let trusting = reqwest::Client::builder()
        .add_root_certificate(ca)
        .build()
        .unwrap();
    let body = trusting
        .get(&url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, BODY);
}
