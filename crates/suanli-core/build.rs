//! Generates the Rust types of the signed messages from `proto/suanli/v1/signed.proto`, so
//! the proto that integrators read and the types the ledger decodes can never differ.
//! `protox` compiles the proto in Rust: no system `protoc` is needed.

fn main() {
    let proto_dir = "../../proto";
    let file = "../../proto/suanli/v1/signed.proto";
    println!("cargo:rerun-if-changed={file}");
    let fds = protox::compile([file], [proto_dir]).expect("signed.proto compiles");
    prost_build::Config::new().compile_fds(fds).expect("prost code generation for signed.proto");
}
