//! Generates the gRPC services from `proto/suanli/v1/{ledger,audit}.proto` with `protox` (pure
//! Rust, so a fresh machine needs no `protoc`). The signed messages are not generated
//! again: they map to `suanli_core::wire`, so there is one Rust type per proto message.

use prost::Message;

/// Messages of signed.proto, generated in suanli-core.
const SIGNED_MESSAGES: &[&str] = &[
    "Envelope",
    "BatchEnvelope",
    "UsageBatchHead",
    "UsageRecord",
    "CorpusRecord",
    "RecordKind",
    "Reversal",
    "Flags",
    "RegisterEntity",
    "AddKey",
    "RevokeKey",
    "UpdateEntity",
    "VoucherKind",
    "IssueVoucher",
    "RevokeVoucher",
    "AdminRequest",
    "Authorize",
    "Withdraw",
    "HolderRequest",
    "ClosePeriod",
    "PayableKind",
    "Payout",
    "CloseYear",
    "FinanceRequest",
];

fn main() {
    let proto_dir = "../../proto";
    println!("cargo:rerun-if-changed={proto_dir}");
    let fds = protox::Compiler::new([proto_dir])
        .expect("proto include path")
        .include_imports(true)
        .open_files(["suanli/v1/ledger.proto", "suanli/v1/audit.proto"])
        .expect("ledger.proto and audit.proto compile")
        .file_descriptor_set();
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    std::fs::write(out.join("suanli_descriptor.bin"), fds.encode_to_vec()).expect("write descriptor");
    let mut builder = tonic_prost_build::configure().build_server(true).build_client(true);
    for m in SIGNED_MESSAGES {
        builder = builder.extern_path(format!(".suanli.v1.{m}"), format!("::suanli_core::wire::{m}"));
    }
    builder.compile_fds(fds).expect("tonic code generation");
}
