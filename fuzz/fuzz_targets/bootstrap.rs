//! The shim's bootstrap decoder: what containerd 2.3 writes to `start`'s stdin
//! (containerd_shim_runwasm::bootstrap::decode).
//!
//! Two modes, by the first byte:
//! - even: the rest is taken as stdin as it is, decoded for the shim `c1` in `k8s.io` and for
//!   an empty id and namespace; params are only ever returned for the shim they name, with
//!   a TTRPC address;
//! - odd: the rest chooses BootstrapParams fields and unknown fields of every wire type,
//!   encoded with protobuf's own writer; decoding must give back exactly those fields.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use containerd_shim::protos::protobuf::CodedOutputStream;
use containerd_shim_runwasm::bootstrap::{decode, BootstrapError, BootstrapParams};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Field {
    InstanceId(String),
    Namespace(String),
    TtrpcAddress(String),
    GrpcAddress(String),
    ContainerdBinary(String),
    /// An unknown field (log level, version, extensions, socket dir, or a future one).
    Varint(u16, u64),
    Fixed64(u16, u64),
    Fixed32(u16, u32),
    Bytes(u16, Vec<u8>),
}

fn check_raw(input: &[u8], id: &str, ns: &str) {
    match decode(input, id, ns) {
        Ok(Some(params)) => {
            assert_eq!(params.instance_id, id);
            assert_eq!(params.namespace, ns);
            assert!(!params.containerd_ttrpc_address.is_empty());
        }
        Ok(None) => {}
        Err(BootstrapError::Mismatch { got, expected }) => {
            assert_ne!(got, expected, "a mismatch of equal names");
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

/// Field numbers 1, 2, 5, 6, 7 are the shim's; an unknown field gets any other number.
fn unknown_number(n: u16) -> u32 {
    let n = u32::from(n) % 536_870_911 + 1;
    if matches!(n, 1 | 2 | 5 | 6 | 7) {
        n + 7
    } else {
        n
    }
}

fn roundtrip(data: &[u8]) {
    let Ok(fields) = Vec::<Field>::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let mut expected = BootstrapParams::default();
    let mut bytes = Vec::new();
    {
        let mut out = CodedOutputStream::vec(&mut bytes);
        for field in &fields {
            match field {
                Field::InstanceId(s) => {
                    out.write_string(1, s).unwrap();
                    expected.instance_id = s.clone();
                }
                Field::Namespace(s) => {
                    out.write_string(2, s).unwrap();
                    expected.namespace = s.clone();
                }
                Field::TtrpcAddress(s) => {
                    out.write_string(5, s).unwrap();
                    expected.containerd_ttrpc_address = s.clone();
                }
                Field::GrpcAddress(s) => {
                    out.write_string(6, s).unwrap();
                    expected.containerd_grpc_address = s.clone();
                }
                Field::ContainerdBinary(s) => {
                    out.write_string(7, s).unwrap();
                    expected.containerd_binary = s.clone();
                }
                Field::Varint(n, v) => out.write_uint64(unknown_number(*n), *v).unwrap(),
                Field::Fixed64(n, v) => out.write_fixed64(unknown_number(*n), *v).unwrap(),
                Field::Fixed32(n, v) => out.write_fixed32(unknown_number(*n), *v).unwrap(),
                Field::Bytes(n, v) => out.write_bytes(unknown_number(*n), v).unwrap(),
            }
        }
        out.flush().unwrap();
    }
    let (id, ns) = (expected.instance_id.clone(), expected.namespace.clone());
    let decoded = decode(&bytes, &id, &ns);
    if bytes.is_empty() {
        assert!(matches!(decoded, Ok(None)));
    } else if expected.containerd_ttrpc_address.is_empty() {
        assert!(
            matches!(decoded, Err(BootstrapError::NoTtrpcAddress)),
            "{decoded:?} for {fields:?}"
        );
    } else {
        assert_eq!(decoded.unwrap(), Some(expected), "{fields:?}");
    }
    check_raw(&bytes, "c1", "k8s.io");
}

fuzz_target!(|data: &[u8]| {
    runwasm_fuzz::selftest();
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        check_raw(rest, "c1", "k8s.io");
        check_raw(rest, "", "");
    } else {
        roundtrip(rest);
    }
});
