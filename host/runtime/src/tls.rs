//! The TLS client behind children's outgoing `https` requests: which
//! certificate authorities the host trusts, and the handshake.
//!
//! The roots are Mozilla's (compiled in by `webpki-roots`, so every host
//! trusts the same CAs whatever the machine has installed) plus the PEM
//! files of the tree's `[node] tls_roots` (a private CA, say). The client
//! configuration is built on the first `https` request, so a host whose
//! children never speak TLS pays nothing for it. Only HTTP/1.1 is offered,
//! as the plain-HTTP path speaks.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// The largest `tls_roots` file read (Mozilla's whole bundle is ~220 KB).
const MAX_ROOTS_FILE_BYTES: u64 = 4 << 20;

/// Certificates trusted beyond Mozilla's roots (`[node] tls_roots`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtraRoots {
    /// Each file as the tree names it, for messages and `arbor check`.
    pub files: Vec<String>,
    certificates: Vec<CertificateDer<'static>>,
}

impl ExtraRoots {
    /// Adds the certificates of the PEM file at `path` (named `shown` in
    /// messages). A file that cannot be read, or holds no certificate, or
    /// a certificate rustls cannot use as a root, is an error saying so.
    pub fn add_file(&mut self, path: &Path, shown: &str) -> Result<(), String> {
        // A certificate bundle is kilobytes; a device or a huge file is a
        // mistake, and reading it would never end.
        let meta = std::fs::metadata(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
        if !meta.is_file() {
            return Err(format!("{shown} is not a file"));
        }
        if meta.len() > MAX_ROOTS_FILE_BYTES {
            return Err(format!(
                "{shown} is {} bytes: more than the {MAX_ROOTS_FILE_BYTES} a file of CA certificates may hold",
                meta.len()
            ));
        }
        let bytes = std::fs::read(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
        let mut found = Vec::new();
        for certificate in CertificateDer::pem_slice_iter(&bytes) {
            found.push(certificate.map_err(|e| format!("{shown} is not valid PEM: {e:?}"))?);
        }
        if found.is_empty() {
            return Err(format!(
                "{shown} holds no certificate (expected PEM \"-----BEGIN CERTIFICATE-----\" blocks)"
            ));
        }
        let mut check = rustls::RootCertStore::empty();
        for certificate in &found {
            check.add(certificate.clone()).map_err(|e| {
                format!("{shown}: a certificate rustls cannot trust as a root: {e}")
            })?;
        }
        self.files.push(shown.to_string());
        self.certificates.extend(found);
        Ok(())
    }

    /// Whether the tree adds nothing to Mozilla's roots.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

/// A host's TLS client: one per node, shared by every child.
#[derive(Default)]
pub struct TlsClient {
    extra: ExtraRoots,
    connector: OnceLock<TlsConnector>,
}

impl std::fmt::Debug for TlsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsClient")
            .field("extra", &self.extra.files)
            .field("built", &self.connector.get().is_some())
            .finish()
    }
}

impl TlsClient {
    /// A client trusting Mozilla's roots and `extra`.
    pub fn new(extra: ExtraRoots) -> Arc<TlsClient> {
        Arc::new(TlsClient {
            extra,
            connector: OnceLock::new(),
        })
    }

    /// Runs the TLS handshake over `stream` for `host` (a name or an IP
    /// literal, as the request's URI has it).
    pub async fn connect(
        &self,
        host: &str,
        stream: TcpStream,
    ) -> Result<TlsStream<TcpStream>, HandshakeError> {
        let name = server_name(host)?;
        self.connector()
            .connect(name, stream)
            .await
            .map_err(HandshakeError::from_io)
    }

    fn connector(&self) -> &TlsConnector {
        self.connector.get_or_init(|| {
            let mut roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            for certificate in &self.extra.certificates {
                // Checked when the tree was read.
                let _ = roots.add(certificate.clone());
            }
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let mut config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .expect("ring supports the default protocol versions")
                .with_root_certificates(roots)
                .with_no_client_auth();
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            TlsConnector::from(Arc::new(config))
        })
    }
}

/// The server name rustls checks the certificate against: an IP literal
/// (`127.0.0.1`, `[::1]`) or a DNS name.
fn server_name(host: &str) -> Result<ServerName<'static>, HandshakeError> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<std::net::IpAddr>() {
        return Ok(ServerName::from(ip));
    }
    ServerName::try_from(host.to_string())
        .map_err(|_| HandshakeError::InvalidName(host.to_string()))
}

/// Why a TLS handshake failed, in the terms `wasi:http`'s error codes have.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// The host is not a name a certificate can be checked against.
    #[error("{0:?} is not a valid TLS server name")]
    InvalidName(String),
    /// The server's certificate is not trusted, expired, or for another name.
    #[error("the server's certificate was refused: {0}")]
    Certificate(String),
    /// The server ended the handshake with an alert.
    #[error("the server sent the TLS alert {0}")]
    Alert(String),
    /// Anything else in the handshake.
    #[error("TLS handshake failed: {0}")]
    Protocol(String),
}

impl HandshakeError {
    fn from_io(error: std::io::Error) -> HandshakeError {
        let detail = error.to_string();
        match error
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            Some(rustls::Error::InvalidCertificate(why)) => {
                HandshakeError::Certificate(format!("{why:?}"))
            }
            Some(rustls::Error::AlertReceived(alert)) => {
                HandshakeError::Alert(format!("{alert:?}"))
            }
            _ => HandshakeError::Protocol(detail),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/tls")
            .join(name)
    }

    #[test]
    fn a_pem_ca_is_added_and_a_file_without_certificates_is_refused_by_name() {
        let mut roots = ExtraRoots::default();
        roots.add_file(&fixture("ca.pem"), "ca.pem").unwrap();
        assert_eq!(roots.files, ["ca.pem"]);
        assert_eq!(roots.certificates.len(), 1);
        let key = roots.add_file(&fixture("localhost.key"), "localhost.key");
        assert!(
            key.unwrap_err()
                .contains("localhost.key holds no certificate")
        );
        let missing = roots.add_file(&fixture("gone.pem"), "gone.pem");
        assert!(missing.unwrap_err().starts_with("cannot read gone.pem"));
        let device = roots.add_file(Path::new("/dev/zero"), "/dev/zero");
        assert_eq!(device.unwrap_err(), "/dev/zero is not a file");
        assert_eq!(roots.files, ["ca.pem"], "a refused file adds nothing");
    }

    #[test]
    fn server_names_are_ip_literals_or_dns_names() {
        assert_eq!(
            server_name("127.0.0.1").unwrap(),
            ServerName::from(std::net::IpAddr::from([127, 0, 0, 1]))
        );
        assert!(matches!(
            server_name("[::1]").unwrap(),
            ServerName::IpAddress(_)
        ));
        assert!(matches!(
            server_name("api.example.com").unwrap(),
            ServerName::DnsName(_)
        ));
        assert!(matches!(
            server_name("bad name"),
            Err(HandshakeError::InvalidName(_))
        ));
    }
}
