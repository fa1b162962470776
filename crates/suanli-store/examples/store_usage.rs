//! What a sled store's tree holds, by key family: keys and bytes of live values, against
//! sled's file size (the difference is what sled has not cleaned yet). Run it on a stopped
//! store: `cargo run --release -p suanli-store --example store_usage -- DATA_DIR/store`.

fn main() {
    let dir = std::env::args().nth(1).expect("usage: store_usage STORE_DIR");
    let db = suanli_store::sled_store::open_raw(std::path::Path::new(&dir))
        .expect("open the store (is suanlid still running?)");
    let mut m = std::collections::BTreeMap::<u8, (u64, u64)>::new();
    for kv in db.iter() {
        let (k, v) = kv.unwrap();
        let e = m.entry(k[0]).or_default();
        e.0 += 1;
        e.1 += (k.len() + v.len()) as u64;
    }
    for (f, (n, b)) in m {
        println!("{} {} keys {} MB", f as char, n, b / 1_000_000);
    }
    println!("size_on_disk {}", db.size_on_disk().unwrap() / 1_000_000);
}
