//! The client's one error type. Each message is a sentence a newcomer can act on: it names
//! the server, file or line involved, and what the ledger said.

use std::path::PathBuf;

use crate::records::CsvError;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The `--server` value is not a URL tonic can dial.
    #[error("{url:?} is not a usable server address ({detail}); expected something like http://127.0.0.1:7420")]
    BadUrl { url: String, detail: String },
    /// Nothing answered at the address, or the connection broke.
    #[error("cannot reach the ledger at {url}: {detail}")]
    Unreachable { url: String, detail: String },
    /// The ledger answered the call with a gRPC error (not a REJECTED ack: those are results).
    #[error("the ledger refused {call} ({code}): {message}")]
    Rpc { call: &'static str, code: String, message: String },
    /// TLS options that do not fit together, or a certificate file that cannot be read.
    #[error("TLS: {0}")]
    Tls(String),
    /// A key file that cannot be read, parsed or written.
    #[error("{}: {detail}", path.display())]
    KeyFile { path: PathBuf, detail: String },
    /// A CSV file of records that cannot be encoded.
    #[error(transparent)]
    Csv(#[from] CsvError),
    /// An answer the protocol does not allow (a bug in the client or the server).
    #[error("unexpected answer from the ledger: {0}")]
    Protocol(String),
}

impl ClientError {
    /// Turns a gRPC status into an error. Connection failures read as "cannot reach".
    pub(crate) fn from_status(url: &str, call: &'static str, status: tonic::Status) -> ClientError {
        let mut message = status.message().to_string();
        let mut source = std::error::Error::source(&status);
        while let Some(s) = source {
            let text = s.to_string();
            if !message.contains(&text) {
                if !message.is_empty() {
                    message.push_str(": ");
                }
                message.push_str(&text);
            }
            source = s.source();
        }
        match status.code() {
            // A broken connection shows up as Unavailable, or as Unknown with a transport source.
            tonic::Code::Unavailable => {
                ClientError::Unreachable { url: url.to_string(), detail: with_tls_hint(url, message) }
            }
            tonic::Code::Unknown if std::error::Error::source(&status).is_some() => {
                ClientError::Unreachable { url: url.to_string(), detail: with_tls_hint(url, message) }
            }
            // The connection closed under the call (a server refusing the client's TLS
            // certificate after the handshake looks like this; tonic reports it as Cancelled
            // or Unknown depending on when the close lands): not an answer of the ledger.
            _ if message.contains("transport error") => {
                ClientError::Unreachable { url: url.to_string(), detail: with_tls_hint(url, message) }
            }
            // Garbage where HTTP/2 frames should be: the port speaks something else (TLS
            // answering a plain-HTTP client, for one), not the ledger answering.
            tonic::Code::Internal if message.contains("h2 protocol error") => {
                ClientError::Unreachable { url: url.to_string(), detail: with_tls_hint(url, message) }
            }
            code => ClientError::Rpc { call, code: format!("{code:?}"), message },
        }
    }

    /// The gRPC code, when the ledger answered with one.
    pub fn rpc_code(&self) -> Option<&str> {
        match self {
            ClientError::Rpc { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// Says what to do when a TLS handshake failed for a reason the user can fix.
pub(crate) fn with_tls_hint(url: &str, mut detail: String) -> String {
    // Under TLS 1.3 the client finishes its handshake before the server has checked the
    // client's certificate, so a refusal for a missing certificate reaches the client
    // either as that alert or, when the client writes first, as the closed connection; and
    // when the close lands before the client's HTTP/2 connection is ready, hyper says only
    // "connection was not ready" (seen once in fifteen runs of the mutual-TLS test).
    let closed =
        ["broken pipe", "connection reset", "connection closed", "stream closed", "unexpected eof", "was not ready"]
            .iter()
            .any(|s| detail.to_lowercase().contains(s));
    let lower = detail.to_lowercase();
    if url.starts_with("https://")
        && (lower.contains("invalidcontenttype")
            || lower.contains("corrupt message")
            || lower.contains("wrong version"))
    {
        // What a plain-HTTP port answers to a TLS ClientHello.
        detail.push_str(" (the server does not speak TLS on this port: use http:// in --server, or check the port)");
    } else if detail.contains("CertificateRequired") || (closed && url.starts_with("https://")) {
        let certain = if detail.contains("CertificateRequired") { "requires" } else { "may require" };
        detail.push_str(&format!(
            " (the ledger {certain} a client certificate signed by the CA it trusts: give --client-cert and \
             --client-key, and check that the certificate is from that CA)"
        ));
    } else if url.starts_with("http://") && (closed || lower.contains("frame with invalid size")) {
        // A TLS port closes on (or answers garbage to) an HTTP/2 preface.
        detail.push_str(" (if the ledger serves TLS, use https:// in --server)");
    } else if detail.contains("BadCertificate") || detail.contains("UnknownCA") || detail.contains("DecryptError") {
        detail.push_str(" (the ledger refused the client certificate: it must be signed by the CA the ledger trusts)");
    } else if detail.contains("UnknownIssuer") {
        detail.push_str(" (the server's certificate is not signed by the CA given with --ca)");
    } else if detail.contains("NotValidForName") {
        detail.push_str(" (the server's certificate does not name the host in --server)");
    }
    detail
}

/// An error and all its sources on one line, `a: b: c`.
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::with_tls_hint;

    #[test]
    fn tls_hints_name_the_fix() {
        let h = with_tls_hint("https://l:1", "invalid peer certificate: UnknownIssuer".into());
        assert!(h.ends_with("(the server's certificate is not signed by the CA given with --ca)"), "{h}");
        let h = with_tls_hint("https://l:1", "received fatal alert: CertificateRequired".into());
        assert!(h.contains("the ledger requires a client certificate"), "{h}");
        // A mutual-TLS refusal can arrive as the connection closing under the client.
        let h = with_tls_hint("https://l:1", "connection error: stream closed because of a broken pipe".into());
        assert!(h.contains("the ledger may require a client certificate"), "{h}");
        let h = with_tls_hint("https://l:1", "operation was canceled: transport error: connection closed".into());
        assert!(h.contains("the ledger may require a client certificate"), "{h}");
        let h = with_tls_hint("https://l:1", "transport error: connection was not ready".into());
        assert!(h.contains("the ledger may require a client certificate") && h.contains("CA"), "{h}");
        // Plain HTTP to a TLS port, and TLS to a plain port.
        let plain = "connection error: stream closed because of a broken pipe";
        assert!(with_tls_hint("http://l:1", plain.into()).contains("use https://"));
        let h = with_tls_hint("https://l:1", "received corrupt message of type InvalidContentType".into());
        assert!(h.contains("does not speak TLS") && h.contains("http://"), "{h}");
        let h = with_tls_hint("https://l:1", "received fatal alert: UnknownCA".into());
        assert!(h.contains("signed by the CA the ledger trusts"), "{h}");
        // Nothing about TLS where it cannot be the reason.
        let refused = "tcp connect error: Connection refused (os error 111)";
        assert_eq!(with_tls_hint("http://l:1", refused.into()), refused);
    }
}
