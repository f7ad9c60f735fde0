//! Outgoing HTTPS (partner discovery, keys, SAML metadata, back-channel logout) goes through
//! OpenSSL with the system's trust store: a server whose certificate no trusted authority
//! issued is refused, and one whose authority the operator added to the store (here through
//! OpenSSL's `SSL_CERT_FILE`, as `update-ca-certificates` would) is reached.

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
async fn a_server_no_trusted_authority_vouches_for_is_refused_and_one_the_store_trusts_is_reached()
{
    let dir = tempfile::tempdir().unwrap();
    write_pki(dir.path());
    let port = serve(dir.path());

    // This process's trust store is the system's, which does not hold the test authority.
    let federation = Federation::new(true).unwrap();
    let refused = federation
        .fetch_document(&format!("https://127.0.0.1:{port}/metadata"))
        .await
        .expect_err("an untrusted certificate is refused");
    assert!(
        refused.to_string().contains("cannot be fetched"),
        "{refused}"
    );

    // The same server, from a process whose trust store holds the authority.
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "upstream::tls_tests::child_trusts_the_authority_in_its_store",
            "--ignored",
            "--test-threads=1",
        ])
        .env("SSL_CERT_FILE", dir.path().join("ca.pem"))
        .env("SSL_CERT_DIR", dir.path())
        .env("GATEHOUSE_TEST_TLS_PORT", port.to_string())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Run by the test above in a process of its own, with the test authority as its trust store.
#[tokio::test]
#[ignore = "run by its parent test in a process whose trust store it sets"]
async fn child_trusts_the_authority_in_its_store() {
    let port = std::env::var("GATEHOUSE_TEST_TLS_PORT").expect("run by the parent test");
    let federation = Federation::new(true).unwrap();
    let document = federation
        .fetch_document(&format!("https://127.0.0.1:{port}/metadata"))
        .await
        .expect("the store's authority vouches for the server");
    assert_eq!(document, BODY);
}
