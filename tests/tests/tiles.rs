//! The log over plain HTTP as C2SP tlog-tiles, read from a real `suanlid` the way an
//! outside witness or monitor would: the checkpoint from `/log/checkpoint`, Merkle tiles
//! recombined into the checkpoint's root and into proofs, entry bundles hashed into the
//! level-0 tiles, caching headers as the spec asks, and bad paths refused without any
//! effect on the log.

use std::io::{Read, Write};
use std::net::TcpStream;

use suanli_core::checkpoint::Checkpoint;
use suanli_core::ledger::InputKind;
use suanli_core::merkle::{inclusion_proof, leaf_hash, root_at, verify_inclusion};
use suanli_core::note::{Verifier, open_note};
use suanli_core::testkit::{self as tk, uscc};
use suanli_core::tiles::{Tile, TileKind, TileNodes, hash_tiles_of, parse_bundle};
use suanli_tests::{Grpc, Server, code, envelope, runtime, v1};

/// One HTTP/1.1 request on a fresh connection: (status, lower-cased headers, body).
fn http(server: &Server, method: &str, path: &str, extra: &[(&str, &str)]) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let addr = server.web_addr.as_deref().expect("web listener");
    let mut s = TcpStream::connect(addr).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in extra {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a response head");
    let head = String::from_utf8(raw[..split].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers, raw[split + 4..].to_vec())
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn get(server: &Server, path: &str) -> Vec<u8> {
    let (status, _, body) = http(server, "GET", path, &[]);
    assert_eq!(status, 200, "GET {path}: {}", String::from_utf8_lossy(&body));
    body
}

#[test]
fn tiles_over_http_recombine_into_the_checkpoint() {
    let server = Server::start();
    let rt = runtime();
    rt.block_on(async {
        let mut g = Grpc::connect(&server.url()).await;
        g.register_provider_and_renter(&server).await;
        let end = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64 - 7200;
        let envs = (0..700)
            .map(|i| {
                let r = tk::usage_record(&format!("u{i}"), &uscc(1), &uscc(3), "8", "12.50", "100.00", end, None);
                envelope(&tk::sign(InputKind::Usage, &tk::key(11), &r))
            })
            .collect();
        let acks = g.ingest.submit_usage_batch(v1::EnvelopeBatch { envelopes: envs }).await.unwrap().into_inner();
        assert!(acks.acks.iter().all(|a| code(a) == "ACCEPTED"));
        g.log_state().await; // a checkpoint covering everything
    });

    // The checkpoint: a signed note under the ledger's verifier key, never cached long.
    let vkey = Verifier::parse(server.cli_ok(&["log", "vkey"]).trim()).unwrap();
    let (status, headers, body) = http(&server, "GET", "/log/checkpoint", &[]);
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(header(&headers, "cache-control"), Some("no-cache"));
    let note = String::from_utf8(body).unwrap();
    let cp = Checkpoint::parse(&open_note(&note, std::slice::from_ref(&vkey)).unwrap().text).unwrap();
    assert!(cp.size > 700, "{note}");

    // Every hash tile of the tree: full ones immutable, partial ones short-lived.
    let mut fetched = 0;
    for tile in hash_tiles_of(cp.size) {
        let (status, headers, body) = http(&server, "GET", &format!("/log/{}", tile.path()), &[]);
        assert_eq!(status, 200, "{tile}");
        assert_eq!(body.len(), 32 * usize::from(tile.width), "{tile}");
        assert_eq!(header(&headers, "content-type"), Some("application/octet-stream"));
        let want = if tile.is_full() { "public, max-age=31536000, immutable" } else { "public, max-age=10" };
        assert_eq!(header(&headers, "cache-control"), Some(want), "{tile}");
        fetched += 1;
    }
    assert!(fetched >= 4, "{fetched} tiles for {} entries", cp.size);

    // Recombined, the tiles give the checkpoint's root and proofs that verify against it.
    let nodes = TileNodes::new(cp.size, |t: &Tile| -> Result<Vec<u8>, String> {
        let (status, _, body) = http(&server, "GET", &format!("/log/{}", t.path()), &[]);
        if status == 200 { Ok(body) } else { Err(format!("{t}: {status}")) }
    });
    assert_eq!(root_at(&nodes, cp.size).unwrap(), cp.root);
    // Entry bundles: their entries hash to the level-0 tiles, and prove into the root.
    let last = cp.size - 1;
    for index in 0..=(last / 256) {
        let bundle = Tile::in_tree(TileKind::Entries, index, cp.size).unwrap();
        let bytes = get(&server, &format!("/log/{}", bundle.path()));
        let entries = parse_bundle(&bytes, usize::from(bundle.width)).unwrap();
        let level0 = Tile::in_tree(TileKind::Hashes { level: 0 }, index, cp.size).unwrap();
        let hashes = get(&server, &format!("/log/{}", level0.path()));
        let rehashed: Vec<u8> = entries.iter().flat_map(|e| leaf_hash(e)).collect();
        assert_eq!(rehashed, hashes, "bundle {index}");
        let seq = index * 256 + entries.len() as u64 / 2;
        let proof = inclusion_proof(&nodes, seq, cp.size).unwrap();
        verify_inclusion(&leaf_hash(entries[entries.len() / 2]), seq, cp.size, &proof, &cp.root).unwrap();
    }
    // Compressed for clients that ask, with the same bytes inside.
    let (status, headers, _) = http(&server, "GET", "/log/tile/entries/000", &[("Accept-Encoding", "gzip")]);
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-encoding"), Some("gzip"));
    assert_eq!(header(&headers, "cache-control"), Some("public, max-age=31536000, immutable"));
    let (_, headers, _) = http(&server, "GET", "/log/tile/entries/000", &[("Accept-Encoding", "gzip;q=0")]);
    assert_eq!(header(&headers, "content-encoding"), None);

    // Bad paths: 400 for what is not a tile path, 404 for tiles the log does not hold, and
    // the log is untouched by any of them.
    let before = rt.block_on(async { Grpc::connect(&server.url()).await.log_state().await.0 });
    let beyond = Tile::in_tree(TileKind::Hashes { level: 0 }, last / 256, cp.size).unwrap();
    for (path, want) in [
        ("/log/tile/0/x001/x234/067", 404), // the spec's example index, far beyond this log
        ("/log/tile/0/x001/x234/067.p/8", 404),
        ("/log/tile/entries/x001/x234/067", 404),
        (&format!("/log/tile/0/{}.p/{}", suanli_core::tiles::format_index(beyond.index), beyond.width + 1), 404),
        ("/log/tile/2/000", 404),
        ("/log/tile/63/000", 404),
        ("/log/tile/0/00", 400),
        ("/log/tile/00/000", 400),
        ("/log/tile/64/000", 400),
        ("/log/tile/0/x000/001", 400),
        ("/log/tile/0/000.p/0", 400),
        ("/log/tile/0/000.p/256", 400),
        ("/log/tile/entries/000.p/08", 400),
        ("/log/tile/0/%30%30%30", 400),
        ("/log/tile/0/000/", 400),
        ("/log/tile/x/000", 400),
        ("/log/nothing", 404),
    ] {
        let (status, headers, body) = http(&server, "GET", path, &[]);
        assert_eq!(status, want, "GET {path}: {}", String::from_utf8_lossy(&body));
        assert_eq!(header(&headers, "cache-control"), None, "an error is not cached as a tile: {path}");
    }
    let long = format!("/log/tile/0/{}000", "x001/".repeat(300));
    assert_eq!(http(&server, "GET", &long, &[]).0, 400);
    assert_eq!(http(&server, "POST", "/log/checkpoint", &[("Content-Length", "0")]).0, 405);
    assert_eq!(http(&server, "DELETE", "/log/tile/0/000", &[]).0, 405);
    let (status, _, body) = http(&server, "HEAD", "/log/tile/0/000", &[]);
    assert_eq!((status, body.len()), (200, 0));
    let after = rt.block_on(async { Grpc::connect(&server.url()).await.log_state().await.0 });
    assert_eq!(before, after, "bad tile requests changed the log");
    assert_eq!(get(&server, "/log/tile/0/000"), get(&server, "/log/tile/0/000"), "a full tile never changes");
}
