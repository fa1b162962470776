//! Crash test: three compute centers stream signed usage records into a real `suanlid`
//! while it is killed with SIGKILL at random moments — right after it starts, mid-batch,
//! mid-commit, while it signs checkpoints (every few milliseconds here) and writes
//! snapshots (every 97 entries) — and restarted, again and again; some restarts are
//! themselves killed while they open the store and recover. The clients behave as
//! real ones must: a record whose ack never came is sent again after the restart.
//!
//! After every restart: the server came up within seconds; a sample of acknowledged
//! records, sent again, answers `DUPLICATE` with the original sequence number and money
//! lines; the renter pushed past its 2,000,000.00 cap, the suppliers and the voucher stay
//! within their limits and hold at least what was acknowledged to them. Every few kills and
//! at the end: the whole log is exported and verified offline by `suanli log verify`
//! (signatures, Merkle root against the signed checkpoint, replay of every entry through
//! the policy), every acknowledged record is in it exactly once with the acknowledged
//! lines, and no record id appears twice.
//!
//! `SUANLI_CRASH_SEED=<n>` replays a run (the seed is printed), `SUANLI_CRASH_KILLS=<n>`
//! sets the number of kills (default 50; use 500+ for a soak).

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, Instant};

use prost::Message;
use rust_decimal::Decimal;
use suanli_core::entry::{Body, Entry};
use suanli_core::export::ExportReader;
use suanli_core::ledger::InputKind;
use suanli_core::testkit::{self as tk, public, uscc};
use suanli_core::time::parse_rfc3339;
use suanli_core::wire;
use suanli_tests::{Grpc, Rng, Server, code, env_u64, envelope, read, runtime, seed_from_env, v1};
use tokio_stream::StreamExt;

const PROVIDERS: u64 = 3;
/// The renter whose subsidy cap (2,000,000.00 a year) the load runs into.
const CAPPED_RENTER: u64 = 5;
const SMALL_RENTER: u64 = 4;
const HOLDER: u64 = 6;
const CAP: &str = "2000000.00";
const VOUCHER_FACE: &str = "200000.00";

const CONFIG: &str = "checkpoint_interval_ms = 3\nsnapshot_interval_entries = 97\n[limits]\ncommit_records_max = 256\n";

#[derive(Debug, Clone, PartialEq)]
struct Acked {
    seq: u64,
    lines: Option<v1::MoneyLines>,
}

/// One compute center's client: the records it made, the ones still waiting for an ack.
struct Client {
    p: u64,
    rng: Rng,
    made: u64,
    /// (record id, renter number, envelope), in the order made.
    records: Vec<(String, u64, v1::Envelope)>,
    /// Indexes into `records` sent but not acknowledged (or not yet sent).
    pending: VecDeque<usize>,
    acked: BTreeMap<String, (usize, Acked)>,
    seed: u64,
}

impl Client {
    fn new(p: u64, seed: u64) -> Client {
        Client {
            p,
            rng: Rng::new(seed ^ (p + 1).wrapping_mul(0x1234_5678_9abc)),
            made: 0,
            records: Vec::new(),
            pending: VecDeque::new(),
            acked: BTreeMap::new(),
            seed,
        }
    }

    fn provider(&self) -> suanli_core::ids::Uscc {
        uscc(1 + self.p)
    }

    /// A new record: mostly small ones, a fifth big enough that the capped renter and
    /// the suppliers run into their caps, and (first provider) voucher draws.
    fn make(&mut self) {
        let n = self.made;
        self.made += 1;
        let id = format!("c{}-{n}", self.p);
        let roll = self.rng.below(100);
        let (renter, gpu_hours, amount, voucher) = if roll < 20 {
            (CAPPED_RENTER, "80000", "1000000.00", None)
        } else if roll < 35 && self.p == 0 {
            (HOLDER, "800", "10000.00", Some("V1"))
        } else {
            (SMALL_RENTER, "8", "100.00", None)
        };
        let end = parse_rfc3339("2026-06-30T12:00:00+08:00").expect("time");
        let r = tk::usage_record(&id, &self.provider(), &uscc(renter), gpu_hours, "12.50", amount, end, voucher);
        let env = envelope(&tk::sign(InputKind::Usage, &tk::key(11 + self.p), &r));
        self.pending.push_back(self.records.len());
        self.records.push((id, renter, env));
    }

    fn note_ack(&mut self, i: usize, ack: &v1::Ack) {
        let id = &self.records[i].0;
        let status = code(ack);
        assert!(
            status == "ACCEPTED" || status == "DUPLICATE",
            "seed {}: record {id} was answered {status}: {}",
            self.seed,
            ack.detail
        );
        let a = Acked { seq: ack.seq, lines: ack.lines.clone() };
        if let Some((_, before)) = self.acked.get(id) {
            assert_eq!(before, &a, "seed {}: record {id} was answered twice, differently", self.seed);
        } else {
            self.acked.insert(id.clone(), (i, a));
        }
    }

    /// Streams chunks of records until the server goes away, retrying unacknowledged ones.
    async fn feed(mut self, url: String) -> Client {
        let Ok(channel) = tonic::transport::Endpoint::from_shared(url).expect("url").connect().await else {
            return self;
        };
        let mut ingest = v1::ingest_client::IngestClient::new(channel);
        loop {
            let k = 1 + self.rng.below(64) as usize;
            while self.pending.len() < k {
                self.make();
            }
            let chunk: Vec<usize> = self.pending.iter().take(k).copied().collect();
            let envs: Vec<v1::Envelope> = chunk.iter().map(|&i| self.records[i].2.clone()).collect();
            let Ok(resp) = ingest.submit_usage(tokio_stream::iter(envs)).await else {
                return self;
            };
            let mut acks = resp.into_inner();
            let mut broken = false;
            while let Some(item) = acks.next().await {
                match item {
                    Ok(ack) => {
                        let i = chunk[ack.index as usize];
                        self.note_ack(i, &ack);
                    }
                    Err(_) => {
                        broken = true;
                        break;
                    }
                }
            }
            let acked = &self.acked;
            let records = &self.records;
            self.pending.retain(|&i| !acked.contains_key(&records[i].0));
            if broken {
                return self;
            }
        }
    }
}

async fn setup(g: &mut Grpc, admin: &ed25519_dalek::SigningKey) {
    let mut ops = Vec::new();
    for p in 0..PROVIDERS {
        ops.push(tk::register(&uscc(1 + p), &format!("P{p}"), tk::flags(true, false, true, false, false), None));
        ops.push(tk::add_key(&uscc(1 + p), &public(&tk::key(11 + p))));
    }
    ops.push(tk::register(&uscc(SMALL_RENTER), "R small", tk::flags(false, true, false, false, false), None));
    ops.push(tk::register(&uscc(CAPPED_RENTER), "R capped", tk::flags(false, true, false, false, false), None));
    ops.push(tk::register(&uscc(HOLDER), "O", tk::flags(false, true, false, true, false), None));
    ops.push(tk::add_key(&uscc(HOLDER), &public(&tk::key(16))));
    ops.push(wire::admin_request::Op::IssueVoucher(wire::IssueVoucher {
        voucher_id: "V1".into(),
        holder_id: uscc(HOLDER).to_string(),
        kind: wire::VoucherKind::Compute as i32,
        face_value: VOUCHER_FACE.into(),
        valid_from: parse_rfc3339("2026-01-01T00:00:00+08:00").unwrap(),
        valid_until: parse_rfc3339("2027-01-01T00:00:00+08:00").unwrap(),
    }));
    g.admin_accepted(admin, ops).await;
    let auth = wire::holder_request::Op::Authorize(wire::Authorize {
        voucher_id: "V1".into(),
        provider_id: uscc(1).to_string(),
        limit: String::new(),
    });
    let ack = g.vouchers.apply(envelope(&tk::holder(&tk::key(16), &uscc(HOLDER), "a1", auth))).await.unwrap();
    assert_eq!(code(&ack.into_inner()), "ACCEPTED");
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap_or_else(|e| panic!("{s:?} is not a decimal: {e}"))
}

/// Checks right after a restart, through the running server.
async fn check_live(g: &mut Grpc, admin: &ed25519_dalek::SigningKey, clients: &[Client], rng: &mut Rng, seed: u64) {
    // A sample of acknowledged records, sent again: each is DUPLICATE with its original answer.
    for c in clients {
        let ids: Vec<&String> = c.acked.keys().collect();
        if ids.is_empty() {
            continue;
        }
        let sample: Vec<&String> = (0..16).map(|_| ids[rng.below(ids.len() as u64) as usize]).collect();
        let envs: Vec<v1::Envelope> = sample.iter().map(|id| c.records[c.acked[*id].0].2.clone()).collect();
        let acks = g.submit_all(envs).await;
        assert_eq!(acks.len(), sample.len());
        for (id, ack) in sample.iter().zip(&acks) {
            let want = &c.acked[*id].1;
            assert_eq!(code(ack), "DUPLICATE", "seed {seed}: acknowledged record {id} was not in the log");
            assert_eq!((ack.seq, &ack.lines), (want.seq, &want.lines), "seed {seed}: record {id} changed");
        }
    }
    // Caps hold, and hold at least what was acknowledged.
    let cap = dec(CAP);
    let acked_sum = |renter: Option<u64>, provider: Option<u64>, f: fn(&v1::MoneyLines) -> &str| -> Decimal {
        clients
            .iter()
            .filter(|c| provider.is_none_or(|p| p == c.p))
            .flat_map(|c| c.acked.values().map(move |(i, a)| (c.records[*i].1, a)))
            .filter(|(r, _)| renter.is_none_or(|want| want == *r))
            .map(|(_, a)| dec(f(a.lines.as_ref().expect("lines"))))
            .sum()
    };
    let entity = |n: u64| v1::read_request::Query::Entity(v1::EntityQuery { id: uscc(n).to_string() });
    let info = g.registry.get_entity(read(admin, entity(CAPPED_RENTER))).await.unwrap().into_inner();
    let used: Decimal = info.cap_use.iter().map(|u| dec(&u.renter_subsidy)).sum();
    assert!(used <= cap, "seed {seed}: the capped renter holds {used}");
    let acked_r = acked_sum(Some(CAPPED_RENTER), None, |l| &l.renter_subsidy);
    assert!(used >= acked_r, "seed {seed}: renter subsidy {used} < acknowledged {acked_r}");
    for c in clients {
        let info = g.registry.get_entity(read(admin, entity(1 + c.p))).await.unwrap().into_inner();
        let used: Decimal = info.cap_use.iter().map(|u| dec(&u.supplier_subsidy)).sum();
        assert!(used <= cap, "seed {seed}: supplier {} holds {used}", c.p);
        let acked_s = acked_sum(None, Some(c.p), |l| &l.supplier_subsidy);
        assert!(used >= acked_s, "seed {seed}: supplier subsidy {used} < acknowledged {acked_s}");
    }
    let q = v1::read_request::Query::Voucher(v1::VoucherQuery { voucher_id: "V1".into() });
    let v = g.vouchers.get_voucher(read(admin, q)).await.unwrap().into_inner();
    let drawn = dec(&v.drawn);
    assert!(drawn <= dec(VOUCHER_FACE), "seed {seed}: V1 drawn {drawn}");
    let acked_v = acked_sum(Some(HOLDER), None, |l| &l.voucher_drawn);
    assert!(drawn >= acked_v, "seed {seed}: V1 drawn {drawn} < acknowledged {acked_v}");
}

/// Exports the whole log, verifies it offline with `suanli log verify`, and checks that
/// every acknowledged record is in it exactly once. Returns the number of entries.
fn check_log(server: &Server, dir: &Path, clients: &[Client], seed: u64) -> u64 {
    let key = server.cli_ok(&["pubkey", &server.data_dir.join("ledger.key").to_string_lossy()]).trim().to_string();
    let cp = server.cli_ok(&["log", "checkpoint", "--ledger-pubkey", &key]);
    let cp_path = dir.join("cp");
    std::fs::write(&cp_path, &cp).unwrap();
    let export = dir.join("log.export");
    let _ = std::fs::remove_file(&export);
    server.cli_ok(&["log", "export", "--out", &export.to_string_lossy()]);
    let out = server.cli(&[
        "log",
        "verify",
        "--export",
        &export.to_string_lossy(),
        "--checkpoint",
        &cp_path.to_string_lossy(),
        "--ledger-pubkey",
        &key,
    ]);
    assert!(out.status.success(), "seed {seed}: log verify failed: {}", String::from_utf8_lossy(&out.stderr));

    let mut reader = ExportReader::new(std::io::BufReader::new(std::fs::File::open(&export).unwrap())).unwrap();
    let mut seen: BTreeMap<(String, String), (u64, v1::MoneyLines)> = BTreeMap::new();
    let mut renter_r: BTreeMap<String, Decimal> = BTreeMap::new();
    let mut entries = 0;
    while let Some((seq, bytes)) = reader.next_entry().unwrap() {
        entries += 1;
        let entry = Entry::decode(&bytes).unwrap();
        if let Body::Usage { input, lines } = &entry.body {
            let r = wire::UsageRecord::decode(input.payload.as_slice()).unwrap();
            *renter_r.entry(r.renter_id.clone()).or_default() += lines.renter;
            let before =
                seen.insert((r.provider_id, r.record_id.clone()), (seq, suanli_proto::convert::money_lines(lines)));
            assert!(before.is_none(), "seed {seed}: record {} is in the log twice", r.record_id);
        }
    }
    for (renter, r) in &renter_r {
        assert!(*r <= dec(CAP), "seed {seed}: renter {renter} was granted {r} in the log");
    }
    for c in clients {
        for (id, (_, a)) in &c.acked {
            let (seq, lines) = seen
                .get(&(c.provider().to_string(), id.clone()))
                .unwrap_or_else(|| panic!("seed {seed}: acknowledged record {id} is not in the log"));
            assert_eq!((*seq, Some(lines)), (a.seq, a.lines.as_ref()), "seed {seed}: record {id}");
        }
    }
    entries
}

#[test]
fn kill_9_under_load_loses_nothing_acknowledged() {
    let seed = seed_from_env("SUANLI_CRASH_SEED", 20_261_128);
    let kills = env_u64("SUANLI_CRASH_KILLS", 50);
    let audit_every = 10;
    let mut rng = Rng::new(seed);
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let config = tmp.path().join("suanlid.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let config = config.to_string_lossy().into_owned();
    let start = |data: &Path| {
        let t = Instant::now();
        let s = Server::start_in(data, &["--config", &config]);
        let took = t.elapsed();
        assert!(took < Duration::from_secs(20), "seed {seed}: suanlid took {took:?} to start");
        (s, took)
    };
    let (mut server, _) = start(&data);
    let admin = Server::read_key(&server.admin_key());
    let rt = runtime();
    rt.block_on(async {
        let mut g = Grpc::connect(&server.url()).await;
        setup(&mut g, &admin).await;
    });
    let mut clients: Vec<Client> = (0..PROVIDERS).map(|p| Client::new(p, seed)).collect();
    let mut slowest_start = Duration::ZERO;
    let mut entries = 0;
    let mut kills_in_recovery = 0;
    for kill in 1..=kills {
        // When to kill: mostly mid-load, sometimes before the first batch is committed.
        let delay_ms = match rng.below(10) {
            0 => rng.below(5),
            1..=6 => rng.below(150),
            _ => 150 + rng.below(350),
        };
        let url = server.url();
        clients = rt.block_on(async {
            let tasks: Vec<_> =
                std::mem::take(&mut clients).into_iter().map(|c| tokio::spawn(c.feed(url.clone()))).collect();
            tokio::time::sleep(Duration::from_millis(delay_ms)).await;
            server.kill();
            let mut back = Vec::new();
            for t in tasks {
                back.push(tokio::time::timeout(Duration::from_secs(30), t).await.expect("client ends").unwrap());
            }
            back
        });
        // Sometimes the restart itself is killed, while it opens the store and recovers.
        if rng.chance(15) {
            let mut child = std::process::Command::new(suanli_tests::bin("suanlid"))
                .arg("--data-dir")
                .arg(&server.data_dir)
                .args(["--listen", "127.0.0.1:0", "--web-listen", "off", "--config", &config])
                .env("SUANLI_LOG", "warn")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            std::thread::sleep(Duration::from_millis(rng.below(40)));
            let _ = child.kill();
            let _ = child.wait();
            kills_in_recovery += 1;
        }
        let (s, took) = start(&server.data_dir);
        slowest_start = slowest_start.max(took);
        server = s;
        rt.block_on(async {
            let mut g = Grpc::connect(&server.url()).await;
            check_live(&mut g, &admin, &clients, &mut rng, seed).await;
        });
        if kill % audit_every == 0 || kill == kills {
            entries = check_log(&server, tmp.path(), &clients, seed);
        }
    }
    let acked: usize = clients.iter().map(|c| c.acked.len()).sum();
    let made: u64 = clients.iter().map(|c| c.made).sum();
    eprintln!(
        "seed {seed}: survived {kills} kills under load and {kills_in_recovery} during recovery; {made} records made, {acked} acknowledged and found exactly once in a log of {entries} entries; slowest restart {slowest_start:?}"
    );
    assert!(acked > 0);
    server.stop();
}
