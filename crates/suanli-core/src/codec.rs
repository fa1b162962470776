//! The byte-level codec of everything the ledger stores: log entries, index values and
//! state snapshots. Fixed-width big-endian integers, length-prefixed byte strings, money as
//! whole fen in an `i64`. One value has exactly one encoding, and the decoder is strict
//! (no trailing bytes, no unknown tags, no out-of-range values), so hashing the bytes of an
//! entry is the same as hashing its meaning.

use rust_decimal::Decimal;

use crate::ids::Uscc;

/// Why stored bytes could not be decoded. Outside input never reaches here unchecked;
/// seeing this on the ledger's own store means the store is damaged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("unexpected end of data reading {0}")]
    Eof(&'static str),
    #[error("{0} trailing bytes")]
    Trailing(usize),
    #[error("bad value for {0}")]
    Invalid(&'static str),
    #[error("unsupported encoding version {0}")]
    Version(u8),
}

/// Largest byte string accepted inside an encoded value (a signed payload, a program
/// file). Far above the gRPC message limit, it only stops a corrupt length from
/// allocating gigabytes.
pub const BYTES_LEN_MAX: usize = 16 * 1024 * 1024;

/// Builds an encoding.
#[derive(Default)]
pub struct Writer {
    pub buf: Vec<u8>,
}

impl Writer {
    pub fn new() -> Self {
        Self::with_capacity(256)
    }
    /// A writer with room for `bytes` (an encoding whose size is known ahead grows once).
    pub fn with_capacity(bytes: usize) -> Self {
        Writer { buf: Vec::with_capacity(bytes) }
    }
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.buf.push(v);
        self
    }
    pub fn bool(&mut self, v: bool) -> &mut Self {
        self.u8(u8::from(v))
    }
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub fn i32(&mut self, v: i32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub fn i64(&mut self, v: i64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub fn fixed(&mut self, v: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(v);
        self
    }
    pub fn bytes(&mut self, v: &[u8]) -> &mut Self {
        assert!(v.len() <= BYTES_LEN_MAX, "encoded byte string too long");
        self.u32(v.len() as u32);
        self.buf.extend_from_slice(v);
        self
    }
    pub fn str(&mut self, v: &str) -> &mut Self {
        self.bytes(v.as_bytes())
    }
    pub fn opt_str(&mut self, v: Option<&str>) -> &mut Self {
        match v {
            None => self.u8(0),
            Some(s) => self.u8(1).str(s),
        }
    }
    pub fn uscc(&mut self, v: &Uscc) -> &mut Self {
        self.fixed(v.as_bytes())
    }
    /// Money as whole fen. Every stored amount has at most two places by construction.
    pub fn money(&mut self, v: Decimal) -> &mut Self {
        self.i64(to_fen(v))
    }
    pub fn opt_money(&mut self, v: Option<Decimal>) -> &mut Self {
        match v {
            None => self.u8(0),
            Some(m) => self.u8(1).money(m),
        }
    }
    /// GPU-hours as whole millionths.
    pub fn micros(&mut self, v: Decimal) -> &mut Self {
        self.i64(to_scaled(v, 6))
    }
    pub fn finish(self) -> Vec<u8> {
        self.buf
    }
}

fn to_scaled(v: Decimal, places: u32) -> i64 {
    // Amounts almost always carry exactly `places` already (several per entry and per
    // index record, on the commit path): then the mantissa is the answer.
    let m = if v.scale() == places {
        v.mantissa()
    } else {
        let mut r = v;
        r.rescale(places);
        assert_eq!(r, v, "value {v} has more than {places} places");
        r.mantissa()
    };
    i64::try_from(m).expect("scaled value fits in i64")
}

/// Whole fen of an amount with at most two places.
pub fn to_fen(v: Decimal) -> i64 {
    to_scaled(v, 2)
}

/// The amount of a number of fen, always with two places.
pub fn from_fen(fen: i64) -> Decimal {
    Decimal::new(fen, 2)
}

/// Reads an encoding.
pub struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Reader { data, pos: 0 }
    }
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        if self.data.len() - self.pos < n {
            return Err(DecodeError::Eof(what));
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    pub fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.take(1, what)?[0])
    }
    pub fn bool(&mut self, what: &'static str) -> Result<bool, DecodeError> {
        match self.u8(what)? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(DecodeError::Invalid(what)),
        }
    }
    pub fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.take(4, what)?.try_into().expect("4 bytes")))
    }
    pub fn i32(&mut self, what: &'static str) -> Result<i32, DecodeError> {
        Ok(i32::from_be_bytes(self.take(4, what)?.try_into().expect("4 bytes")))
    }
    pub fn u64(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.take(8, what)?.try_into().expect("8 bytes")))
    }
    pub fn i64(&mut self, what: &'static str) -> Result<i64, DecodeError> {
        Ok(i64::from_be_bytes(self.take(8, what)?.try_into().expect("8 bytes")))
    }
    pub fn fixed<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], DecodeError> {
        Ok(self.take(N, what)?.try_into().expect("N bytes"))
    }
    pub fn bytes(&mut self, what: &'static str) -> Result<&'a [u8], DecodeError> {
        let n = self.u32(what)? as usize;
        if n > BYTES_LEN_MAX {
            return Err(DecodeError::Invalid(what));
        }
        self.take(n, what)
    }
    pub fn string(&mut self, what: &'static str) -> Result<String, DecodeError> {
        let b = self.bytes(what)?;
        String::from_utf8(b.to_vec()).map_err(|_| DecodeError::Invalid(what))
    }
    pub fn opt_string(&mut self, what: &'static str) -> Result<Option<String>, DecodeError> {
        Ok(if self.bool(what)? { Some(self.string(what)?) } else { None })
    }
    pub fn uscc(&mut self, what: &'static str) -> Result<Uscc, DecodeError> {
        let b: [u8; 18] = self.fixed(what)?;
        let s = std::str::from_utf8(&b).map_err(|_| DecodeError::Invalid(what))?;
        Uscc::parse(s).map_err(|_| DecodeError::Invalid(what))
    }
    pub fn money(&mut self, what: &'static str) -> Result<Decimal, DecodeError> {
        Ok(from_fen(self.i64(what)?))
    }
    pub fn opt_money(&mut self, what: &'static str) -> Result<Option<Decimal>, DecodeError> {
        Ok(if self.bool(what)? { Some(self.money(what)?) } else { None })
    }
    pub fn micros(&mut self, what: &'static str) -> Result<Decimal, DecodeError> {
        Ok(Decimal::new(self.i64(what)?, 6))
    }
    pub fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }
    /// Ends decoding: any byte left over means the data is not what it claims to be.
    pub fn finish(self) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(DecodeError::Trailing(n)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn round_trip_and_strictness() {
        let mut w = Writer::new();
        w.u8(7)
            .bool(true)
            .i32(-5)
            .u64(9)
            .i64(-9)
            .str("算力")
            .opt_str(None)
            .money(Decimal::from_str("-196250.00").unwrap());
        w.micros(Decimal::from_str("0.000001").unwrap());
        let bytes = w.finish();
        let mut r = Reader::new(&bytes);
        assert_eq!(r.u8("a").unwrap(), 7);
        assert!(r.bool("b").unwrap());
        assert_eq!(r.i32("c").unwrap(), -5);
        assert_eq!(r.u64("d").unwrap(), 9);
        assert_eq!(r.i64("e").unwrap(), -9);
        assert_eq!(r.string("f").unwrap(), "算力");
        assert_eq!(r.opt_string("g").unwrap(), None);
        assert_eq!(r.money("h").unwrap().to_string(), "-196250.00");
        assert_eq!(r.micros("i").unwrap(), Decimal::from_str("0.000001").unwrap());
        r.finish().unwrap();

        let mut r = Reader::new(&[2]);
        assert_eq!(r.bool("x"), Err(DecodeError::Invalid("x")));
        let r = Reader::new(&[0]);
        assert_eq!(r.finish(), Err(DecodeError::Trailing(1)));
        let mut r = Reader::new(&[0, 0, 0, 9, 1]);
        assert_eq!(r.bytes("y"), Err(DecodeError::Eof("y")));
    }

    #[test]
    fn fen_keeps_two_places() {
        assert_eq!(from_fen(375000).to_string(), "3750.00");
        assert_eq!(to_fen(Decimal::from(3750)), 375000);
    }
}
