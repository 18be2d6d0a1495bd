//! containerd 2.3's shim bootstrap: `start` gets a `containerd.runtime.bootstrap.v1.
//! BootstrapParams` on stdin and answers with a `BootstrapResult` on stdout. Older containerd
//! (1.6, 1.7, 2.0-2.2) passes the same through flags and `TTRPC_ADDRESS`, and reads a bare
//! address. The containerd-shim crate that speaks task API v2 (which containerd 1.6 needs)
//! predates the bootstrap, so the two messages are coded here, field by field.

use std::io::{IsTerminal, Read};

use containerd_shim::protos::protobuf::{CodedInputStream, CodedOutputStream};
use containerd_shim::{Flags, StartOpts};

/// Task API version of this shim: containerd-shim 0.11 serves `containerd.task.v2.Task`.
pub const TASK_API_VERSION: i32 = 2;

/// The fields of BootstrapParams the shim uses.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BootstrapParams {
    pub instance_id: String,
    pub namespace: String,
    pub containerd_ttrpc_address: String,
    pub containerd_grpc_address: String,
    pub containerd_binary: String,
}

#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error("bootstrap params for {got} do not match the command line's {expected}")]
    Mismatch { got: String, expected: String },
    #[error("bootstrap params carry no containerd TTRPC address")]
    NoTtrpcAddress,
    #[error("cannot read the bootstrap params on stdin: {0}")]
    Read(#[from] std::io::Error),
    #[error("cannot encode the bootstrap result: {0}")]
    Encode(#[from] containerd_shim::protos::protobuf::Error),
}

/// For `start`: the options of a containerd that used the bootstrap protocol, or `None` for
/// the old one (then the flags and `TTRPC_ADDRESS` say it all).
pub fn start_opts(flags: &Flags) -> Result<Option<StartOpts>, BootstrapError> {
    let stdin = std::io::stdin();
    // started by hand from a console: nothing is piped in
    if stdin.is_terminal() {
        return Ok(None);
    }
    let mut input = Vec::new();
    stdin.lock().take(10 << 20).read_to_end(&mut input)?;
    Ok(
        decode(&input, &flags.id, &flags.namespace)?.map(|params| StartOpts {
            id: params.instance_id,
            publish_binary: params.containerd_binary,
            address: params.containerd_grpc_address,
            ttrpc_address: params.containerd_ttrpc_address,
            namespace: params.namespace,
            debug: flags.debug,
        }),
    )
}

/// Field numbers of BootstrapParams (api/runtime/bootstrap/v1/bootstrap.proto).
const INSTANCE_ID: u32 = 1;
const NAMESPACE: u32 = 2;
const TTRPC_ADDRESS: u32 = 5;
const GRPC_ADDRESS: u32 = 6;
const CONTAINERD_BINARY: u32 = 7;
const WIRE_LEN: u32 = 2;

/// Decodes what containerd wrote to `start`'s stdin. `None` means the old protocol: nothing
/// on stdin, or runtime options (a protobuf Any), which are not BootstrapParams.
pub fn decode(
    input: &[u8],
    id: &str,
    namespace: &str,
) -> Result<Option<BootstrapParams>, BootstrapError> {
    if input.is_empty() {
        return Ok(None);
    }
    let Some(params) = parse(input) else {
        return Ok(None);
    };
    if params.instance_id != id || params.namespace != namespace {
        // an Any decodes as fields 1 and 2 only (type URL, value): that is the old protocol
        let identity_only = BootstrapParams {
            instance_id: params.instance_id.clone(),
            namespace: params.namespace.clone(),
            ..Default::default()
        };
        if params == identity_only {
            return Ok(None);
        }
        return Err(BootstrapError::Mismatch {
            got: format!("{}/{}", params.namespace, params.instance_id),
            expected: format!("{namespace}/{id}"),
        });
    }
    if params.containerd_ttrpc_address.is_empty() {
        return Err(BootstrapError::NoTtrpcAddress);
    }
    Ok(Some(params))
}

/// Reads the string fields the shim needs and skips the rest (log level, version,
/// extensions, socket dir); `None` when the bytes are not a protobuf message.
fn parse(input: &[u8]) -> Option<BootstrapParams> {
    let mut stream = CodedInputStream::from_bytes(input);
    let mut params = BootstrapParams::default();
    while !stream.eof().ok()? {
        let tag = stream.read_raw_varint32().ok()?;
        let (field, wire_type) = (tag >> 3, tag & 7);
        let slot = match (field, wire_type) {
            (INSTANCE_ID, WIRE_LEN) => Some(&mut params.instance_id),
            (NAMESPACE, WIRE_LEN) => Some(&mut params.namespace),
            (TTRPC_ADDRESS, WIRE_LEN) => Some(&mut params.containerd_ttrpc_address),
            (GRPC_ADDRESS, WIRE_LEN) => Some(&mut params.containerd_grpc_address),
            (CONTAINERD_BINARY, WIRE_LEN) => Some(&mut params.containerd_binary),
            _ => None,
        };
        match slot {
            Some(slot) => *slot = stream.read_string().ok()?,
            None => skip(&mut stream, wire_type)?,
        }
    }
    Some(params)
}

fn skip(stream: &mut CodedInputStream, wire_type: u32) -> Option<()> {
    match wire_type {
        0 => stream.read_raw_varint64().ok().map(|_| ()),
        1 => stream.read_raw_little_endian64().ok().map(|_| ()),
        2 => {
            let len = stream.read_raw_varint32().ok()?;
            stream.skip_raw_bytes(len).ok()
        }
        5 => stream.read_raw_little_endian32().ok().map(|_| ()),
        _ => None,
    }
}

/// BootstrapResult{version, address, protocol: "ttrpc"}.
pub fn encode_result(address: &str) -> Result<Vec<u8>, BootstrapError> {
    let mut out = Vec::new();
    {
        let mut stream = CodedOutputStream::vec(&mut out);
        stream.write_int32(1, TASK_API_VERSION)?;
        stream.write_string(2, address)?;
        stream.write_string(3, "ttrpc")?;
        stream.flush()?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A string field, written out by hand from the protobuf wire format.
    fn field(number: u8, text: &str) -> Vec<u8> {
        let mut out = vec![(number << 3) | 2, text.len() as u8];
        out.extend_from_slice(text.as_bytes());
        out
    }

    /// BootstrapParams as containerd 2.3 sends it, log level DEBUG (-4, a 10-byte varint)
    /// and an extension included.
    fn params_bytes(id: &str, ns: &str) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend(field(1, id));
        out.extend(field(2, ns));
        out.extend([
            0x18, 0xfc, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
        ]);
        out.extend(field(4, "v2.3.0"));
        out.extend(field(5, "/run/containerd/containerd.sock.ttrpc"));
        out.extend(field(6, "/run/containerd/containerd.sock"));
        out.extend(field(7, "/usr/bin/containerd"));
        let any = field(1, "types.containerd.io/opts");
        out.extend([(8 << 3) | 2, any.len() as u8 + 2, 0x0a, any.len() as u8]);
        out.extend(any);
        out.extend(field(9, "/run/containerd/s"));
        out
    }

    #[test]
    fn decodes_containerd_2_3_params() {
        let params = decode(&params_bytes("c1", "k8s.io"), "c1", "k8s.io")
            .unwrap()
            .expect("bootstrap protocol");
        assert_eq!(
            params,
            BootstrapParams {
                instance_id: "c1".into(),
                namespace: "k8s.io".into(),
                containerd_ttrpc_address: "/run/containerd/containerd.sock.ttrpc".into(),
                containerd_grpc_address: "/run/containerd/containerd.sock".into(),
                containerd_binary: "/usr/bin/containerd".into(),
            }
        );
    }

    #[test]
    fn old_protocol_is_none() {
        assert_eq!(decode(b"", "c1", "ns").unwrap(), None);
        // runtime options: an Any {type_url, value}
        let mut any = field(1, "containerd.runc.v1.Options");
        any.extend(field(2, "\x08\x01"));
        assert_eq!(decode(&any, "c1", "ns").unwrap(), None);
        assert_eq!(decode(b"\xff\xff\xff", "c1", "ns").unwrap(), None);
    }

    #[test]
    fn params_for_another_container_are_an_error() {
        let err = decode(&params_bytes("c2", "k8s.io"), "c1", "k8s.io").unwrap_err();
        assert!(err.to_string().contains("k8s.io/c2"), "{err}");
    }

    #[test]
    fn result_is_version_address_protocol() {
        let bytes = encode_result("unix:///run/containerd/s/abc").unwrap();
        let mut expected = vec![0x08, 0x02];
        expected.extend(field(2, "unix:///run/containerd/s/abc"));
        expected.extend(field(3, "ttrpc"));
        assert_eq!(bytes, expected);
    }
}
