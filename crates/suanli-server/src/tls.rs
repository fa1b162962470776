//! TLS for the gRPC listener: the server's certificate and key, and optionally the CA that
//! client certificates must chain to (mutual TLS). rustls does the work (tonic's
//! `tls-ring` feature); this module reads the PEM files named by the configuration and
//! says which file is wrong when one is.

use std::path::Path;

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
