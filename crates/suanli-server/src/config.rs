//! The server's configuration: one struct, every field documented, every limit named, with
//! `validate()` for the rules that span fields. Command-line flags override a TOML file,
//! which overrides these defaults.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Bounds on what clients can make the server hold. Each is a named, validated field.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest gRPC message accepted on a streaming call (one envelope), bytes.
    pub stream_message_bytes_max: usize,
    /// Largest gRPC message accepted on a unary batch call, bytes.
    pub batch_message_bytes_max: usize,
    /// Largest signed payload inside an envelope, bytes.
    pub payload_bytes_max: usize,
    /// Most records in one `SubmitUsageBatch` call.
    pub batch_records_max: usize,
    /// Most records verified together as one chunk of a stream.
    pub chunk_records_max: usize,
    /// Chunks of one stream that may be in the pipeline at once (verifying, sequencing).
    pub stream_chunks_in_flight_max: usize,
    /// Chunks of all streams together in the pipeline at once; further streams wait.
    pub chunks_in_flight_max: usize,
    /// Commands queued for the sequencer before submitters wait (backpressure).
    pub sequencer_queue_depth: usize,
    /// Most records in one group commit.
    pub commit_records_max: usize,
    /// Concurrent HTTP/2 streams per connection.
    pub streams_per_connection_max: u32,
    /// HTTP/2 receive window of one stream, bytes: what a client may send before the
    /// ledger takes it in. Small keeps acknowledgements fast at full speed (bytes in this
    /// window wait behind everything admitted before them); a stream cannot carry more
    /// than this much per network round trip, so raise it for clients far away.
    pub stream_window_bytes: u32,
    /// Concurrent client connections; further clients wait in the listen backlog.
    pub connections_max: usize,
    /// Acks buffered per stream for a client that reads them slowly, in whole chunks
    /// (rounded up to a multiple of `chunk_records_max`).
    pub ack_queue_depth: usize,
    /// Signed reads remembered to refuse replays (per skew window).
    pub read_replay_cache_max: usize,
    /// `Audit.ExportEntries` streams running at once; more are refused (RESOURCE_EXHAUSTED).
    pub exports_concurrent_max: usize,
    /// Inclusion-proof lookups by leaf hash running at once (each scans the log's leaf
    /// hashes); more wait.
    pub leaf_lookups_concurrent_max: usize,
    /// A new connection that has not sent its first bytes (the HTTP/2 preface or a TLS
    /// ClientHello) within this is closed, milliseconds: idle sockets cannot hold the
    /// `connections_max` slots.
    pub handshake_timeout_ms: u64,
    /// An `Audit.ExportEntries` whose client takes no data for this long is ended (with
    /// DEADLINE_EXCEEDED) and frees its slot, milliseconds: stalled readers cannot hold
    /// every export slot.
    pub export_stall_timeout_ms: u64,
    /// Connections the web listener (console, log tiles, metrics) serves at once; further
    /// clients wait in the listen backlog.
    pub web_connections_max: usize,
    /// Largest HTTP request body the web listener reads (a signed envelope, a report to
    /// check), bytes; larger ones are refused with 413.
    pub web_request_bytes_max: usize,
    /// How long an HTTP request may take, from its first byte to its answer, milliseconds
    /// (a request head that has not arrived by then closes the connection; a slower answer
    /// is 408).
    pub web_request_timeout_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            stream_message_bytes_max: 64 * 1024,
            batch_message_bytes_max: 8 * 1024 * 1024,
            payload_bytes_max: 16 * 1024,
            batch_records_max: 10_000,
            chunk_records_max: 512,
            stream_chunks_in_flight_max: 4,
            chunks_in_flight_max: 64,
            sequencer_queue_depth: 64,
            commit_records_max: 8192,
            streams_per_connection_max: 64,
            stream_window_bytes: crate::HTTP2_STREAM_WINDOW,
            connections_max: 1024,
            ack_queue_depth: 1024,
            read_replay_cache_max: 100_000,
            exports_concurrent_max: 4,
            leaf_lookups_concurrent_max: 2,
            handshake_timeout_ms: 10_000,
            export_stall_timeout_ms: 30_000,
            web_connections_max: 256,
            web_request_bytes_max: 1024 * 1024,
            web_request_timeout_ms: 30_000,
        }
    }
}

/// TLS for the gRPC listener (rustls). With `cert` and `key` the server speaks only TLS;
/// with `client_ca` too, every client must present a certificate signed by that CA
/// (mutual TLS), before any request is read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Tls {
    /// The server's certificate chain, PEM (leaf first).
    pub cert: Option<PathBuf>,
    /// The private key of `cert`, PEM (PKCS#8, PKCS#1 or SEC1).
    pub key: Option<PathBuf>,
    /// CA certificate(s), PEM, that client certificates must chain to. Unset: no client
    /// certificates are asked for.
    pub client_ca: Option<PathBuf>,
}

impl Tls {
    pub fn enabled(&self) -> bool {
        self.cert.is_some()
    }
}

/// A witness (C2SP tlog-witness) asked to cosign the ledger's checkpoints.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WitnessConfig {
    /// The witness's submission prefix, `http://host:port` (`/add-checkpoint` is added).
    pub url: String,
    /// The witness's verifier key, `<name>+<key id>+<base64(0x04 ‖ key)>` (what
    /// `suanli witness --print-key` prints).
    pub key: String,
}

/// Most witnesses a ledger asks.
pub const WITNESSES_MAX: usize = 32;

/// Everything `suanlid` needs to run.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the ledger lives: the store, and the keys generated at first start.
    pub data_dir: PathBuf,
    /// Where the log and its index live. `None`: the embedded sled store under
    /// `<data_dir>/store`. `postgres://user@host:port/db`: a PostgreSQL database, which
    /// several nodes may share (each node still keeps its keys in `data_dir`).
    pub store: Option<String>,
    /// The gRPC listening address.
    pub listen: String,
    /// The program for a new ledger: a preset name (`suzhou-2026`) or a TOML file path.
    /// `None`: the preset for a new ledger; for an existing one, whatever its genesis says.
    pub program: Option<String>,
    /// The admin's public key (base64). `None` on first start: generate `admin.key`.
    pub admin_pubkey: Option<String>,
    /// The finance bureau's public key (base64). `None` on first start: generate `finance.key`.
    pub finance_pubkey: Option<String>,
    /// Page cache of the sled store, MiB. sled's own memory use is a few times this.
    pub store_cache_mib: u64,
    /// How often a checkpoint is signed while the log grows, milliseconds.
    pub checkpoint_interval_ms: u64,
    /// A state snapshot is written after this many new entries (and at shutdown).
    pub snapshot_interval_entries: u64,
    /// How far a signed read's timestamp may be from the server's clock, milliseconds.
    pub read_skew_ms: i64,
    /// Address of the Prometheus metrics listener (plain HTTP, `GET /metrics`). `None`:
    /// no metrics listener. Port 0 picks a free port (printed at start).
    pub metrics_listen: Option<String>,
    /// Address of the web listener: the console for people, the log as C2SP tlog-tiles
    /// (`/log/…`) and `/metrics`. `off` (or an empty string): no web listener. Port 0 picks
    /// a free port (printed at start). The `tls` settings apply to it as to gRPC.
    pub web_listen: String,
    /// Witnesses asked to cosign each new checkpoint (`[[witnesses]]` tables with `url`
    /// and `key`); their cosignatures are served with it. Empty: none.
    pub witnesses: Vec<WitnessConfig>,
    /// How long one call to a witness may take, milliseconds; a slower witness is asked
    /// again later.
    pub witness_timeout_ms: u64,
    pub tls: Tls,
    /// After SIGTERM, how long open calls may go on before the server stops without them
    /// (a client's never-ending stream must not keep it running), milliseconds.
    pub shutdown_grace_ms: u64,
    /// Run as a read-only mirror of the ledger whose web listener is at this URL
    /// (`http://HOST:PORT`): follow its log (C2SP tlog-tiles under `/log/`), verify every
    /// entry and serve it, refusing every write (see `mirror.rs`). `None`: a ledger.
    pub mirror_of: Option<String>,
    /// The primary's note verifier key (`suanli log vkey`), checked by a mirror. `None`:
    /// pinned from the primary's genesis entry on first contact.
    pub mirror_key: Option<String>,
    pub limits: Limits,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./data"),
            store: None,
            listen: "127.0.0.1:7420".into(),
            program: None,
            admin_pubkey: None,
            finance_pubkey: None,
            store_cache_mib: 32,
            checkpoint_interval_ms: 2000,
            snapshot_interval_entries: 100_000,
            read_skew_ms: 5 * 60 * 1000,
            metrics_listen: None,
            web_listen: "127.0.0.1:7421".into(),
            witnesses: Vec::new(),
            witness_timeout_ms: 5000,
            tls: Tls::default(),
            shutdown_grace_ms: 10_000,
            mirror_of: None,
            mirror_key: None,
            limits: Limits::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{field}: {problem}")]
    Invalid { field: &'static str, problem: String },
    #[error("cannot parse the configuration file: {0}")]
    Parse(String),
}

fn invalid(field: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { field, problem: problem.into() }
}

impl Config {
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let c: Config = toml::from_str(text).map_err(|e| ConfigError::Parse(e.to_string()))?;
        c.validate()?;
        Ok(c)
    }

    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.listen.parse().map_err(|e| invalid("listen", format!("{:?} is not host:port ({e})", self.listen)))
    }

    pub fn metrics_addr(&self) -> Result<Option<SocketAddr>, ConfigError> {
        match &self.metrics_listen {
            None => Ok(None),
            Some(a) => {
                a.parse().map(Some).map_err(|e| invalid("metrics_listen", format!("{a:?} is not host:port ({e})")))
            }
        }
    }

    /// The web listener's address, or `None` when it is off.
    pub fn web_addr(&self) -> Result<Option<SocketAddr>, ConfigError> {
        match self.web_listen.trim() {
            "" | "off" => Ok(None),
            a => a.parse().map(Some).map_err(|e| invalid("web_listen", format!("{a:?} is not host:port or off ({e})"))),
        }
    }

    /// The configured witnesses as `(url, key)`, keys parsed.
    pub fn witness_keys(&self) -> Result<Vec<(String, suanli_core::witness::CosignerKey)>, ConfigError> {
        let mut out: Vec<(String, suanli_core::witness::CosignerKey)> = Vec::new();
        for w in &self.witnesses {
            let key = suanli_core::witness::CosignerKey::parse(&w.key)
                .map_err(|e| invalid("witnesses.key", format!("{:?}: {e}", w.key)))?;
            let rest = w.url.strip_prefix("http://").ok_or_else(|| {
                invalid(
                    "witnesses.url",
                    format!(
                        "{:?} must start with http:// (for HTTPS, reach the witness through a local TLS proxy)",
                        w.url
                    ),
                )
            })?;
            if rest.is_empty() || rest.contains(char::is_whitespace) {
                return Err(invalid("witnesses.url", format!("{:?} names no host", w.url)));
            }
            if out.iter().any(|(_, k)| k.name() == key.name()) {
                return Err(invalid("witnesses.key", format!("two witnesses are named {}", key.name())));
            }
            out.push((w.url.clone(), key));
        }
        Ok(out)
    }

    /// Rules across fields, and ranges that keep the server inside its memory budget.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let grpc = self.listen_addr()?;
        if let Some(m) = self.metrics_addr()?
            && m.port() != 0
            && m == grpc
        {
            return Err(invalid("metrics_listen", "must differ from listen"));
        }
        if let Some(w) = self.web_addr()?
            && w.port() != 0
        {
            if w == grpc {
                return Err(invalid("web_listen", "must differ from listen"));
            }
            if self.metrics_addr()? == Some(w) {
                return Err(invalid(
                    "web_listen",
                    "must differ from metrics_listen (the web listener serves /metrics too)",
                ));
            }
        }
        match (&self.tls.cert, &self.tls.key) {
            (Some(_), None) => {
                return Err(invalid("tls.key", "tls.cert is set, so the key of that certificate is needed"));
            }
            (None, Some(_)) => return Err(invalid("tls.cert", "tls.key is set, so its certificate is needed")),
            _ => {}
        }
        if self.tls.client_ca.is_some() && self.tls.cert.is_none() {
            return Err(invalid("tls.client_ca", "client certificates need TLS: set tls.cert and tls.key too"));
        }
        if let Some(url) = &self.store
            && !(url.starts_with("postgres://") || url.starts_with("postgresql://"))
        {
            return Err(invalid("store", "must be a postgres:// connection string (leave it out for the sled store)"));
        }
        if let Some(url) = &self.mirror_of {
            crate::mirror::parse_primary_url(url).map_err(|e| invalid("mirror_of", e))?;
            if self.store.is_some() {
                return Err(invalid("mirror_of", "a mirror keeps its own sled store: leave store out"));
            }
        }
        if let Some(k) = &self.mirror_key {
            if self.mirror_of.is_none() {
                return Err(invalid("mirror_key", "only a mirror checks a primary's key: set mirror_of too"));
            }
            suanli_core::note::Verifier::parse(k.trim()).map_err(|e| {
                invalid("mirror_key", format!("not a note verifier key (suanli log vkey prints it): {e}"))
            })?;
        }
        let l = &self.limits;
        let range = |field: &'static str, v: usize, lo: usize, hi: usize| {
            if v < lo || v > hi { Err(invalid(field, format!("{v} is not between {lo} and {hi}"))) } else { Ok(()) }
        };
        range("limits.stream_message_bytes_max", l.stream_message_bytes_max, 1024, 16 << 20)?;
        range("limits.batch_message_bytes_max", l.batch_message_bytes_max, 1024, 64 << 20)?;
        range("limits.payload_bytes_max", l.payload_bytes_max, 256, 1 << 20)?;
        if l.payload_bytes_max > l.stream_message_bytes_max {
            return Err(invalid("limits.payload_bytes_max", "must not exceed limits.stream_message_bytes_max"));
        }
        range("limits.batch_records_max", l.batch_records_max, 1, 100_000)?;
        range("limits.chunk_records_max", l.chunk_records_max, 1, 16_384)?;
        range("limits.stream_chunks_in_flight_max", l.stream_chunks_in_flight_max, 1, 64)?;
        range("limits.chunks_in_flight_max", l.chunks_in_flight_max, 1, 65_536)?;
        range("limits.sequencer_queue_depth", l.sequencer_queue_depth, 1, 65_536)?;
        range("limits.commit_records_max", l.commit_records_max, 1, 100_000)?;
        range("limits.streams_per_connection_max", l.streams_per_connection_max as usize, 1, 10_000)?;
        range("limits.stream_window_bytes", l.stream_window_bytes as usize, 8 << 10, 16 << 20)?;
        range("limits.connections_max", l.connections_max, 1, 100_000)?;
        range("limits.ack_queue_depth", l.ack_queue_depth, 1, 1 << 20)?;
        range("limits.read_replay_cache_max", l.read_replay_cache_max, 1, 10_000_000)?;
        range("limits.exports_concurrent_max", l.exports_concurrent_max, 1, 1024)?;
        range("limits.leaf_lookups_concurrent_max", l.leaf_lookups_concurrent_max, 1, 1024)?;
        range("limits.handshake_timeout_ms", l.handshake_timeout_ms as usize, 100, 600_000)?;
        range("limits.export_stall_timeout_ms", l.export_stall_timeout_ms as usize, 100, 3_600_000)?;
        range("limits.web_connections_max", l.web_connections_max, 1, 100_000)?;
        range("limits.web_request_bytes_max", l.web_request_bytes_max, 1024, 64 << 20)?;
        if !(100..=600_000).contains(&l.web_request_timeout_ms) {
            return Err(invalid("limits.web_request_timeout_ms", "must be between 100 and 600000"));
        }
        if self.witnesses.len() > WITNESSES_MAX {
            return Err(invalid("witnesses", format!("at most {WITNESSES_MAX} witnesses")));
        }
        self.witness_keys()?;
        if !(100..=60_000).contains(&self.witness_timeout_ms) {
            return Err(invalid("witness_timeout_ms", "must be between 100 and 60000"));
        }
        if !(8..=65_536).contains(&self.store_cache_mib) {
            return Err(invalid("store_cache_mib", "must be between 8 and 65536"));
        }
        if self.checkpoint_interval_ms == 0 || self.checkpoint_interval_ms > 60_000 {
            return Err(invalid(
                "checkpoint_interval_ms",
                "must be between 1 and 60000 (checkpoints every few seconds)",
            ));
        }
        if self.snapshot_interval_entries == 0 {
            return Err(invalid("snapshot_interval_entries", "must be at least 1"));
        }
        if !(1..=600_000).contains(&self.shutdown_grace_ms) {
            return Err(invalid("shutdown_grace_ms", "must be between 1 and 600000"));
        }
        if !(1000..=3_600_000).contains(&self.read_skew_ms) {
            return Err(invalid("read_skew_ms", "must be between 1000 and 3600000"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        Config::default().validate().unwrap();
    }

    #[test]
    fn file_overrides_and_errors_name_fields() {
        let c = Config::from_toml("listen = \"0.0.0.0:9000\"\n[limits]\nconnections_max = 10\n").unwrap();
        assert_eq!(c.listen, "0.0.0.0:9000");
        assert_eq!(c.limits.connections_max, 10);
        assert_eq!(c.limits.chunk_records_max, Limits::default().chunk_records_max);
        let e = Config::from_toml("[limits]\nconnections_max = 0\n").unwrap_err().to_string();
        assert!(e.contains("limits.connections_max"), "{e}");
        let e = Config::from_toml("listen = \"nowhere\"\n").unwrap_err().to_string();
        assert!(e.contains("listen"), "{e}");
        assert!(Config::from_toml("bogus = 1\n").is_err());
        // The HTTP/2 stream window: raised for far clients, never below 8 KiB.
        let c = Config::from_toml("[limits]\nstream_window_bytes = 262144\n").unwrap();
        assert_eq!(c.limits.stream_window_bytes, 262_144);
        assert_eq!(Limits::default().stream_window_bytes, 32 * 1024);
        let e = Config::from_toml("[limits]\nstream_window_bytes = 1024\n").unwrap_err().to_string();
        assert!(e.contains("limits.stream_window_bytes") && e.contains("1024"), "{e}");
    }

    #[test]
    fn witnesses_are_checked_at_start() {
        let key = suanli_core::witness::Cosigner::new("w.example/1", ed25519_dalek::SigningKey::from_bytes(&[5; 32]))
            .unwrap()
            .verifier()
            .to_string();
        let with = |url: &str, key: &str| format!("[[witnesses]]\nurl = \"{url}\"\nkey = \"{key}\"\n");
        let c = Config::from_toml(&with("http://127.0.0.1:7422", &key)).unwrap();
        assert_eq!(c.witness_keys().unwrap()[0].1.name(), "w.example/1");
        let e = Config::from_toml(&with("https://w.example", &key)).unwrap_err().to_string();
        assert!(e.contains("witnesses.url") && e.contains("http://"), "{e}");
        let e = Config::from_toml(&with("http://w.example", "w.example/1+00000000+AAAA")).unwrap_err().to_string();
        assert!(e.contains("witnesses.key"), "{e}");
        let twice = with("http://a", &key) + &with("http://b", &key);
        assert!(Config::from_toml(&twice).unwrap_err().to_string().contains("two witnesses"));
        let e = Config::from_toml("witness_timeout_ms = 10\n").unwrap_err().to_string();
        assert!(e.contains("witness_timeout_ms"), "{e}");
    }

    #[test]
    fn tls_and_metrics_fields() {
        let c = Config::from_toml(
            "metrics_listen = \"127.0.0.1:9464\"\n[tls]\ncert = \"s.crt\"\nkey = \"s.key\"\nclient_ca = \"ca.crt\"\n",
        )
        .unwrap();
        assert!(c.tls.enabled());
        assert_eq!(c.metrics_addr().unwrap().unwrap().port(), 9464);
        let e = Config::from_toml("[tls]\ncert = \"s.crt\"\n").unwrap_err().to_string();
        assert!(e.contains("tls.key"), "{e}");
        let e = Config::from_toml("[tls]\nclient_ca = \"ca.crt\"\n").unwrap_err().to_string();
        assert!(e.contains("tls.client_ca"), "{e}");
        let e = Config::from_toml("web_listen = \"x\"\n").unwrap_err().to_string();
        assert!(e.contains("web_listen"), "{e}");
        assert_eq!(Config::from_toml("web_listen = \"off\"\n").unwrap().web_addr().unwrap(), None);
        let e = Config::from_toml("listen = \"127.0.0.1:7000\"\nweb_listen = \"127.0.0.1:7000\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("web_listen"), "{e}");
        let e = Config::from_toml("metrics_listen = \"x\"\n").unwrap_err().to_string();
        assert!(e.contains("metrics_listen"), "{e}");
    }

    #[test]
    fn mirror_fields() {
        let c = Config::from_toml("mirror_of = \"http://10.0.0.5:7421/\"\n").unwrap();
        assert_eq!(c.mirror_of.as_deref(), Some("http://10.0.0.5:7421/"));
        for bad in ["mirror_of = \"https://x:1\"\n", "mirror_of = \"ftp://x\"\n", "mirror_of = \"http://x:1/other\"\n"]
        {
            let e = Config::from_toml(bad).unwrap_err().to_string();
            assert!(e.contains("mirror_of"), "{bad}: {e}");
        }
        let e = Config::from_toml("mirror_key = \"a+b+c\"\n").unwrap_err().to_string();
        assert!(e.contains("mirror_key"), "{e}");
        let e = Config::from_toml("mirror_of = \"http://x:1\"\nmirror_key = \"nonsense\"\n").unwrap_err().to_string();
        assert!(e.contains("mirror_key"), "{e}");
    }
}
