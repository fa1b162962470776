//! TLS for the gRPC listener: the server's certificate and key, and optionally the CA that
//! client certificates must chain to (mutual TLS). rustls does the work (tonic's
//! `tls-ring` feature); this module reads the PEM files named by the configuration and
//! says which file is wrong when one is.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use tonic::transport::{Certificate, Identity, ServerTlsConfig};

use crate::config::Tls;

fn read_pem(path: &Path, what: &str) -> anyhow::Result<Vec<u8>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading the {what} {}", path.display()))?;
    if !bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        anyhow::bail!("the {what} {} is not PEM (no -----BEGIN line)", path.display());
    }
    Ok(bytes)
}

/// The rustls configuration for `tls`, or `None` when TLS is off. The files are read and
/// parsed here, so a bad certificate or key stops the server before it listens (and
/// `--check-config` reports it).
pub fn server_config(tls: &Tls) -> anyhow::Result<Option<ServerTlsConfig>> {
    let (Some(cert), Some(key)) = (&tls.cert, &tls.key) else {
        return Ok(None);
    };
    let identity = Identity::from_pem(read_pem(cert, "TLS certificate")?, read_pem(key, "TLS key")?);
    let mut config = ServerTlsConfig::new().identity(identity);
    if let Some(ca) = &tls.client_ca {
        config = config.client_ca_root(Certificate::from_pem(read_pem(ca, "client CA certificate")?));
    }
    // Building the acceptor parses every certificate and key: fail now, naming the files.
    tonic::transport::Server::builder().tls_config(config.clone()).with_context(|| {
        let ca = tls.client_ca.as_ref().map(|p| format!(", client CA {}", p.display())).unwrap_or_default();
        format!("TLS certificate {}, key {}{ca} do not make a usable TLS configuration", cert.display(), key.display())
    })?;
    Ok(Some(config))
}

/// The rustls acceptor for the web listener, from the same files as gRPC's TLS; `None`
/// when TLS is off. With `client_ca`, browsers and scrapers must present a client
/// certificate too, exactly as gRPC clients must.
pub fn web_acceptor(tls: &Tls) -> anyhow::Result<Option<tokio_rustls::TlsAcceptor>> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let (Some(cert), Some(key)) = (&tls.cert, &tls.key) else {
        return Ok(None);
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs = CertificateDer::pem_slice_iter(&read_pem(cert, "TLS certificate")?)
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("the TLS certificate {} does not parse", cert.display()))?;
    let key_der = PrivateKeyDer::from_pem_slice(&read_pem(key, "TLS key")?)
        .with_context(|| format!("the TLS key {} does not parse", key.display()))?;
    let builder =
        rustls::ServerConfig::builder_with_provider(provider.clone()).with_safe_default_protocol_versions()?;
    let builder = match &tls.client_ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_slice_iter(&read_pem(ca, "client CA certificate")?) {
                roots.add(c.with_context(|| format!("the client CA {} does not parse", ca.display()))?)?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .with_context(|| format!("the client CA {} is not usable", ca.display()))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(certs, key_der)
        .with_context(|| format!("the TLS key {} does not match the certificate {}", key.display(), cert.display()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Some(tokio_rustls::TlsAcceptor::from(Arc::new(config))))
}
