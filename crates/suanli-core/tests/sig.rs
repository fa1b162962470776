//! Evidence for the one promise of `suanli_core::sig`: a signature gets the same verdict
//! alone, as a batch of one and inside any batch, and that verdict is the documented rule.
//! The CCTV vectors (shared/testdata/ed25519) cover every edge case of the point inputs; the
//! crafted signatures below cover the cases that split cofactored from cofactorless checks.

use std::collections::BTreeMap;

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use sha2::{Digest, Sha512};
use suanli_core::sig::{
    Domain, Item, KeyError, KeyRef, PublicKey, SigError, check_public_key, sign, verify, verify_batch,
    verify_batch_grouped, verify_raw,
};

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/testdata/ed25519/ed25519vectors.json");

struct Vector {
    number: u64,
    key: [u8; 32],
    sig: [u8; 64],
    msg: Vec<u8>,
    flags: Vec<String>,
}

impl Vector {
    fn has(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }
}

fn hex_array<const N: usize>(s: &str) -> [u8; N] {
    hex::decode(s).unwrap().try_into().unwrap()
}

/// The vectors, and how many entries the file holds (so none can be skipped silently).
fn load_vectors() -> (Vec<Vector>, usize) {
    let text = std::fs::read_to_string(VECTORS).unwrap_or_else(|e| panic!("{VECTORS}: {e}"));
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let entries = json.as_array().unwrap();
    let vectors = entries
        .iter()
        .map(|v| Vector {
            number: v["number"].as_u64().unwrap(),
            key: hex_array(v["key"].as_str().unwrap()),
            sig: hex_array(v["sig"].as_str().unwrap()),
            msg: v["msg"].as_str().unwrap().as_bytes().to_vec(),
            // One vector (the plain signature) has `"flags": null`.
            flags: v["flags"]
                .as_array()
                .map(|f| f.iter().map(|x| x.as_str().unwrap().to_owned()).collect())
                .unwrap_or_default(),
        })
        .collect();
    (vectors, entries.len())
}

/// The rows of the table in sig.rs's module comment: the first row that matches a vector
/// decides its verdict. The counts are the table's counts; this test keeps them honest.
const CLASSES: [(&str, Result<(), SigError>, usize); 7] = [
    ("non_canonical_A", Err(SigError::Key(KeyError::NonCanonical)), 226),
    ("low_order_A (canonical)", Err(SigError::Key(KeyError::Weak)), 300),
    ("non_canonical_R", Err(SigError::NonCanonicalR), 176),
    ("low_order_residue", Ok(()), 126),
    ("low_order_R (canonical)", Ok(()), 43),
    ("low_order_component_A/_R only", Ok(()), 42),
    ("no flag", Ok(()), 1),
];

fn class_of(v: &Vector) -> usize {
    if v.has("non_canonical_A") {
        0
    } else if v.has("low_order_A") {
        1
    } else if v.has("non_canonical_R") {
        2
    } else if v.has("low_order_residue") {
        3
    } else if v.has("low_order_R") {
        4
    } else if v.flags.is_empty() {
        6
    } else {
        assert!(v.flags.iter().all(|f| f.starts_with("low_order_component_")), "{}", v.number);
        5
    }
}

/// A fresh valid signature over a raw message, for mixing into batches.
struct Honest {
    vk: VerifyingKey,
    pk: PublicKey,
    msg: Vec<u8>,
    sig: [u8; 64],
}

fn honest(rng: &mut StdRng) -> Honest {
    let key = SigningKey::generate(rng);
    let len = rng.gen_range(0..200);
    let msg: Vec<u8> = (0..len).map(|_| rng.r#gen()).collect();
    let sig = key.sign(&msg).to_bytes();
    Honest { vk: key.verifying_key(), pk: public(&key), msg, sig }
}

/// Something to put in a batch: a vector (with its key as bytes, or prepared when the key
/// passes) or an honest signature.
#[derive(Clone, Copy)]
enum Entry {
    Vector(usize),
    Honest(usize),
}

fn item<'a>(
    entry: Entry,
    vectors: &'a [Vector],
    prepared: &'a [Option<PublicKey>],
    pool: &'a [Honest],
    use_prepared: bool,
) -> Item<'a> {
    match entry {
        Entry::Vector(i) => {
            let v = &vectors[i];
            match (&prepared[i], use_prepared) {
                (Some(pk), true) => Item::raw(pk, &v.msg, &v.sig),
                _ => Item::raw(&v.key, &v.msg, &v.sig),
            }
        }
        Entry::Honest(i) => {
            let h = &pool[i];
            if use_prepared { Item::raw(&h.pk, &h.msg, &h.sig) } else { Item::raw(h.pk.as_bytes(), &h.msg, &h.sig) }
        }
    }
}

fn expected_of(entry: Entry, vectors: &[Vector]) -> Result<(), SigError> {
    match entry {
        Entry::Vector(i) => CLASSES[class_of(&vectors[i])].1,
        Entry::Honest(_) => Ok(()),
    }
}

/// Checks every entry of each batch against its expected (and single) verdict; returns how
/// many vectors were checked inside batches.
fn check_batches(
    batches: &[Vec<Entry>],
    vectors: &[Vector],
    prepared: &[Option<PublicKey>],
    pool: &[Honest],
    use_prepared: bool,
) -> usize {
    let mut vectors_seen = 0;
    for batch in batches {
        let items: Vec<Item<'_>> = batch.iter().map(|&e| item(e, vectors, prepared, pool, use_prepared)).collect();
        let verdicts = verify_batch(&items);
        assert_eq!(verdicts.len(), items.len());
        // The same items as the submissions of several clients (groups of three, and an
        // empty one): the same verdicts, whichever group holds the bad ones.
        let mut groups = vec![0];
        groups.extend(items.chunks(3).map(<[_]>::len));
        assert_eq!(verify_batch_grouped(&items, &groups), verdicts);
        for ((entry, it), got) in batch.iter().zip(&items).zip(&verdicts) {
            assert_eq!(*got, expected_of(*entry, vectors));
            assert_eq!(*got, it.verify());
            if let Entry::Vector(_) = entry {
                vectors_seen += 1;
            }
        }
    }
    vectors_seen
}

#[test]
fn cctv_vectors_get_one_verdict_alone_and_in_any_batch() {
    let (vectors, in_file) = load_vectors();
    assert!(in_file > 0);
    assert_eq!(vectors.len(), in_file);

    // Alone, as a batch of one, with the key as bytes and (when it passes) prepared.
    let mut prepared = Vec::new();
    let mut per_class = [(0usize, 0usize); CLASSES.len()];
    let mut per_flag: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let (mut dalek_verify, mut dalek_strict, mut dalek_batch) = (0, 0, 0);
    let mut dalek_batch_disagrees_with_verify = 0;
    for v in &vectors {
        let class = class_of(v);
        let single = verify_raw(&v.key, &v.msg, &v.sig);
        assert_eq!(single, CLASSES[class].1, "vector {} {:?}", v.number, v.flags);
        assert_eq!(verify_batch(&[Item::raw(&v.key, &v.msg, &v.sig)]), vec![single]);
        let key = check_public_key(&v.key);
        match (&key, single) {
            (Err(e), Err(SigError::Key(f))) => assert_eq!(*e, f),
            (Err(e), other) => panic!("vector {}: key refused ({e}) but verdict {other:?}", v.number),
            (Ok(vk), _) => {
                assert_eq!(vk.as_bytes(), &v.key);
                assert_eq!(verify_raw(vk, &v.msg, &v.sig), single);
                assert_eq!(verify_batch(&[Item::raw(vk, &v.msg, &v.sig)]), vec![single]);
            }
        }
        prepared.push(key.ok());

        let slot = &mut per_class[class];
        if single.is_ok() {
            slot.0 += 1
        } else {
            slot.1 += 1
        }
        for f in &v.flags {
            let counts = per_flag.entry(f.as_str()).or_default();
            if single.is_ok() { counts.0 += 1 } else { counts.1 += 1 }
        }

        // What ed25519-dalek itself would say, to show why sig.rs does its own check.
        if let Ok(vk) = VerifyingKey::from_bytes(&v.key) {
            let sig = Signature::from_bytes(&v.sig);
            let plain = vk.verify(&v.msg, &sig).is_ok();
            let batch = ed25519_dalek::verify_batch(&[&v.msg[..]], &[sig], &[vk]).is_ok();
            dalek_verify += usize::from(plain);
            dalek_strict += usize::from(vk.verify_strict(&v.msg, &sig).is_ok());
            dalek_batch += usize::from(batch);
            dalek_batch_disagrees_with_verify += usize::from(plain != batch);
        }
    }

    // Inside batches: each vector among 31 honest signatures, and all vectors shuffled with
    // honest ones and each other into batches of random sizes, keys as bytes or prepared.
    let mut rng = StdRng::seed_from_u64(1);
    let pool: Vec<Honest> = (0..400).map(|_| honest(&mut rng)).collect();
    let mut in_batches = 0;
    for use_prepared in [false, true] {
        let mut batches = Vec::new();
        for i in 0..vectors.len() {
            let mut batch: Vec<Entry> = (0..31).map(|_| Entry::Honest(rng.gen_range(0..pool.len()))).collect();
            batch.insert(rng.gen_range(0..=batch.len()), Entry::Vector(i));
            batches.push(batch);
        }
        in_batches += check_batches(&batches, &vectors, &prepared, &pool, use_prepared);
    }
    for round in 0..6 {
        let mut entries: Vec<Entry> = (0..vectors.len()).map(Entry::Vector).collect();
        if round % 2 == 0 {
            entries.extend((0..pool.len()).map(Entry::Honest));
        }
        entries.shuffle(&mut rng);
        let mut batches = Vec::new();
        let mut rest = &entries[..];
        while !rest.is_empty() {
            let n = rng.gen_range(1..=256).min(rest.len());
            batches.push(rest[..n].to_vec());
            rest = &rest[n..];
        }
        in_batches += check_batches(&batches, &vectors, &prepared, &pool, round >= 3);
    }
    assert_eq!(in_batches, 8 * vectors.len());

    println!("CCTV vectors: {} checked alone, {in_batches} times in batches", vectors.len());
    println!("| vectors with | count | accepted | refused |");
    for ((name, verdict, count), (ok, bad)) in CLASSES.iter().zip(per_class) {
        println!("| {name} | {} | {ok} | {bad} | ({verdict:?})", ok + bad);
        assert_eq!(ok + bad, *count, "{name}");
        assert_eq!(if verdict.is_ok() { bad } else { ok }, 0, "{name}");
    }
    println!("per flag (accepted, refused): {per_flag:?}");
    let accepted: usize = per_class.iter().map(|c| c.0).sum();
    println!("accepted {accepted}, refused {}", vectors.len() - accepted);
    println!(
        "ed25519-dalek on the same vectors: verify accepts {dalek_verify}, verify_strict \
         {dalek_strict}, verify_batch of one {dalek_batch}; batch and verify disagree on \
         {dalek_batch_disagrees_with_verify}"
    );
    assert_eq!(per_class.iter().map(|c| c.0 + c.1).sum::<usize>(), in_file);
}

// ---- crafted signatures ----------------------------------------------------------------

/// Small-order points (from the CCTV README): one of order 2, one of order 8.
fn order_2() -> EdwardsPoint {
    let bytes = hex_array("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f");
    CompressedEdwardsY(bytes).decompress().unwrap()
}

fn order_8() -> EdwardsPoint {
    let bytes = hex_array("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05");
    CompressedEdwardsY(bytes).decompress().unwrap()
}

fn public(key: &SigningKey) -> PublicKey {
    PublicKey::from_verifying_key(key.verifying_key()).unwrap()
}

fn random_scalar(rng: &mut StdRng) -> Scalar {
    let mut wide = [0u8; 64];
    rng.fill(&mut wide[..]);
    Scalar::from_bytes_mod_order_wide(&wide)
}

/// Signs `tag ‖ msg` by hand with secret scalar `a`, for the key `[a]B + key_torsion` and
/// the nonce point `[r]B + r_torsion`. The cofactored equation holds for any torsion; the
/// cofactorless one only when `[k]key_torsion + r_torsion` is zero.
fn craft(
    rng: &mut StdRng,
    key_torsion: EdwardsPoint,
    r_torsion: EdwardsPoint,
    tag: &[u8],
    msg: &[u8],
) -> ([u8; 32], [u8; 64]) {
    let a = random_scalar(rng);
    let r = random_scalar(rng);
    let key = (ED25519_BASEPOINT_POINT * a + key_torsion).compress().to_bytes();
    let big_r = (ED25519_BASEPOINT_POINT * r + r_torsion).compress().to_bytes();
    let hram: [u8; 64] =
        Sha512::new().chain_update(big_r).chain_update(key).chain_update(tag).chain_update(msg).finalize().into();
    let k = Scalar::from_bytes_mod_order_wide(&hram);
    let s = r + k * a;
    let mut sig = [0u8; 64];
    sig[..32].copy_from_slice(&big_r);
    sig[32..].copy_from_slice(s.as_bytes());
    (key, sig)
}

#[test]
fn dalek_batch_verdict_depends_on_companions_and_ours_does_not() {
    // R carries an order-2 point: cofactorless single verify refuses, the cofactored rule
    // accepts, and dalek's batch passes it exactly when its random weight is even.
    let mut rng = StdRng::seed_from_u64(2);
    let msg = b"residue";
    let (key, sig) = craft(&mut rng, EdwardsPoint::default(), order_2(), b"", msg);
    let vk = VerifyingKey::from_bytes(&key).unwrap();
    assert!(vk.verify(msg, &Signature::from_bytes(&sig)).is_err());
    assert_eq!(verify_raw(&key, msg, &sig), Ok(()));

    let mut dalek_verdicts = Vec::new();
    for _ in 0..32 {
        let h = honest(&mut rng);
        let msgs: [&[u8]; 2] = [msg, &h.msg];
        let sigs = [Signature::from_bytes(&sig), Signature::from_bytes(&h.sig)];
        dalek_verdicts.push(ed25519_dalek::verify_batch(&msgs, &sigs, &[vk, h.vk]).is_ok());
        let ours = verify_batch(&[Item::raw(&key, msg, &sig), Item::raw(&h.pk, &h.msg, &h.sig)]);
        assert_eq!(ours, vec![Ok(()), Ok(())]);
    }
    // If this fails, dalek's batch check has become deterministic; sig.rs could then be
    // simplified, but its rule must stay the same.
    assert!(dalek_verdicts.contains(&true) && dalek_verdicts.contains(&false));
}

#[test]
fn only_the_signer_can_put_a_small_order_point_in_r() {
    // k is hashed over R's bytes, so a third party who adds a small-order point to a valid
    // R changes k and breaks the signature; only the key's owner, who can recompute s, can
    // make such a signature (and a signer can pick any nonce anyway).
    let mut rng = StdRng::seed_from_u64(3);
    let key = SigningKey::generate(&mut rng);
    let msg = b"record bytes";
    let sig = sign(&key, Domain::Usage, msg);
    let r = CompressedEdwardsY(sig[..32].try_into().unwrap()).decompress().unwrap();
    for t in [order_2(), order_8()] {
        let mut twisted = sig;
        twisted[..32].copy_from_slice((r + t).compress().as_bytes());
        let verdict = verify(&public(&key), Domain::Usage, msg, &twisted);
        assert_eq!(verdict, Err(SigError::Equation));
        let tag = Domain::Usage.tag();
        let (pk, crafted) = craft(&mut rng, EdwardsPoint::default(), t, tag, msg);
        assert_eq!(verify(&pk, Domain::Usage, msg, &crafted), Ok(()));
    }
}

// ---- honest traffic and tampering --------------------------------------------------------

#[test]
fn thousands_of_valid_signatures_are_accepted_alone_and_in_batches() {
    let mut rng = StdRng::seed_from_u64(4);
    let keys: Vec<SigningKey> = (0..50).map(|_| SigningKey::generate(&mut rng)).collect();
    let vks: Vec<PublicKey> = keys.iter().map(|k| check_public_key(k.verifying_key().as_bytes()).unwrap()).collect();
    let mut owners = Vec::new();
    let mut domains = Vec::new();
    let mut msgs = Vec::new();
    let mut sigs = Vec::new();
    for _ in 0..3000 {
        let owner = rng.gen_range(0..keys.len());
        let domain = Domain::ALL[rng.gen_range(0..Domain::ALL.len())];
        let len = rng.gen_range(0..300);
        let msg: Vec<u8> = (0..len).map(|_| rng.r#gen()).collect();
        sigs.push(sign(&keys[owner], domain, &msg));
        owners.push(owner);
        domains.push(domain);
        msgs.push(msg);
    }
    for i in 0..sigs.len() {
        assert_eq!(verify(&vks[owners[i]], domains[i], &msgs[i], &sigs[i]), Ok(()));
        assert_eq!(verify(vks[owners[i]].as_bytes(), domains[i], &msgs[i], &sigs[i]), Ok(()));
        // Agrees with dalek's strictest check on the tagged bytes.
        let tagged = [domains[i].tag(), &msgs[i][..]].concat();
        assert!(vks[owners[i]].verifying_key().verify_strict(&tagged, &Signature::from_bytes(&sigs[i])).is_ok());
    }
    let items: Vec<Item<'_>> =
        (0..sigs.len()).map(|i| Item::new(&vks[owners[i]], domains[i], &msgs[i], &sigs[i])).collect();
    for size in [2, 64, 100, 256, 1000] {
        for chunk in items.chunks(size) {
            assert!(verify_batch(chunk).iter().all(Result::is_ok));
        }
    }
}

/// Every single-bit flip of message, signature or key is refused alone, and in a batch of
/// 64 honest signatures it is the only item refused, for the same reason.
#[test]
fn any_flipped_bit_is_refused_alone_and_found_in_a_batch() {
    let mut rng = StdRng::seed_from_u64(5);
    let key = SigningKey::generate(&mut rng);
    let pk = key.verifying_key().to_bytes();
    let msg = b"{\"record_id\":\"r-1\",\"gpu_hours\":\"12.5\"}".to_vec();
    let sig = sign(&key, Domain::Usage, &msg);
    let pool: Vec<(PublicKey, Vec<u8>, [u8; 64])> = (0..63)
        .map(|i| {
            let k = SigningKey::generate(&mut rng);
            let m = format!("record {i}").into_bytes();
            let s = sign(&k, Domain::Usage, &m);
            (public(&k), m, s)
        })
        .collect();

    let mut tampered = Vec::new();
    for bit in 0..msg.len() * 8 {
        let mut m = msg.clone();
        m[bit / 8] ^= 1 << (bit % 8);
        tampered.push((pk, m, sig));
    }
    for bit in 0..512 {
        let mut s = sig;
        s[bit / 8] ^= 1 << (bit % 8);
        tampered.push((pk, msg.clone(), s));
    }
    for bit in 0..256 {
        let mut k = pk;
        k[bit / 8] ^= 1 << (bit % 8);
        tampered.push((k, msg.clone(), sig));
    }
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    for (k, m, s) in &tampered {
        let single = verify(k, Domain::Usage, m, s);
        assert!(single.is_err());
        *reasons.entry(format!("{single:?}")).or_default() += 1;
        let at = rng.gen_range(0..=pool.len());
        let mut items: Vec<Item<'_>> = pool.iter().map(|(vk, pm, ps)| Item::new(vk, Domain::Usage, pm, ps)).collect();
        items.insert(at, Item::new(k, Domain::Usage, m, s));
        let verdicts = verify_batch(&items);
        for (i, v) in verdicts.iter().enumerate() {
            if i == at { assert_eq!(*v, single) } else { assert_eq!(*v, Ok(())) }
        }
    }
    println!("{} tampered signatures refused: {reasons:?}", tampered.len());
}

#[test]
fn bad_items_anywhere_in_a_batch_of_64_are_the_only_ones_refused() {
    let mut rng = StdRng::seed_from_u64(6);
    let key = SigningKey::generate(&mut rng);
    let vk = public(&key);
    let msgs: Vec<Vec<u8>> = (0..64).map(|i| format!("usage {i}").into_bytes()).collect();
    let good: Vec<[u8; 64]> = msgs.iter().map(|m| sign(&key, Domain::Usage, m)).collect();
    let mut bad_sets: Vec<Vec<usize>> = vec![vec![31], vec![32], vec![0], vec![63], vec![0, 63]];
    bad_sets.push((0..64).collect());
    bad_sets.push((0..64).step_by(2).collect());
    for _ in 0..20 {
        let n = rng.gen_range(1..8);
        bad_sets.push((0..n).map(|_| rng.gen_range(0..64)).collect());
    }
    for bad in bad_sets {
        let mut sigs = good.clone();
        for &b in &bad {
            // Sign another message: a well-formed signature that fails only the equation.
            sigs[b] = sign(&key, Domain::Usage, b"something else");
        }
        let items: Vec<Item<'_>> = (0..64).map(|i| Item::new(&vk, Domain::Usage, &msgs[i], &sigs[i])).collect();
        let verdicts = verify_batch(&items);
        for (i, v) in verdicts.iter().enumerate() {
            let expected = if bad.contains(&i) { Err(SigError::Equation) } else { Ok(()) };
            assert_eq!(*v, expected, "item {i}, bad {bad:?}");
        }
    }
}

// ---- keys and domains ----------------------------------------------------------------

#[test]
fn weak_and_off_curve_keys_are_refused_at_registration() {
    for hex in [
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0000000000000000000000000000000000000000000000000000000000000080",
        "0100000000000000000000000000000000000000000000000000000000000000",
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    ] {
        assert_eq!(check_public_key(&hex_array(hex)), Err(KeyError::Weak), "{hex}");
    }
    let off_curve = (0u8..=255)
        .map(|y| {
            let mut b = [0u8; 32];
            b[0] = y;
            b
        })
        .find(|b| CompressedEdwardsY(*b).decompress().is_none())
        .unwrap();
    assert_eq!(check_public_key(&off_curve), Err(KeyError::NotOnCurve));

    // A VerifyingKey, which dalek builds from any point encoding, goes through the same check.
    let weak = VerifyingKey::from_bytes(&[0u8; 32]).unwrap();
    assert_eq!(PublicKey::from_verifying_key(weak), Err(KeyError::Weak));
    let negative_zero: [u8; 32] = hex_array("0100000000000000000000000000000000000000000000000000000000000080");
    let odd = VerifyingKey::from_bytes(&negative_zero).unwrap();
    assert_eq!(PublicKey::from_verifying_key(odd), Err(KeyError::NonCanonical));
    let sig = [0u8; 64];
    assert_eq!(verify_raw(KeyRef::Bytes(&negative_zero), b"", &sig), Err(KeyError::NonCanonical.into()));
    assert_eq!(verify_batch(&[Item::raw(&[0u8; 32], b"", &sig)]), vec![Err(SigError::Key(KeyError::Weak))]);

    // Keys with a small-order component are not weak: the cofactored equation ignores it.
    let mut rng = StdRng::seed_from_u64(7);
    let (key, sig) = craft(&mut rng, order_8(), EdwardsPoint::default(), Domain::Holder.tag(), b"m");
    let vk = check_public_key(&key).unwrap();
    assert_eq!(verify(&vk, Domain::Holder, b"m", &sig), Ok(()));
}

#[test]
fn a_signature_holds_only_in_its_own_domain() {
    let tags: Vec<&[u8]> = Domain::ALL.iter().map(|d| d.tag()).collect();
    for (i, t) in tags.iter().enumerate() {
        assert!(t.starts_with(b"suanli/v1/") && t.ends_with(b"\n"));
        assert_eq!(t.iter().filter(|&&b| b == b'\n').count(), 1);
        for (j, u) in tags.iter().enumerate() {
            assert!(i == j || !u.starts_with(t), "{i} is a prefix of {j}");
        }
    }
    let mut rng = StdRng::seed_from_u64(8);
    let key = SigningKey::generate(&mut rng);
    let vk = public(&key);
    let msg = b"the same bytes";
    for signed_as in Domain::ALL {
        let sig = sign(&key, signed_as, msg);
        // Exactly an RFC 8032 signature over tag ‖ bytes.
        assert_eq!(sig, key.sign(&[signed_as.tag(), msg].concat()).to_bytes());
        assert_eq!(verify_raw(&vk, &[signed_as.tag(), msg].concat(), &sig), Ok(()));
        assert_eq!(verify_raw(&vk, msg, &sig), Err(SigError::Equation));
        for read_as in Domain::ALL {
            let expected = if read_as == signed_as { Ok(()) } else { Err(SigError::Equation) };
            assert_eq!(verify(&vk, read_as, msg, &sig), expected);
            assert_eq!(verify_batch(&[Item::new(&vk, read_as, msg, &sig)]), vec![expected]);
        }
    }
}

#[test]
fn non_canonical_s_is_refused() {
    let mut rng = StdRng::seed_from_u64(9);
    let key = SigningKey::generate(&mut rng);
    let vk = public(&key);
    let sig = sign(&key, Domain::Read, b"q");
    // s + ℓ verifies under the bare equation, so only the range check stops it.
    let ell = Scalar::ZERO - Scalar::ONE;
    let mut s_plus_ell = [0u8; 32];
    let mut carry = 1u16; // (ℓ - 1) + 1 = ℓ, added to s byte by byte
    for ((out, s), l) in s_plus_ell.iter_mut().zip(&sig[32..]).zip(ell.as_bytes()) {
        let sum = u16::from(*s) + u16::from(*l) + carry;
        *out = sum as u8;
        carry = sum >> 8;
    }
    assert_eq!(carry, 0);
    let mut bad = sig;
    bad[32..].copy_from_slice(&s_plus_ell);
    assert_eq!(verify(&vk, Domain::Read, b"q", &bad), Err(SigError::NonCanonicalS));
    assert_eq!(verify_batch(&[Item::new(&vk, Domain::Read, b"q", &bad)]), vec![Err(SigError::NonCanonicalS)]);
}

// ---- batch and single agree, whatever the mix ----------------------------------------------

/// How to make one item of a random batch.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Valid,
    WrongMessage,
    WrongDomain,
    FlippedSigBit(u16),
    FlippedKeyBit(u8),
    ResidueInR,
    TorsionKey,
    WeakKey,
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        4 => Just(Kind::Valid),
        1 => Just(Kind::WrongMessage),
        1 => Just(Kind::WrongDomain),
        1 => (0u16..512).prop_map(Kind::FlippedSigBit),
        1 => any::<u8>().prop_map(Kind::FlippedKeyBit),
        2 => Just(Kind::ResidueInR),
        2 => Just(Kind::TorsionKey),
        1 => Just(Kind::WeakKey),
    ]
}

struct Made {
    key: [u8; 32],
    prepared: Option<PublicKey>,
    domain: Domain,
    msg: Vec<u8>,
    sig: [u8; 64],
}

fn make(kind: Kind, signer: &SigningKey, rng: &mut StdRng) -> Made {
    let domain = Domain::ALL[rng.gen_range(0..Domain::ALL.len())];
    let msg: Vec<u8> = (0..rng.gen_range(0..64)).map(|_| rng.r#gen()).collect();
    let mut key = signer.verifying_key().to_bytes();
    let mut sig = sign(signer, domain, &msg);
    let mut read_as = domain;
    let mut read_msg = msg.clone();
    match kind {
        Kind::Valid => {}
        Kind::WrongMessage => read_msg.push(0),
        Kind::WrongDomain => read_as = Domain::ALL[(Domain::ALL.iter().position(|d| *d == domain).unwrap() + 1) % 7],
        Kind::FlippedSigBit(b) => sig[usize::from(b / 8)] ^= 1 << (b % 8),
        Kind::FlippedKeyBit(b) => key[usize::from(b / 8)] ^= 1 << (b % 8),
        Kind::ResidueInR => (key, sig) = craft(rng, EdwardsPoint::default(), order_2(), domain.tag(), &msg),
        Kind::TorsionKey => (key, sig) = craft(rng, order_8(), order_2(), domain.tag(), &msg),
        Kind::WeakKey => key = order_8().compress().to_bytes(),
    }
    Made { key, prepared: check_public_key(&key).ok(), domain: read_as, msg: read_msg, sig }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 96,
        // Keep failing seeds next to this file (proptest looks for lib.rs otherwise).
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::WithSource("proptest-regressions"),
        )),
        ..ProptestConfig::default()
    })]

    #[test]
    fn batch_verdicts_equal_single_verdicts(
        kinds in prop::collection::vec(kind(), 0..80),
        seed in any::<u64>(),
        prepared_keys in any::<bool>(),
    ) {
        let mut rng = StdRng::seed_from_u64(seed);
        let signers: Vec<SigningKey> = (0..3).map(|_| SigningKey::generate(&mut rng)).collect();
        let made: Vec<Made> = kinds
            .iter()
            .map(|&k| {
                let signer = &signers[rng.gen_range(0..signers.len())];
                make(k, signer, &mut rng)
            })
            .collect();
        let items: Vec<Item<'_>> = made
            .iter()
            .map(|m| match (&m.prepared, prepared_keys) {
                (Some(vk), true) => Item::new(vk, m.domain, &m.msg, &m.sig),
                _ => Item::new(&m.key, m.domain, &m.msg, &m.sig),
            })
            .collect();
        let verdicts = verify_batch(&items);
        prop_assert_eq!(verdicts.len(), items.len());
        for ((it, got), (k, m)) in items.iter().zip(&verdicts).zip(kinds.iter().zip(&made)) {
            prop_assert_eq!(*got, it.verify());
            prop_assert_eq!(*got, verify(&m.key, m.domain, &m.msg, &m.sig));
            match k {
                Kind::Valid | Kind::ResidueInR | Kind::TorsionKey => prop_assert_eq!(*got, Ok(())),
                Kind::WeakKey => prop_assert_eq!(*got, Err(KeyError::Weak.into())),
                _ => prop_assert!(got.is_err()),
            }
        }
    }
}
