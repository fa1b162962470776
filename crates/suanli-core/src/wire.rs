//! The signed messages as they travel: types generated from `proto/suanli/v1/signed.proto`.
//! They are plain prost structs; [`crate::validate`] turns them into checked domain values.

#![allow(clippy::all, clippy::pedantic, missing_docs)]

include!(concat!(env!("OUT_DIR"), "/suanli.v1.rs"));
