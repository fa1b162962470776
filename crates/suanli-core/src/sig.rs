//! TEMPORARY stand-in (replaced by the sig branch).
use ed25519_dalek::{Signer, SigningKey};
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Domain {
    Usage,
    Corpus,
    Reversal,
    Admin,
    Holder,
    Finance,
    Read,
}
impl Domain {
    pub fn tag(&self) -> &'static [u8] {
        match self {
            Domain::Usage => b"suanli/v1/usage\n",
            Domain::Corpus => b"suanli/v1/corpus\n",
            Domain::Reversal => b"suanli/v1/reversal\n",
            Domain::Admin => b"suanli/v1/admin\n",
            Domain::Holder => b"suanli/v1/holder\n",
            Domain::Finance => b"suanli/v1/finance\n",
            Domain::Read => b"suanli/v1/read\n",
        }
    }
}
pub fn sign(key: &SigningKey, domain: Domain, msg: &[u8]) -> [u8; 64] {
    let mut m = domain.tag().to_vec();
    m.extend_from_slice(msg);
    key.sign(&m).to_bytes()
}
