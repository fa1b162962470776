//! [`Client`]: one HTTP/2 channel to `suanlid` and a typed method per call of the ledger's
//! gRPC API. Requests that change state are signed here; an answer of `REJECTED` is a
//! result (an [`Ack`]), while a gRPC error or a broken connection is a [`ClientError`].

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use ed25519_dalek::SigningKey;
use futures::{Stream, StreamExt};
use suanli_core::ledger::InputKind;
use suanli_proto::v1::{
    self, Ack, Envelope, admin_request, finance_request, holder_request, ingest_client::IngestClient,
    ledger_client::LedgerClient, read_request, registry_client::RegistryClient, settlement_client::SettlementClient,
    vouchers_client::VouchersClient,
};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use crate::error::{ClientError, chain, with_tls_hint};
use crate::signing::{now_ms, request_id, sign, signed_read};

/// How long to wait for the server to accept a connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest answer accepted (a `PeriodList` of a busy ledger can be large).
pub const RESPONSE_BYTES_MAX: usize = 256 * 1024 * 1024;

/// Acks of a streaming submission, in the order the records were sent.
pub type AckStream = Pin<Box<dyn Stream<Item = Result<Ack, ClientError>> + Send>>;

/// A connection to one ledger. Cheap to clone: clones share the channel.
#[derive(Clone, Debug)]
pub struct Client {
    channel: Channel,
    url: String,
    /// Server clock minus local clock, learned when a signed read is refused as stale.
    clock_offset_ms: Arc<AtomicI64>,
}

/// How to speak TLS to an `https://` server: the CA that signed the server's certificate,
/// and, for a server that requires client certificates, this client's certificate and key.
/// All PEM files.
#[derive(Clone, Debug, Default)]
pub struct TlsOptions {
    pub ca: Option<std::path::PathBuf>,
    pub client_cert: Option<std::path::PathBuf>,
    pub client_key: Option<std::path::PathBuf>,
}

impl TlsOptions {
    fn is_empty(&self) -> bool {
        self.ca.is_none() && self.client_cert.is_none() && self.client_key.is_none()
    }

    fn read(path: &std::path::Path, what: &str) -> Result<Vec<u8>, ClientError> {
        std::fs::read(path).map_err(|e| ClientError::Tls(format!("reading the {what} {}: {e}", path.display())))
    }

    /// The rustls client configuration for `url`, or `None` for a plain `http://` URL.
    fn client_config(&self, url: &str) -> Result<Option<ClientTlsConfig>, ClientError> {
        let https = url.starts_with("https://");
        if !https {
            if !self.is_empty() {
                return Err(ClientError::Tls(format!(
                    "--ca, --client-cert and --client-key are for https:// servers; {url} is not one"
                )));
            }
            return Ok(None);
        }
        let Some(ca) = &self.ca else {
            return Err(ClientError::Tls(format!(
                "{url} uses TLS: give --ca FILE, the CA certificate (PEM) that signed the server's certificate"
            )));
        };
        let mut config =
            ClientTlsConfig::new().ca_certificate(Certificate::from_pem(Self::read(ca, "CA certificate")?));
        match (&self.client_cert, &self.client_key) {
            (Some(cert), Some(key)) => {
                config = config.identity(Identity::from_pem(
                    Self::read(cert, "client certificate")?,
                    Self::read(key, "client key")?,
                ));
            }
            (None, None) => {}
            _ => return Err(ClientError::Tls("--client-cert and --client-key go together".into())),
        }
        Ok(Some(config))
    }
}

/// `127.0.0.1:7420` means `http://127.0.0.1:7420`.
fn normalize_url(url: &str) -> String {
    if url.contains("://") { url.to_string() } else { format!("http://{url}") }
}

impl Client {
    /// Connects to the ledger at `url` (e.g. `http://127.0.0.1:7420`), failing with
    /// "cannot reach the ledger at URL: ..." when nothing answers there.
    pub async fn connect(url: &str) -> Result<Client, ClientError> {
        Client::connect_with(url, &TlsOptions::default()).await
    }

    /// Connects like [`Client::connect`], over TLS for an `https://` URL.
    pub async fn connect_with(url: &str, tls: &TlsOptions) -> Result<Client, ClientError> {
        let url = normalize_url(url);
        let tls = tls.client_config(&url)?;
        let mut endpoint = Endpoint::from_shared(url.clone())
            .map_err(|e| ClientError::BadUrl { url: url.clone(), detail: chain(&e) })?
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_nodelay(true)
            .http2_adaptive_window(true)
            .http2_keep_alive_interval(Duration::from_secs(30))
            .keep_alive_while_idle(true);
        if let Some(tls) = tls {
            endpoint = endpoint.tls_config(tls).map_err(|e| ClientError::Tls(chain(&e)))?;
        }
        let channel = endpoint
            .connect()
            .await
            .map_err(|e| ClientError::Unreachable { url: url.clone(), detail: with_tls_hint(&url, chain(&e)) })?;
        Ok(Client { channel, url, clock_offset_ms: Arc::new(AtomicI64::new(0)) })
    }

    /// The address this client dials.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn err(&self, call: &'static str) -> impl Fn(tonic::Status) -> ClientError + '_ {
        move |status| ClientError::from_status(&self.url, call, status)
    }

    fn ingest(&self) -> IngestClient<Channel> {
        IngestClient::new(self.channel.clone()).max_decoding_message_size(RESPONSE_BYTES_MAX)
    }

    fn registry(&self) -> RegistryClient<Channel> {
        RegistryClient::new(self.channel.clone()).max_decoding_message_size(RESPONSE_BYTES_MAX)
    }

    fn vouchers(&self) -> VouchersClient<Channel> {
        VouchersClient::new(self.channel.clone()).max_decoding_message_size(RESPONSE_BYTES_MAX)
    }

    fn settlement(&self) -> SettlementClient<Channel> {
        SettlementClient::new(self.channel.clone()).max_decoding_message_size(RESPONSE_BYTES_MAX)
    }

    /// A registry operator's request, signed with the admin key. Without `request_id` a
    /// fresh `cli-…` id is used; pass the same id to make a retry answer DUPLICATE.
    pub async fn admin(
        &self,
        key: &SigningKey,
        request_id_: Option<&str>,
        op: admin_request::Op,
    ) -> Result<Ack, ClientError> {
        let req = v1::AdminRequest { request_id: id_or_fresh(request_id_), op: Some(op) };
        self.apply_admin(sign(InputKind::Admin, key, &req)).await
    }

    /// Sends an already signed `AdminRequest` envelope.
    pub async fn apply_admin(&self, env: Envelope) -> Result<Ack, ClientError> {
        Ok(self.registry().apply(env).await.map_err(self.err("Registry.Apply"))?.into_inner())
    }

    /// A voucher holder's request, signed with one of `holder_id`'s registered keys.
    pub async fn holder(
        &self,
        key: &SigningKey,
        holder_id: &str,
        request_id_: Option<&str>,
        op: holder_request::Op,
    ) -> Result<Ack, ClientError> {
        let req = v1::HolderRequest { request_id: id_or_fresh(request_id_), holder_id: holder_id.into(), op: Some(op) };
        self.apply_holder(sign(InputKind::Holder, key, &req)).await
    }

    /// Sends an already signed `HolderRequest` envelope.
    pub async fn apply_holder(&self, env: Envelope) -> Result<Ack, ClientError> {
        Ok(self.vouchers().apply(env).await.map_err(self.err("Vouchers.Apply"))?.into_inner())
    }

    /// A finance bureau request, signed with the finance key.
    pub async fn finance(
        &self,
        key: &SigningKey,
        request_id_: Option<&str>,
        op: finance_request::Op,
    ) -> Result<Ack, ClientError> {
        let req = v1::FinanceRequest { request_id: id_or_fresh(request_id_), op: Some(op) };
        self.apply_finance(sign(InputKind::Finance, key, &req)).await
    }

    /// Sends an already signed `FinanceRequest` envelope.
    pub async fn apply_finance(&self, env: Envelope) -> Result<Ack, ClientError> {
        Ok(self.settlement().apply(env).await.map_err(self.err("Settlement.Apply"))?.into_inner())
    }

    /// Reverses one accepted record, signed by a key of the provider that submitted it.
    pub async fn reverse(&self, key: &SigningKey, reversal: &v1::Reversal) -> Result<Ack, ClientError> {
        self.reverse_signed(sign(InputKind::Reversal, key, reversal)).await
    }

    /// Sends an already signed `Reversal` envelope.
    pub async fn reverse_signed(&self, env: Envelope) -> Result<Ack, ClientError> {
        Ok(self.ingest().reverse(env).await.map_err(self.err("Ingest.Reverse"))?.into_inner())
    }

    /// Streams signed usage records over one `SubmitUsage` call. Envelopes are sent as fast
    /// as HTTP/2 flow control allows while acks are read; each ack's `index` is the
    /// position of its record in `envelopes`, and acks arrive in that order. The returned
    /// stream ends when every record is answered, or with an error if the call breaks.
    pub async fn submit_usage_stream<S>(&self, envelopes: S) -> Result<AckStream, ClientError>
    where
        S: Stream<Item = Envelope> + Send + 'static,
    {
        let call = "Ingest.SubmitUsage";
        let acks = self.ingest().submit_usage(envelopes).await.map_err(self.err(call))?.into_inner();
        Ok(self.ack_stream(call, acks))
    }

    /// Streams batch-signed usage records over one `SubmitUsageBatchSigned` call: one ack
    /// per record, `index` counting records across the batches, in order.
    pub async fn submit_usage_batches<S>(&self, batches: S) -> Result<AckStream, ClientError>
    where
        S: Stream<Item = v1::BatchEnvelope> + Send + 'static,
    {
        let call = "Ingest.SubmitUsageBatchSigned";
        let acks = self.ingest().submit_usage_batch_signed(batches).await.map_err(self.err(call))?.into_inner();
        Ok(self.ack_stream(call, acks))
    }

    /// Streams signed corpus-purchase records over one `SubmitCorpus` call.
    pub async fn submit_corpus_stream<S>(&self, envelopes: S) -> Result<AckStream, ClientError>
    where
        S: Stream<Item = Envelope> + Send + 'static,
    {
        let call = "Ingest.SubmitCorpus";
        let acks = self.ingest().submit_corpus(envelopes).await.map_err(self.err(call))?.into_inner();
        Ok(self.ack_stream(call, acks))
    }

    fn ack_stream(&self, call: &'static str, acks: tonic::Streaming<Ack>) -> AckStream {
        let url = self.url.clone();
        acks.map(move |r| r.map_err(|s| ClientError::from_status(&url, call, s))).boxed()
    }

    /// Submits signed usage records as one unary call (at most the server's batch limit).
    pub async fn submit_usage_batch(&self, envelopes: Vec<Envelope>) -> Result<Vec<Ack>, ClientError> {
        let batch = v1::EnvelopeBatch { envelopes };
        Ok(self
            .ingest()
            .submit_usage_batch(batch)
            .await
            .map_err(self.err("Ingest.SubmitUsageBatch"))?
            .into_inner()
            .acks)
    }

    /// The ledger's public information: program, role keys, origin, size, clock.
    pub async fn info(&self) -> Result<v1::LedgerInfo, ClientError> {
        let mut c = LedgerClient::new(self.channel.clone()).max_decoding_message_size(RESPONSE_BYTES_MAX);
        Ok(c.get_info(v1::InfoRequest {}).await.map_err(self.err("Ledger.GetInfo"))?.into_inner())
    }

    /// One entity, read with a signed read by the entity itself, the admin or finance.
    pub async fn get_entity(&self, key: &SigningKey, id: &str) -> Result<v1::EntityInfo, ClientError> {
        let query = || read_request::Query::Entity(v1::EntityQuery { id: id.into() });
        self.read("Registry.GetEntity", key, query, |env| async move { self.registry().get_entity(env).await }).await
    }

    /// Every registered entity, ordered by USCC, read by the admin or finance.
    pub async fn list_entities(&self, key: &SigningKey) -> Result<v1::EntityList, ClientError> {
        let query = || read_request::Query::Entities(v1::EntitiesQuery {});
        self.read("Registry.ListEntities", key, query, |env| async move { self.registry().list_entities(env).await })
            .await
    }

    /// One voucher's statement, read by its holder, the admin or finance.
    pub async fn get_voucher(&self, key: &SigningKey, voucher_id: &str) -> Result<v1::VoucherStatement, ClientError> {
        let query = || read_request::Query::Voucher(v1::VoucherQuery { voucher_id: voucher_id.into() });
        self.read("Vouchers.GetVoucher", key, query, |env| async move { self.vouchers().get_voucher(env).await }).await
    }

    /// Every voucher of one holder (empty: the key's own entity), read by the holder, the
    /// admin or finance.
    pub async fn list_vouchers(&self, key: &SigningKey, holder_id: &str) -> Result<v1::VoucherList, ClientError> {
        let query = || read_request::Query::Holder(v1::HolderQuery { holder_id: holder_id.into() });
        self.read("Vouchers.ListVouchers", key, query, |env| async move { self.vouchers().list_vouchers(env).await })
            .await
    }

    /// One page of every voucher of the ledger (filtered as `query` says), read by the
    /// admin or finance. See [`Client::list_all_vouchers`] for all pages.
    pub async fn list_vouchers_page(
        &self,
        key: &SigningKey,
        query: &v1::VouchersQuery,
    ) -> Result<v1::VoucherPage, ClientError> {
        let q = || read_request::Query::Vouchers(query.clone());
        self.read("Vouchers.ListAllVouchers", key, q, |env| async move { self.vouchers().list_all_vouchers(env).await })
            .await
    }

    /// Every voucher of the ledger matching `query`'s filters, page after page (each page
    /// a fresh signed read), in voucher id order; the `as_of` of the last page.
    pub async fn list_all_vouchers(
        &self,
        key: &SigningKey,
        mut query: v1::VouchersQuery,
    ) -> Result<(Vec<v1::VoucherListing>, i64), ClientError> {
        let mut all = Vec::new();
        loop {
            let page = self.list_vouchers_page(key, &query).await?;
            all.extend(page.vouchers);
            if page.next_after.is_empty() {
                return Ok((all, page.as_of));
            }
            query.after = page.next_after;
        }
    }

    /// Settlement periods with their statement lines, and the payables not yet settled,
    /// read by finance or the admin.
    pub async fn list_periods(&self, key: &SigningKey) -> Result<v1::PeriodList, ClientError> {
        let query = || read_request::Query::Periods(v1::PeriodsQuery {});
        self.read("Settlement.ListPeriods", key, query, |env| async move { self.settlement().list_periods(env).await })
            .await
    }

    /// The annual settlement report of cap year `year` (as of entry `as_of`, inclusive, or
    /// the latest), read by finance or the admin: the file's bytes and its signature note.
    pub async fn annual_report(
        &self,
        key: &SigningKey,
        year: i32,
        as_of_seq: Option<u64>,
        format: v1::ReportFormat,
    ) -> Result<(Vec<u8>, String), ClientError> {
        let query = || read_request::Query::Report(v1::ReportQuery { year, as_of_seq, format: format as i32 });
        let stream = self
            .read("Reports.AnnualReport", key, query, |env| async move { self.reports().annual_report(env).await })
            .await?;
        self.collect_file("Reports.AnnualReport", stream).await
    }

    /// One entity's statement (CSV), read by the entity itself, finance or the admin.
    pub async fn statement(&self, key: &SigningKey, id: &str, year: Option<i32>) -> Result<String, ClientError> {
        let bytes = self.statement_file(key, id, year, v1::ReportFormat::Csv).await?;
        String::from_utf8(bytes).map_err(|e| {
            ClientError::from_status(&self.url, "Reports.EntityStatement", tonic::Status::internal(e.to_string()))
        })
    }

    /// One entity's statement as file bytes: CSV (one table), XLSX or the Excel CSV.
    pub async fn statement_file(
        &self,
        key: &SigningKey,
        id: &str,
        year: Option<i32>,
        format: v1::ReportFormat,
    ) -> Result<Vec<u8>, ClientError> {
        let query = || {
            read_request::Query::Statement(v1::StatementQuery {
                id: id.into(),
                year: year.unwrap_or(0),
                format: format as i32,
            })
        };
        let stream =
            self.read("Reports.EntityStatement", key, query, |env| async move {
                self.reports().entity_statement(env).await
            })
            .await?;
        Ok(self.collect_file("Reports.EntityStatement", stream).await?.0)
    }

    fn audit(&self) -> v1::audit_client::AuditClient<Channel> {
        v1::audit_client::AuditClient::new(self.channel.clone()).max_decoding_message_size(RESPONSE_BYTES_MAX)
    }

    /// The latest signed checkpoint; with `fresh`, the ledger first signs one covering
    /// every durable entry.
    pub async fn checkpoint(&self, fresh: bool) -> Result<v1::SignedCheckpoint, ClientError> {
        let mut c = LedgerClient::new(self.channel.clone()).max_decoding_message_size(RESPONSE_BYTES_MAX);
        let answer = c.get_checkpoint(v1::CheckpointRequest { fresh }).await;
        Ok(answer.map_err(self.err("Ledger.GetCheckpoint"))?.into_inner())
    }

    /// The stored checkpoint with the largest tree size not above `size`, if there is one.
    pub async fn checkpoint_at_or_before(&self, size: u64) -> Result<Option<v1::SignedCheckpoint>, ClientError> {
        match self.audit().get_checkpoint(v1::AuditCheckpointRequest { at_or_before: Some(size) }).await {
            Ok(r) => Ok(Some(r.into_inner())),
            Err(s) if s.code() == tonic::Code::NotFound => Ok(None),
            Err(s) => Err(ClientError::from_status(&self.url, "Audit.GetCheckpoint", s)),
        }
    }

    /// A usage or corpus record's entry and inclusion proof in the tree of `tree_size`
    /// (0: the latest checkpoint, which the answer carries).
    pub async fn find_record(
        &self,
        kind: suanli_core::model::RecordKind,
        provider: &str,
        record_id: &str,
        tree_size: u64,
    ) -> Result<v1::RecordProof, ClientError> {
        let kind = match kind {
            suanli_core::model::RecordKind::Usage => v1::RecordKind::Usage,
            suanli_core::model::RecordKind::Corpus => v1::RecordKind::Corpus,
        };
        let req = v1::FindRecordRequest {
            provider_id: provider.into(),
            record_id: record_id.into(),
            kind: kind as i32,
            tree_size,
        };
        Ok(self.audit().find_record(req).await.map_err(self.err("Audit.FindRecord"))?.into_inner())
    }

    /// The consistency proof from the tree of `old_size` to the tree of `new_size` (0: the
    /// latest checkpoint's size, whose signed note the answer then carries).
    pub async fn consistency_proof(&self, old_size: u64, new_size: u64) -> Result<v1::ConsistencyProof, ClientError> {
        let req = v1::ConsistencyProofRequest { old_size, new_size };
        Ok(self.audit().get_consistency_proof(req).await.map_err(self.err("Audit.GetConsistencyProof"))?.into_inner())
    }

    /// Entries `from..to` in chunks, in order (`to` 0: the latest checkpoint's size).
    pub async fn export_entries(
        &self,
        from: u64,
        to: u64,
    ) -> Result<Pin<Box<dyn Stream<Item = Result<v1::EntryChunk, ClientError>> + Send>>, ClientError> {
        let stream = self
            .audit()
            .export_entries(v1::ExportRequest { from, to })
            .await
            .map_err(self.err("Audit.ExportEntries"))?
            .into_inner();
        let url = self.url.clone();
        Ok(Box::pin(stream.map(move |c| c.map_err(|s| ClientError::from_status(&url, "Audit.ExportEntries", s)))))
    }

    fn reports(&self) -> v1::reports_client::ReportsClient<Channel> {
        v1::reports_client::ReportsClient::new(self.channel.clone()).max_decoding_message_size(RESPONSE_BYTES_MAX)
    }

    async fn collect_file(
        &self,
        call: &'static str,
        mut stream: tonic::Streaming<v1::FileChunk>,
    ) -> Result<(Vec<u8>, String), ClientError> {
        let mut bytes = Vec::new();
        let mut signature = String::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(self.err(call))?;
            bytes.extend_from_slice(&chunk.data);
            if !chunk.signature.is_empty() {
                signature = chunk.signature;
            }
        }
        Ok((bytes, signature))
    }

    /// Sends a signed read. A read is only answered near the ledger's clock; if this
    /// machine's clock is off and the ledger says so, the read is signed again once at the
    /// ledger's time.
    async fn read<T, F, Fut>(
        &self,
        call: &'static str,
        key: &SigningKey,
        query: impl Fn() -> read_request::Query,
        send: F,
    ) -> Result<T, ClientError>
    where
        F: Fn(Envelope) -> Fut,
        Fut: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let issued = || now_ms().saturating_add(self.clock_offset_ms.load(Ordering::Relaxed));
        match send(signed_read(key, issued(), query())).await {
            Ok(r) => Ok(r.into_inner()),
            Err(s) if s.code() == tonic::Code::Unauthenticated && s.message().contains("clock") => {
                let before = now_ms();
                let info = self.info().await?;
                let after = now_ms();
                let local = before + (after - before) / 2;
                self.clock_offset_ms.store(info.server_time_ms - local, Ordering::Relaxed);
                send(signed_read(key, issued(), query())).await.map(tonic::Response::into_inner).map_err(self.err(call))
            }
            Err(s) => Err(ClientError::from_status(&self.url, call, s)),
        }
    }
}

fn id_or_fresh(given: Option<&str>) -> String {
    given.map_or_else(request_id, str::to_string)
}
