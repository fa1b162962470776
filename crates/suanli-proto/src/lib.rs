//! suanli-proto: the ledger's gRPC services and their messages, generated from
//! `proto/suanli/v1/*.proto`. The signed messages themselves are `suanli_core::wire`.

#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/suanli.v1.rs"));
    pub use suanli_core::wire::*;
}

/// The encoded `FileDescriptorSet` of every proto file, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/suanli_descriptor.bin"));
pub mod convert;
