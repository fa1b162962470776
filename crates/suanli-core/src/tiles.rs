//! The log as C2SP `tlog-tiles` (<https://c2sp.org/tlog-tiles>): tile coordinates and
//! their URL paths, the hashes a tile holds, entry bundles, and the way back — a
//! [`NodeReader`] over fetched tiles, so a client recomputes roots and proofs from tiles
//! with the same code the ledger uses.
//!
//! Why tiles: they are the format existing witnesses, monitors and mirrors read, with
//! no suanli code and no gRPC stubs. A tile is 256 consecutive Merkle hashes of one tree
//! level (level `L` tiles hold the nodes of tree height `8·L`); a full tile never
//! changes, so it can be cached forever, and any proof is computed from a handful of
//! them. The server side (`suanli-server`'s `web/tiles.rs`) only reads nodes the store
//! already keeps; nothing here does I/O.
//!
//! Parsing is strict, as everywhere a path or a bundle comes from outside: every tile has
//! exactly one path, and a bundle must hold exactly the entries its width says.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;

use crate::merkle::{Frontier, Hash, NodeId, NodeReader};

/// Tree levels a tile spans: a tile holds the `2^8 = 256` nodes of its bottom level.
pub const TILE_HEIGHT: u8 = 8;
/// Hashes in a full tile, and entries in a full bundle.
pub const TILE_WIDTH: u16 = 256;
/// The highest tile level a path may name (the spec allows 0–63). Only levels up to 7
/// can hold anything in a log of at most 2^64 entries; higher ones parse and are absent.
pub const TILE_LEVEL_MAX: u8 = 63;
/// Longest entry an entry bundle can carry: its length prefix is a big-endian u16.
pub const BUNDLE_ENTRY_BYTES_MAX: usize = u16::MAX as usize;
/// Longest path [`parse_tile_path`] looks at: `entries/` plus the 7 groups of a u64 index
/// plus `.p/255`, with room to spare. Anything longer is refused before it is parsed.
pub const TILE_PATH_BYTES_MAX: usize = 64;

/// What a tile path names: Merkle hashes at a level, or the entries themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TileKind {
    /// `tile/<L>/<N>`: node hashes at tree height `8·L`.
    Hashes { level: u8 },
    /// `tile/entries/<N>`: the entries of level-0 tile `N`.
    Entries,
}

/// One tile or entry bundle: its kind, index `N` within its level, and width `W`
/// (1–256; 256 is a full tile, anything less a partial one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tile {
    pub kind: TileKind,
    pub index: u64,
    pub width: u16,
}

/// Why a tile path is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TilePathError {
    #[error("a tile path is at most {TILE_PATH_BYTES_MAX} bytes")]
    TooLong,
    #[error("a tile path starts with tile/<L>/ or tile/entries/")]
    Prefix,
    #[error("tile level {0:?} is not a decimal 0-63 without leading zeros")]
    Level(String),
    #[error("tile index {0:?} is not groups of three digits, all but the last prefixed with x, without a leading x000")]
    Index(String),
    #[error("tile index does not fit in 64 bits")]
    IndexOverflow,
    #[error("partial tile width {0:?} is not a decimal 1-255 without leading zeros")]
    Width(String),
}

/// Why an entry bundle cannot be made or is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    #[error("entry {index} is {len} bytes; an entry bundle holds entries of at most {BUNDLE_ENTRY_BYTES_MAX} bytes")]
    EntryTooLong { index: u64, len: usize },
    #[error("the bundle ends inside entry {0} of it")]
    Truncated(usize),
    #[error("the bundle holds {got} entries or more, {want} were expected")]
    Count { want: usize, got: usize },
}

/// `N` as the spec writes it: zero-padded groups of three digits, all but the last
/// prefixed with `x` (`1234067` is `x001/x234/067`).
pub fn format_index(index: u64) -> String {
    let mut groups = vec![index % 1000];
    let mut rest = index / 1000;
    while rest > 0 {
        groups.push(rest % 1000);
        rest /= 1000;
    }
    let mut out = String::with_capacity(groups.len() * 5);
    for (i, g) in groups.iter().rev().enumerate() {
        if i + 1 < groups.len() {
            out.push_str(&format!("x{g:03}/"));
        } else {
            out.push_str(&format!("{g:03}"));
        }
    }
    out
}

impl Tile {
    /// A tile of `width` 1–256; `None` otherwise.
    pub fn new(kind: TileKind, index: u64, width: u16) -> Option<Tile> {
        (1..=TILE_WIDTH).contains(&width).then_some(Tile { kind, index, width })
    }

    pub fn is_full(&self) -> bool {
        self.width == TILE_WIDTH
    }

    /// The path below the log's prefix: `tile/<L>/<N>[.p/<W>]` or `tile/entries/<N>[.p/<W>]`.
    pub fn path(&self) -> String {
        let kind = match self.kind {
            TileKind::Hashes { level } => level.to_string(),
            TileKind::Entries => "entries".to_string(),
        };
        let partial = if self.is_full() { String::new() } else { format!(".p/{}", self.width) };
        format!("tile/{kind}/{}{partial}", format_index(self.index))
    }

    /// The tree height of the nodes this tile lists: `8·L` (0 for entry bundles). `None`
    /// when no tree of at most 2^64 leaves has nodes that high.
    pub fn node_level(&self) -> Option<u8> {
        match self.kind {
            TileKind::Hashes { level } => level.checked_mul(TILE_HEIGHT).filter(|l| *l < 64),
            TileKind::Entries => Some(0),
        }
    }

    /// The nodes this tile lists, left to right: `index·256 .. index·256 + width` at
    /// [`Tile::node_level`]. `None` when they cannot exist in a tree of at most 2^64 leaves.
    pub fn node_ids(&self) -> Option<impl Iterator<Item = NodeId>> {
        let level = self.node_level()?;
        let first = self.index.checked_mul(u64::from(TILE_WIDTH))?;
        let end = first.checked_add(u64::from(self.width))?;
        // The last node's last leaf must be addressable: end · 2^level ≤ 2^64.
        if u128::from(end) << level > 1u128 << 64 {
            return None;
        }
        Some((first..end).map(move |index| NodeId { level, index }))
    }

    /// How many leaves a tree needs for this tile to be complete (every node it lists
    /// is a perfect subtree of the tree). `None` beyond 2^64 - 1.
    pub fn leaves_needed(&self) -> Option<u64> {
        let level = self.node_level()?;
        let end = self.index.checked_mul(u64::from(TILE_WIDTH))?.checked_add(u64::from(self.width))?;
        u64::try_from(u128::from(end) << level).ok()
    }

    /// The tile at (`kind`, `index`) as the tree of `size` leaves has it: full if the
    /// tree covers all of it, partial with the width the tree reaches, `None` if the tree
    /// holds none of it.
    pub fn in_tree(kind: TileKind, index: u64, size: u64) -> Option<Tile> {
        let level = Tile { kind, index, width: 1 }.node_level()?;
        let nodes = size >> level; // complete nodes at that height
        let first = index.checked_mul(u64::from(TILE_WIDTH))?;
        let width = nodes.checked_sub(first)?.min(u64::from(TILE_WIDTH));
        Tile::new(kind, index, u16::try_from(width).ok()?)
    }
}

impl fmt::Display for Tile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path())
    }
}

fn is_canonical_decimal(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'))
}

fn parse_index(elements: &[&str]) -> Result<u64, TilePathError> {
    let whole = || TilePathError::Index(elements.join("/"));
    let (last, init) = elements.split_last().ok_or_else(whole)?;
    let mut index: u64 = 0;
    for (i, el) in init.iter().map(|e| e.strip_prefix('x')).chain([Some(*last)]).enumerate() {
        let digits = el.ok_or_else(whole)?;
        if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(whole());
        }
        // One spelling per index: no leading x000 group.
        if i == 0 && !init.is_empty() && digits == "000" {
            return Err(whole());
        }
        let group: u64 = digits.parse().map_err(|_| whole())?;
        index = index.checked_mul(1000).and_then(|n| n.checked_add(group)).ok_or(TilePathError::IndexOverflow)?;
    }
    Ok(index)
}

/// Parses a tile path below the log's prefix (`tile/0/x001/x234/067.p/8`,
/// `tile/entries/000`). Strict: exactly one spelling per tile is accepted.
pub fn parse_tile_path(path: &str) -> Result<Tile, TilePathError> {
    if path.len() > TILE_PATH_BYTES_MAX {
        return Err(TilePathError::TooLong);
    }
    let rest = path.strip_prefix("tile/").ok_or(TilePathError::Prefix)?;
    let (kind_str, rest) = rest.split_once('/').ok_or(TilePathError::Prefix)?;
    let kind = if kind_str == "entries" {
        TileKind::Entries
    } else {
        let level = is_canonical_decimal(kind_str)
            .then(|| kind_str.parse::<u8>().ok())
            .flatten()
            .filter(|l| *l <= TILE_LEVEL_MAX)
            .ok_or_else(|| TilePathError::Level(kind_str.to_string()))?;
        TileKind::Hashes { level }
    };
    let (index_str, width) = match rest.split_once(".p/") {
        Some((index_str, w)) => {
            let width = is_canonical_decimal(w)
                .then(|| w.parse::<u16>().ok())
                .flatten()
                .filter(|w| (1..TILE_WIDTH).contains(w))
                .ok_or_else(|| TilePathError::Width(w.to_string()))?;
            (index_str, width)
        }
        None => (rest, TILE_WIDTH),
    };
    let elements: Vec<&str> = index_str.split('/').collect();
    let index = parse_index(&elements)?;
    Ok(Tile { kind, index, width })
}

/// The hashes a tile lists, read from `reader` (which must hold every node of the tile).
/// Concatenated, they are the tile's bytes: `32 × width`.
pub fn tile_hashes<R: NodeReader>(reader: &R, tile: &Tile) -> Option<Result<Vec<Hash>, R::Error>> {
    if tile.kind == TileKind::Entries {
        return None;
    }
    let ids = tile.node_ids()?;
    Some(ids.map(|id| reader.node(id)).collect())
}

/// An entry bundle: each entry as a big-endian u16 length and its bytes. `first_index` is
/// the log index of the first entry, to name an entry that does not fit.
pub fn encode_bundle<E: AsRef<[u8]>>(first_index: u64, entries: &[E]) -> Result<Vec<u8>, BundleError> {
    let total: usize = entries.iter().map(|e| 2 + e.as_ref().len()).sum();
    let mut out = Vec::with_capacity(total);
    for (i, e) in entries.iter().enumerate() {
        let e = e.as_ref();
        let len = u16::try_from(e.len())
            .map_err(|_| BundleError::EntryTooLong { index: first_index + i as u64, len: e.len() })?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(e);
    }
    Ok(out)
}

/// Splits an entry bundle that must hold exactly `width` entries. Nothing may follow the
/// last one; a bundle that ends early or runs long is refused.
pub fn parse_bundle(bytes: &[u8], width: usize) -> Result<Vec<&[u8]>, BundleError> {
    let mut out = Vec::with_capacity(width.min(usize::from(TILE_WIDTH)));
    let mut rest = bytes;
    while !rest.is_empty() {
        if out.len() == width {
            return Err(BundleError::Count { want: width, got: out.len() + 1 });
        }
        let [a, b, tail @ ..] = rest else { return Err(BundleError::Truncated(out.len())) };
        let len = usize::from(u16::from_be_bytes([*a, *b]));
        if tail.len() < len {
            return Err(BundleError::Truncated(out.len()));
        }
        let (entry, tail) = tail.split_at(len);
        out.push(entry);
        rest = tail;
    }
    if out.len() != width {
        return Err(BundleError::Count { want: width, got: out.len() });
    }
    Ok(out)
}

/// Why [`TileNodes`] cannot give a node.
#[derive(Debug, thiserror::Error)]
pub enum TileReadError<E> {
    #[error("node at height {} index {} is not complete in the tree of size {size}", .id.level, .id.index)]
    BeyondTree { id: NodeId, size: u64 },
    #[error("{tile} holds {got} bytes, {want} were expected")]
    Length { tile: Tile, want: usize, got: usize },
    #[error("fetching {tile}: {error}")]
    Fetch { tile: Tile, error: E },
}

/// Merkle nodes of the tree of `size` leaves, read from hash tiles fetched on demand
/// (each at most once). The tiles come from anywhere — HTTP, files — and need not be
/// trusted: everything computed from them is compared with a signed root in the end.
pub struct TileNodes<F> {
    size: u64,
    fetch: RefCell<F>,
    tiles: RefCell<HashMap<Tile, Vec<Hash>>>,
}

impl<F, E> TileNodes<F>
where
    F: FnMut(&Tile) -> Result<Vec<u8>, E>,
{
    /// `fetch` gets a tile's bytes (`tile.path()` below the log's prefix).
    pub fn new(size: u64, fetch: F) -> TileNodes<F> {
        TileNodes { size, fetch: RefCell::new(fetch), tiles: RefCell::new(HashMap::new()) }
    }

    /// The tiles fetched so far.
    pub fn fetched(&self) -> usize {
        self.tiles.borrow().len()
    }

    fn tile(&self, tile: Tile) -> Result<Vec<Hash>, TileReadError<E>> {
        if let Some(h) = self.tiles.borrow().get(&tile) {
            return Ok(h.clone());
        }
        let bytes = (self.fetch.borrow_mut())(&tile).map_err(|error| TileReadError::Fetch { tile, error })?;
        let want = 32 * usize::from(tile.width);
        if bytes.len() != want {
            return Err(TileReadError::Length { tile, want, got: bytes.len() });
        }
        let hashes: Vec<Hash> = bytes.chunks_exact(32).map(|c| c.try_into().expect("32-byte chunk")).collect();
        self.tiles.borrow_mut().insert(tile, hashes.clone());
        Ok(hashes)
    }
}

impl<F, E> NodeReader for TileNodes<F>
where
    F: FnMut(&Tile) -> Result<Vec<u8>, E>,
{
    type Error = TileReadError<E>;

    fn node(&self, id: NodeId) -> Result<Hash, Self::Error> {
        let beyond = || TileReadError::BeyondTree { id, size: self.size };
        let end = (id.level < 64).then(|| (u128::from(id.index) + 1) << id.level);
        if end.is_none_or(|e| e > u128::from(self.size)) {
            return Err(beyond());
        }
        // The node sits `sub` levels above the bottom of a tile at tile level `L`: it is
        // the Merkle hash of 2^sub consecutive hashes of that tile.
        let (level, sub) = (id.level / TILE_HEIGHT, id.level % TILE_HEIGHT);
        let first = id.index << sub;
        let tile_index = first / u64::from(TILE_WIDTH);
        let tile = Tile::in_tree(TileKind::Hashes { level }, tile_index, self.size).ok_or_else(beyond)?;
        let hashes = self.tile(tile)?;
        let offset = (first % u64::from(TILE_WIDTH)) as usize;
        let count = 1usize << sub;
        let part = hashes.get(offset..offset + count).ok_or_else(beyond)?;
        let mut f = Frontier::new();
        for h in part {
            f.append(*h, |_, _| {});
        }
        Ok(f.root())
    }
}

/// Every tile a tree of `size` leaves has (full and partial, hashes only), bottom level
/// first: what a mirror fetches to hold the whole tree.
pub fn hash_tiles_of(size: u64) -> impl Iterator<Item = Tile> {
    (0..=7u8).flat_map(move |level| {
        let kind = TileKind::Hashes { level };
        let nodes = size >> (level * TILE_HEIGHT);
        let count = nodes.div_ceil(u64::from(TILE_WIDTH));
        (0..count).filter_map(move |index| Tile::in_tree(kind, index, size))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{MemNodes, inclusion_proof, leaf_hash, root_at, verify_inclusion};

    #[test]
    fn index_encoding_follows_the_spec() {
        // The spec's example, and the edges of each group.
        assert_eq!(format_index(1234067), "x001/x234/067");
        for (n, s) in [(0, "000"), (7, "007"), (999, "999"), (1000, "x001/000"), (1_000_000, "x001/x000/000")] {
            assert_eq!(format_index(n), s);
            assert_eq!(parse_index(&s.split('/').collect::<Vec<_>>()), Ok(n), "{s}");
        }
        assert_eq!(format_index(u64::MAX), "x018/x446/x744/x073/x709/x551/615");
        let t = parse_tile_path("tile/0/x018/x446/x744/x073/x709/x551/615").unwrap();
        assert_eq!(t.index, u64::MAX);
    }

    #[test]
    fn paths_round_trip() {
        let cases = [
            ("tile/0/x001/x234/067", Tile { kind: TileKind::Hashes { level: 0 }, index: 1234067, width: 256 }),
            ("tile/0/x001/x234/067.p/8", Tile { kind: TileKind::Hashes { level: 0 }, index: 1234067, width: 8 }),
            ("tile/1/000.p/17", Tile { kind: TileKind::Hashes { level: 1 }, index: 0, width: 17 }),
            ("tile/63/000", Tile { kind: TileKind::Hashes { level: 63 }, index: 0, width: 256 }),
            ("tile/entries/x001/x234/067.p/255", Tile { kind: TileKind::Entries, index: 1234067, width: 255 }),
            ("tile/entries/272", Tile { kind: TileKind::Entries, index: 272, width: 256 }),
        ];
        for (path, tile) in cases {
            assert_eq!(parse_tile_path(path), Ok(tile), "{path}");
            assert_eq!(tile.path(), path);
        }
    }

    #[test]
    fn bad_paths_are_refused() {
        for bad in [
            "",
            "tile",
            "tile/",
            "tile/0",
            "tile/0/",
            "tiles/0/000",
            "/tile/0/000",
            "tile/00/000",
            "tile/01/000",
            "tile/64/000",
            "tile/256/000",
            "tile/-1/000",
            "tile/+1/000",
            "tile/a/000",
            "tile/0/0",
            "tile/0/00",
            "tile/0/0000",
            "tile/0/x000/001",
            "tile/0/001/002",
            "tile/0/x1/002",
            "tile/0/x001/x002",
            "tile/0/X001/002",
            "tile/0/x001//002",
            "tile/0/000/",
            "tile/0/000.p/0",
            "tile/0/000.p/256",
            "tile/0/000.p/08",
            "tile/0/000.p/",
            "tile/0/000.p/8/",
            "tile/0/000.p/8.p/8",
            "tile/0/x001.p/8/000",
            "tile/0/x018/x446/x744/x073/x709/x551/616",
            "tile/0/x999/x999/x999/x999/x999/x999/x999/999",
            "tile/entries/",
            "tile/entries/0",
            "tile/ENTRIES/000",
            "tile/0/000?x",
            "tile/0/０００",
        ] {
            assert!(parse_tile_path(bad).is_err(), "{bad:?} was accepted");
        }
        assert_eq!(parse_tile_path(&format!("tile/0/{}", "x001/".repeat(20))), Err(TilePathError::TooLong));
    }

    #[test]
    fn partial_tiles_of_the_spec_example() {
        // "a tree of size 70,000 will be represented by 273 full level 0 tiles, one partial
        // level 0 tile of width 112, one full level 1 tile, one partial level 1 tile of
        // width 17, and one partial level 2 tile of width 1."
        let tiles: Vec<Tile> = hash_tiles_of(70_000).collect();
        let of = |level| tiles.iter().filter(move |t| t.kind == TileKind::Hashes { level });
        assert_eq!(of(0).filter(|t| t.is_full()).count(), 273);
        assert_eq!(of(0).filter(|t| !t.is_full()).map(|t| (t.index, t.width)).collect::<Vec<_>>(), [(273, 112)]);
        assert_eq!(of(1).map(|t| (t.index, t.width)).collect::<Vec<_>>(), [(0, 256), (1, 17)]);
        assert_eq!(of(2).map(|t| (t.index, t.width)).collect::<Vec<_>>(), [(0, 1)]);
        assert_eq!(tiles.len(), 273 + 1 + 2 + 1);
        // "a tree of size 256 will be represented by a full level 0 tile and a partial
        // level 1 tile of width 1."
        let t: Vec<(u8, u16)> = hash_tiles_of(256)
            .map(|t| match t.kind {
                TileKind::Hashes { level } => (level, t.width),
                TileKind::Entries => unreachable!(),
            })
            .collect();
        assert_eq!(t, [(0, 256), (1, 1)]);
        assert_eq!(hash_tiles_of(0).count(), 0);
    }

    fn mem_tree(n: u64) -> MemNodes {
        let mut t = MemNodes::new();
        for i in 0..n {
            t.append(leaf_hash(&i.to_be_bytes()));
        }
        t
    }

    #[test]
    fn tiles_recombine_into_every_root_and_proof() {
        let n = 70_000u64;
        let all = mem_tree(n);
        for size in [1u64, 2, 255, 256, 257, 511, 512, 65_535, 65_536, 65_537, 69_999, 70_000] {
            let serve = |t: &Tile| -> Result<Vec<u8>, String> {
                // The server side: the tile must be complete in the tree of `size`.
                if t.leaves_needed().is_none_or(|need| need > size) {
                    return Err(format!("{t} is not in the tree of size {size}"));
                }
                Ok(tile_hashes(&all, t).unwrap().unwrap().concat())
            };
            let tiles = TileNodes::new(size, serve);
            assert_eq!(root_at(&tiles, size).unwrap(), root_at(&all, size).unwrap(), "root at {size}");
            assert!(tiles.fetched() <= 6, "{} tiles for the root of {size}", tiles.fetched());
            for index in [0, size / 2, size - 1] {
                let p = inclusion_proof(&tiles, index, size).unwrap();
                assert_eq!(p, inclusion_proof(&all, index, size).unwrap());
                verify_inclusion(&leaf_hash(&index.to_be_bytes()), index, size, &p, &root_at(&all, size).unwrap())
                    .unwrap();
            }
        }
        // Asking beyond the tree is refused, never made up.
        let tiles = TileNodes::new(300, |t: &Tile| -> Result<Vec<u8>, String> {
            Ok(tile_hashes(&all, t).unwrap().unwrap().concat())
        });
        assert!(matches!(
            root_at(&tiles, 301),
            Err(crate::merkle::ProofError::Reader(TileReadError::BeyondTree { .. }))
        ));
        let failing = TileNodes::new(300, |_: &Tile| -> Result<Vec<u8>, String> { Err("no".into()) });
        assert!(matches!(root_at(&failing, 300), Err(crate::merkle::ProofError::Reader(TileReadError::Fetch { .. }))));
        // A tile of the wrong length is refused.
        let short = TileNodes::new(300, |_: &Tile| -> Result<Vec<u8>, String> { Ok(vec![0; 31]) });
        assert!(matches!(root_at(&short, 300), Err(crate::merkle::ProofError::Reader(TileReadError::Length { .. }))));
    }

    #[test]
    fn tile_sizes_and_bounds() {
        let t = Tile::in_tree(TileKind::Hashes { level: 0 }, 273, 70_000).unwrap();
        assert_eq!((t.width, t.leaves_needed()), (112, Some(70_000)));
        assert_eq!(Tile::in_tree(TileKind::Hashes { level: 0 }, 274, 70_000), None);
        assert_eq!(Tile::in_tree(TileKind::Hashes { level: 2 }, 0, 65_535), None);
        let high = Tile { kind: TileKind::Hashes { level: 8 }, index: 0, width: 1 };
        assert!(high.node_ids().is_none() && high.leaves_needed().is_none());
        let top = Tile { kind: TileKind::Hashes { level: 7 }, index: 0, width: 256 };
        assert_eq!(top.leaves_needed(), None, "2^64 leaves do not fit a u64 size");
        assert!(top.node_ids().is_some());
        let far = Tile { kind: TileKind::Hashes { level: 1 }, index: u64::MAX, width: 256 };
        assert!(far.node_ids().is_none() && far.leaves_needed().is_none());
    }

    #[test]
    fn bundles_round_trip_and_are_strict() {
        let entries: Vec<Vec<u8>> = vec![vec![], vec![1], vec![7; 300], vec![9; BUNDLE_ENTRY_BYTES_MAX]];
        let b = encode_bundle(0, &entries).unwrap();
        assert_eq!(&b[..4], &[0, 0, 0, 1]);
        let parsed = parse_bundle(&b, 4).unwrap();
        assert_eq!(parsed, entries.iter().map(Vec::as_slice).collect::<Vec<_>>());
        assert_eq!(parse_bundle(&b, 3), Err(BundleError::Count { want: 3, got: 4 }));
        assert_eq!(parse_bundle(&b, 5), Err(BundleError::Count { want: 5, got: 4 }));
        assert_eq!(parse_bundle(&b[..b.len() - 1], 4), Err(BundleError::Truncated(3)));
        assert_eq!(parse_bundle(&[0], 1), Err(BundleError::Truncated(0)));
        assert_eq!(parse_bundle(&[], 0), Ok(vec![]));
        let too_long = vec![vec![0u8; 3], vec![0u8; BUNDLE_ENTRY_BYTES_MAX + 1]];
        assert_eq!(
            encode_bundle(512, &too_long),
            Err(BundleError::EntryTooLong { index: 513, len: BUNDLE_ENTRY_BYTES_MAX + 1 })
        );
    }
}
