//! A minimal gRPC client for one call, `grpc.health.v1.Health/Check`, over HTTP/2 without TLS:
//! what the kubelet's gRPC probe does (pkg/probe/grpc/grpc.go `Probe`), written by hand so that
//! the probe helper needs no HTTP/2 or protobuf library.
//!
//! One connection, one stream: the client preface and an empty SETTINGS frame (RFC 9113 §3.4),
//! a HEADERS frame whose block uses HPACK literals only (RFC 7541 §6.2.2, so the server's
//! table size does not matter), and a DATA frame holding the length-prefixed
//! `HealthCheckRequest` (gRPC over HTTP/2, PROTOCOL-HTTP2.md). The answer is read to the end of
//! stream 1: SETTINGS and PING are acknowledged, the header blocks are decoded with a full HPACK
//! decoder (static and dynamic tables, Huffman strings), and the result is the trailers'
//! `grpc-status` and the `HealthCheckResponse`'s serving status.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// The method the kubelet calls (grpc_health_v1 `Health_Check_FullMethodName`).
pub const HEALTH_CHECK_PATH: &str = "/grpc.health.v1.Health/Check";

/// `HealthCheckResponse.ServingStatus` (grpc/health/v1/health.proto).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServingStatus {
    /// `UNKNOWN` (0).
    Unknown,
    /// `SERVING` (1): the only healthy answer.
    Serving,
    /// `NOT_SERVING` (2).
    NotServing,
    /// `SERVICE_UNKNOWN` (3), used by `Watch` only.
    ServiceUnknown,
    /// A value this client does not know.
    Other(u64),
}

impl ServingStatus {
    fn from_wire(v: u64) -> ServingStatus {
        match v {
            0 => ServingStatus::Unknown,
            1 => ServingStatus::Serving,
            2 => ServingStatus::NotServing,
            3 => ServingStatus::ServiceUnknown,
            n => ServingStatus::Other(n),
        }
    }

    /// The enum's name as protobuf prints it (what the kubelet's message quotes).
    pub fn name(self) -> String {
        match self {
            ServingStatus::Unknown => "UNKNOWN".into(),
            ServingStatus::Serving => "SERVING".into(),
            ServingStatus::NotServing => "NOT_SERVING".into(),
            ServingStatus::ServiceUnknown => "SERVICE_UNKNOWN".into(),
            ServingStatus::Other(n) => n.to_string(),
        }
    }
}

/// Why a health check got no serving status.
#[derive(Debug, thiserror::Error)]
pub enum GrpcError {
    /// No connection within the timeout.
    #[error("connect {addr}: timed out")]
    ConnectTimeout {
        /// `host:port`.
        addr: String,
    },
    /// The connection was refused or failed.
    #[error("connect {addr}: {source}")]
    Connect {
        /// `host:port`.
        addr: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The call did not complete within the timeout.
    #[error("health rpc did not complete within the timeout")]
    DeadlineExceeded,
    /// The server answered with a non-zero `grpc-status`.
    #[error("rpc error: code = {} desc = {message}", code_name(*.code))]
    Status {
        /// The gRPC status code.
        code: u32,
        /// `grpc-message`, percent-decoded.
        message: String,
    },
    /// The server broke HTTP/2, HPACK or gRPC framing, or the connection failed midway.
    #[error("{0}")]
    Protocol(String),
}

/// The name of a gRPC status code (google.golang.org/grpc/codes, `Code.String`).
pub fn code_name(code: u32) -> String {
    const NAMES: [&str; 17] = [
        "OK",
        "Canceled",
        "Unknown",
        "InvalidArgument",
        "DeadlineExceeded",
        "NotFound",
        "AlreadyExists",
        "PermissionDenied",
        "ResourceExhausted",
        "FailedPrecondition",
        "Aborted",
        "OutOfRange",
        "Unimplemented",
        "Internal",
        "Unavailable",
        "DataLoss",
        "Unauthenticated",
    ];
    NAMES
        .get(code as usize)
        .map(|n| n.to_string())
        .unwrap_or_else(|| format!("Code({code})"))
}

/// gRPC status `Unimplemented`: the server has no health service.
pub const UNIMPLEMENTED: u32 = 12;
/// gRPC status `DeadlineExceeded`.
pub const DEADLINE_EXCEEDED: u32 = 4;

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const GOAWAY: u8 = 0x7;
const CONTINUATION: u8 = 0x9;
const END_STREAM: u8 = 0x1;
const ACK: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY: u8 = 0x20;
/// SETTINGS_MAX_FRAME_SIZE's initial value: the largest frame a peer may send us, since we
/// announce no other (RFC 9113 §6.5.2).
const MAX_FRAME: usize = 16_384;
/// The most response bytes (headers and message) we keep.
const MAX_RESPONSE: usize = 1 << 20;

/// Calls `grpc.health.v1.Health/Check` for `service` on `host:port`, within `timeout` in
/// all (connection included), and returns the serving status of a successful call.
pub fn health_check(
    host: &str,
    port: u16,
    service: &str,
    timeout: Duration,
) -> Result<ServingStatus, GrpcError> {
    let deadline = Instant::now() + timeout;
    let addr = join_host_port(host, port);
    let mut stream = connect(host, port, timeout, &addr)?;
    let _ = stream.set_nodelay(true);
    let request = request_bytes(&addr, service, timeout);
    with_deadline(&mut stream, deadline, |s| s.write_all(&request))?;
    let response = read_response(&mut stream, deadline)?;
    response.into_status()
}

fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

fn connect(host: &str, port: u16, timeout: Duration, addr: &str) -> Result<TcpStream, GrpcError> {
    let addrs = (host, port)
        .to_socket_addrs()
        .map_err(|source| GrpcError::Connect {
            addr: addr.to_string(),
            source,
        })?;
    let mut last = None;
    for a in addrs {
        match TcpStream::connect_timeout(&a, timeout) {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(e),
        }
    }
    Err(match last {
        Some(e) if e.kind() == std::io::ErrorKind::TimedOut => GrpcError::ConnectTimeout {
            addr: addr.to_string(),
        },
        Some(source) => GrpcError::Connect {
            addr: addr.to_string(),
            source,
        },
        None => GrpcError::Connect {
            addr: addr.to_string(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no address"),
        },
    })
}

/// Runs one blocking socket operation with the time left before `deadline` as its timeout.
fn with_deadline<T>(
    s: &mut TcpStream,
    deadline: Instant,
    op: impl FnOnce(&mut TcpStream) -> std::io::Result<T>,
) -> Result<T, GrpcError> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(GrpcError::DeadlineExceeded);
    }
    s.set_read_timeout(Some(left))
        .and_then(|()| s.set_write_timeout(Some(left)))
        .map_err(|e| GrpcError::Protocol(e.to_string()))?;
    op(s).map_err(|e| match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
            GrpcError::DeadlineExceeded
        }
        std::io::ErrorKind::UnexpectedEof => {
            GrpcError::Protocol("connection closed before the response ended".into())
        }
        _ => GrpcError::Protocol(e.to_string()),
    })
}

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut f = Vec::with_capacity(9 + payload.len());
    f.extend_from_slice(&len.to_be_bytes()[1..]);
    f.push(kind);
    f.push(flags);
    f.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// HPACK integer with an `n`-bit prefix (RFC 7541 §5.1); `first` holds the bits above it.
fn encode_int(out: &mut Vec<u8>, first: u8, n: u32, mut value: usize) {
    let max = (1usize << n) - 1;
    if value < max {
        out.push(first | value as u8);
        return;
    }
    out.push(first | max as u8);
    value -= max;
    while value >= 128 {
        out.push((value % 128) as u8 | 0x80);
        value /= 128;
    }
    out.push(value as u8);
}

/// A "literal header field without indexing" with a literal name (RFC 7541 §6.2.2) and raw
/// (not Huffman-coded) strings.
fn literal(out: &mut Vec<u8>, name: &str, value: &str) {
    out.push(0x00);
    encode_int(out, 0, 7, name.len());
    out.extend_from_slice(name.as_bytes());
    encode_int(out, 0, 7, value.len());
    out.extend_from_slice(value.as_bytes());
}

/// The whole request: preface, SETTINGS, HEADERS and DATA of stream 1.
fn request_bytes(authority: &str, service: &str, timeout: Duration) -> Vec<u8> {
    let mut block = Vec::new();
    block.push(0x83); // :method POST (static index 3)
    block.push(0x86); // :scheme http (static index 6)
    literal(&mut block, ":path", HEALTH_CHECK_PATH);
    literal(&mut block, ":authority", authority);
    literal(&mut block, "content-type", "application/grpc");
    literal(&mut block, "te", "trailers");
    // The kubelet's user agent is kube-probe/<major>.<minor>.
    literal(&mut block, "user-agent", "kube-probe/1.34");
    // At most 8 digits (PROTOCOL-HTTP2.md "Timeout").
    let ms = timeout.as_millis().min(99_999_999);
    literal(&mut block, "grpc-timeout", &format!("{ms}m"));
    // HealthCheckRequest { string service = 1; }: omitted when empty, as proto3 does.
    let mut message = Vec::new();
    if !service.is_empty() {
        message.push(0x0a); // field 1, wire type 2 (length-delimited)
        encode_varint(&mut message, service.len() as u64);
        message.extend_from_slice(service.as_bytes());
    }
    let mut data = vec![0u8]; // not compressed
    data.extend_from_slice(&(message.len() as u32).to_be_bytes());
    data.extend_from_slice(&message);

    let mut out = PREFACE.to_vec();
    out.extend(frame(SETTINGS, 0, 0, &[]));
    out.extend(frame(HEADERS, END_HEADERS, 1, &block));
    out.extend(frame(DATA, END_STREAM, 1, &data));
    out
}

fn encode_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// What came back on stream 1.
#[derive(Debug, Default)]
struct Response {
    /// Every header field of every header block (headers, then trailers).
    headers: Vec<(String, String)>,
    /// The DATA payload.
    data: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        // The trailers come last and win.
        self.headers
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn into_status(self) -> Result<ServingStatus, GrpcError> {
        match self.header(":status") {
            Some("200") => {}
            Some(other) => {
                return Err(GrpcError::Protocol(format!(
                    "unexpected HTTP status code received from server: {other}"
                )))
            }
            None => return Err(GrpcError::Protocol("response without :status".into())),
        }
        let code = match self.header("grpc-status") {
            Some(v) => v
                .trim()
                .parse::<u32>()
                .map_err(|_| GrpcError::Protocol(format!("malformed grpc-status {v:?}")))?,
            None => return Err(GrpcError::Protocol("response without grpc-status".into())),
        };
        if code != 0 {
            let message = percent_decode(self.header("grpc-message").unwrap_or(""));
            return Err(GrpcError::Status { code, message });
        }
        let message = grpc_message(&self.data)?;
        Ok(ServingStatus::from_wire(serving_status(message)?))
    }
}

/// The one length-prefixed message of a DATA payload (PROTOCOL-HTTP2.md "Length-Prefixed-Message").
fn grpc_message(data: &[u8]) -> Result<&[u8], GrpcError> {
    let bad = |why: &str| GrpcError::Protocol(format!("malformed grpc message: {why}"));
    if data.len() < 5 {
        return Err(bad("shorter than its 5-byte prefix"));
    }
    if data[0] != 0 {
        return Err(bad("compressed, but no compression was offered"));
    }
    let len = u32::from_be_bytes([data[1], data[2], data[3], data[4]]) as usize;
    data.get(5..5 + len).ok_or_else(|| bad("truncated"))
}

/// Field 1 (`status`, varint) of a `HealthCheckResponse`; 0 when absent (proto3 default).
fn serving_status(mut msg: &[u8]) -> Result<u64, GrpcError> {
    let bad = || GrpcError::Protocol("malformed HealthCheckResponse".into());
    let mut status = 0;
    while !msg.is_empty() {
        let key = read_varint(&mut msg).ok_or_else(bad)?;
        match key & 7 {
            0 => {
                let v = read_varint(&mut msg).ok_or_else(bad)?;
                if key >> 3 == 1 {
                    status = v;
                }
            }
            1 => msg = msg.get(8..).ok_or_else(bad)?,
            2 => {
                let len = read_varint(&mut msg).ok_or_else(bad)? as usize;
                msg = msg.get(len..).ok_or_else(bad)?;
            }
            5 => msg = msg.get(4..).ok_or_else(bad)?,
            _ => return Err(bad()),
        }
    }
    Ok(status)
}

fn read_varint(buf: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for i in 0..10 {
        let (&b, rest) = buf.split_first()?;
        *buf = rest;
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// `grpc-message` is percent-encoded (PROTOCOL-HTTP2.md "Responses").
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads frames until stream 1 ends, answering SETTINGS and PING as RFC 9113 requires.
fn read_response(s: &mut TcpStream, deadline: Instant) -> Result<Response, GrpcError> {
    let mut decoder = Decoder::new();
    let mut response = Response::default();
    let mut block: Option<(Vec<u8>, bool)> = None; // header block being continued, END_STREAM
    loop {
        let mut head = [0u8; 9];
        with_deadline(s, deadline, |s| s.read_exact(&mut head))?;
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let (kind, flags) = (head[3], head[4]);
        let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
        if len > MAX_FRAME {
            return Err(GrpcError::Protocol(format!(
                "frame of {len} bytes is over SETTINGS_MAX_FRAME_SIZE"
            )));
        }
        let mut payload = vec![0u8; len];
        with_deadline(s, deadline, |s| s.read_exact(&mut payload))?;
        if block.is_some() && kind != CONTINUATION {
            return Err(GrpcError::Protocol(
                "header block interrupted by another frame".into(),
            ));
        }
        match kind {
            SETTINGS if flags & ACK == 0 && stream == 0 => {
                with_deadline(s, deadline, |s| s.write_all(&frame(SETTINGS, ACK, 0, &[])))?;
            }
            PING if flags & ACK == 0 && stream == 0 => {
                with_deadline(s, deadline, |s| s.write_all(&frame(PING, ACK, 0, &payload)))?;
            }
            GOAWAY => {
                let code = payload
                    .get(4..8)
                    .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
                    .unwrap_or(0);
                return Err(GrpcError::Protocol(format!(
                    "connection closed by the server (GOAWAY, error code {code})"
                )));
            }
            RST_STREAM if stream == 1 => {
                let code = payload
                    .get(..4)
                    .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
                    .unwrap_or(0);
                return Err(GrpcError::Protocol(format!(
                    "stream reset by the server (error code {code})"
                )));
            }
            HEADERS if stream == 1 => {
                let mut body = unpad(&payload, flags)?;
                if flags & PRIORITY != 0 {
                    body = body
                        .get(5..)
                        .ok_or_else(|| GrpcError::Protocol("short HEADERS frame".into()))?;
                }
                let fragment = body.to_vec();
                let end_stream = flags & END_STREAM != 0;
                if flags & END_HEADERS != 0 {
                    let fields = decoder.decode(&fragment)?;
                    response.headers.extend(fields);
                    if end_stream {
                        return Ok(response);
                    }
                } else {
                    block = Some((fragment, end_stream));
                }
            }
            CONTINUATION if stream == 1 => {
                let Some((mut fragment, end_stream)) = block.take() else {
                    return Err(GrpcError::Protocol("CONTINUATION without HEADERS".into()));
                };
                fragment.extend_from_slice(&payload);
                if fragment.len() > MAX_RESPONSE {
                    return Err(GrpcError::Protocol("header block too large".into()));
                }
                if flags & END_HEADERS != 0 {
                    let fields = decoder.decode(&fragment)?;
                    response.headers.extend(fields);
                    if end_stream {
                        return Ok(response);
                    }
                } else {
                    block = Some((fragment, end_stream));
                }
            }
            DATA if stream == 1 => {
                response.data.extend_from_slice(unpad(&payload, flags)?);
                if response.data.len() > MAX_RESPONSE {
                    return Err(GrpcError::Protocol("response message too large".into()));
                }
                if flags & END_STREAM != 0 {
                    return Ok(response);
                }
            }
            // WINDOW_UPDATE, PRIORITY, acknowledgements, other streams, unknown types
            // (RFC 9113 §4.1: ignored).
            _ => {}
        }
    }
}

/// The payload of a frame without its padding (RFC 9113 §6.1).
fn unpad(payload: &[u8], flags: u8) -> Result<&[u8], GrpcError> {
    if flags & PADDED == 0 {
        return Ok(payload);
    }
    let bad = || GrpcError::Protocol("bad padding".into());
    let (&pad, rest) = payload.split_first().ok_or_else(bad)?;
    rest.len()
        .checked_sub(pad as usize)
        .map(|end| &rest[..end])
        .ok_or_else(bad)
}

/// RFC 7541 Appendix A: the static table (index 1 is the first entry).
const STATIC_TABLE: [(&str, &str); 61] = [
    (":authority", ""),
    (":method", "GET"),
    (":method", "POST"),
    (":path", "/"),
    (":path", "/index.html"),
    (":scheme", "http"),
    (":scheme", "https"),
    (":status", "200"),
    (":status", "204"),
    (":status", "206"),
    (":status", "304"),
    (":status", "400"),
    (":status", "404"),
    (":status", "500"),
    ("accept-charset", ""),
    ("accept-encoding", "gzip, deflate"),
    ("accept-language", ""),
    ("accept-ranges", ""),
    ("accept", ""),
    ("access-control-allow-origin", ""),
    ("age", ""),
    ("allow", ""),
    ("authorization", ""),
    ("cache-control", ""),
    ("content-disposition", ""),
    ("content-encoding", ""),
    ("content-language", ""),
    ("content-length", ""),
    ("content-location", ""),
    ("content-range", ""),
    ("content-type", ""),
    ("cookie", ""),
    ("date", ""),
    ("etag", ""),
    ("expect", ""),
    ("expires", ""),
    ("from", ""),
    ("host", ""),
    ("if-match", ""),
    ("if-modified-since", ""),
    ("if-none-match", ""),
    ("if-range", ""),
    ("if-unmodified-since", ""),
    ("last-modified", ""),
    ("link", ""),
    ("location", ""),
    ("max-forwards", ""),
    ("proxy-authenticate", ""),
    ("proxy-authorization", ""),
    ("range", ""),
    ("referer", ""),
    ("refresh", ""),
    ("retry-after", ""),
    ("server", ""),
    ("set-cookie", ""),
    ("strict-transport-security", ""),
    ("transfer-encoding", ""),
    ("user-agent", ""),
    ("vary", ""),
    ("via", ""),
    ("www-authenticate", ""),
];

/// RFC 7541 Appendix B: the Huffman code of each symbol (0–255, then EOS) as (code, bits).
const HUFFMAN: [(u32, u8); 257] = [
    (0x1ff8, 13),
    (0x7fffd8, 23),
    (0xfffffe2, 28),
    (0xfffffe3, 28),
    (0xfffffe4, 28),
    (0xfffffe5, 28),
    (0xfffffe6, 28),
    (0xfffffe7, 28),
    (0xfffffe8, 28),
    (0xffffea, 24),
    (0x3ffffffc, 30),
    (0xfffffe9, 28),
    (0xfffffea, 28),
    (0x3ffffffd, 30),
    (0xfffffeb, 28),
    (0xfffffec, 28),
    (0xfffffed, 28),
    (0xfffffee, 28),
    (0xfffffef, 28),
    (0xffffff0, 28),
    (0xffffff1, 28),
    (0xffffff2, 28),
    (0x3ffffffe, 30),
    (0xffffff3, 28),
    (0xffffff4, 28),
    (0xffffff5, 28),
    (0xffffff6, 28),
    (0xffffff7, 28),
    (0xffffff8, 28),
    (0xffffff9, 28),
    (0xffffffa, 28),
    (0xffffffb, 28),
    (0x14, 6),
    (0x3f8, 10),
    (0x3f9, 10),
    (0xffa, 12),
    (0x1ff9, 13),
    (0x15, 6),
    (0xf8, 8),
    (0x7fa, 11),
    (0x3fa, 10),
    (0x3fb, 10),
    (0xf9, 8),
    (0x7fb, 11),
    (0xfa, 8),
    (0x16, 6),
    (0x17, 6),
    (0x18, 6),
    (0x0, 5),
    (0x1, 5),
    (0x2, 5),
    (0x19, 6),
    (0x1a, 6),
    (0x1b, 6),
    (0x1c, 6),
    (0x1d, 6),
    (0x1e, 6),
    (0x1f, 6),
    (0x5c, 7),
    (0xfb, 8),
    (0x7ffc, 15),
    (0x20, 6),
    (0xffb, 12),
    (0x3fc, 10),
    (0x1ffa, 13),
    (0x21, 6),
    (0x5d, 7),
    (0x5e, 7),
    (0x5f, 7),
    (0x60, 7),
    (0x61, 7),
    (0x62, 7),
    (0x63, 7),
    (0x64, 7),
    (0x65, 7),
    (0x66, 7),
    (0x67, 7),
    (0x68, 7),
    (0x69, 7),
    (0x6a, 7),
    (0x6b, 7),
    (0x6c, 7),
    (0x6d, 7),
    (0x6e, 7),
    (0x6f, 7),
    (0x70, 7),
    (0x71, 7),
    (0x72, 7),
    (0xfc, 8),
    (0x73, 7),
    (0xfd, 8),
    (0x1ffb, 13),
    (0x7fff0, 19),
    (0x1ffc, 13),
    (0x3ffc, 14),
    (0x22, 6),
    (0x7ffd, 15),
    (0x3, 5),
    (0x23, 6),
    (0x4, 5),
    (0x24, 6),
    (0x5, 5),
    (0x25, 6),
    (0x26, 6),
    (0x27, 6),
    (0x6, 5),
    (0x74, 7),
    (0x75, 7),
    (0x28, 6),
    (0x29, 6),
    (0x2a, 6),
    (0x7, 5),
    (0x2b, 6),
    (0x76, 7),
    (0x2c, 6),
    (0x8, 5),
    (0x9, 5),
    (0x2d, 6),
    (0x77, 7),
    (0x78, 7),
    (0x79, 7),
    (0x7a, 7),
    (0x7b, 7),
    (0x7ffe, 15),
    (0x7fc, 11),
    (0x3ffd, 14),
    (0x1ffd, 13),
    (0xffffffc, 28),
    (0xfffe6, 20),
    (0x3fffd2, 22),
    (0xfffe7, 20),
    (0xfffe8, 20),
    (0x3fffd3, 22),
    (0x3fffd4, 22),
    (0x3fffd5, 22),
    (0x7fffd9, 23),
    (0x3fffd6, 22),
    (0x7fffda, 23),
    (0x7fffdb, 23),
    (0x7fffdc, 23),
    (0x7fffdd, 23),
    (0x7fffde, 23),
    (0xffffeb, 24),
    (0x7fffdf, 23),
    (0xffffec, 24),
    (0xffffed, 24),
    (0x3fffd7, 22),
    (0x7fffe0, 23),
    (0xffffee, 24),
    (0x7fffe1, 23),
    (0x7fffe2, 23),
    (0x7fffe3, 23),
    (0x7fffe4, 23),
    (0x1fffdc, 21),
    (0x3fffd8, 22),
    (0x7fffe5, 23),
    (0x3fffd9, 22),
    (0x7fffe6, 23),
    (0x7fffe7, 23),
    (0xffffef, 24),
    (0x3fffda, 22),
    (0x1fffdd, 21),
    (0xfffe9, 20),
    (0x3fffdb, 22),
    (0x3fffdc, 22),
    (0x7fffe8, 23),
    (0x7fffe9, 23),
    (0x1fffde, 21),
    (0x7fffea, 23),
    (0x3fffdd, 22),
    (0x3fffde, 22),
    (0xfffff0, 24),
    (0x1fffdf, 21),
    (0x3fffdf, 22),
    (0x7fffeb, 23),
    (0x7fffec, 23),
    (0x1fffe0, 21),
    (0x1fffe1, 21),
    (0x3fffe0, 22),
    (0x1fffe2, 21),
    (0x7fffed, 23),
    (0x3fffe1, 22),
    (0x7fffee, 23),
    (0x7fffef, 23),
    (0xfffea, 20),
    (0x3fffe2, 22),
    (0x3fffe3, 22),
    (0x3fffe4, 22),
    (0x7ffff0, 23),
    (0x3fffe5, 22),
    (0x3fffe6, 22),
    (0x7ffff1, 23),
    (0x3ffffe0, 26),
    (0x3ffffe1, 26),
    (0xfffeb, 20),
    (0x7fff1, 19),
    (0x3fffe7, 22),
    (0x7ffff2, 23),
    (0x3fffe8, 22),
    (0x1ffffec, 25),
    (0x3ffffe2, 26),
    (0x3ffffe3, 26),
    (0x3ffffe4, 26),
    (0x7ffffde, 27),
    (0x7ffffdf, 27),
    (0x3ffffe5, 26),
    (0xfffff1, 24),
    (0x1ffffed, 25),
    (0x7fff2, 19),
    (0x1fffe3, 21),
    (0x3ffffe6, 26),
    (0x7ffffe0, 27),
    (0x7ffffe1, 27),
    (0x3ffffe7, 26),
    (0x7ffffe2, 27),
    (0xfffff2, 24),
    (0x1fffe4, 21),
    (0x1fffe5, 21),
    (0x3ffffe8, 26),
    (0x3ffffe9, 26),
    (0xffffffd, 28),
    (0x7ffffe3, 27),
    (0x7ffffe4, 27),
    (0x7ffffe5, 27),
    (0xfffec, 20),
    (0xfffff3, 24),
    (0xfffed, 20),
    (0x1fffe6, 21),
    (0x3fffe9, 22),
    (0x1fffe7, 21),
    (0x1fffe8, 21),
    (0x7ffff3, 23),
    (0x3fffea, 22),
    (0x3fffeb, 22),
    (0x1ffffee, 25),
    (0x1ffffef, 25),
    (0xfffff4, 24),
    (0xfffff5, 24),
    (0x3ffffea, 26),
    (0x7ffff4, 23),
    (0x3ffffeb, 26),
    (0x7ffffe6, 27),
    (0x3ffffec, 26),
    (0x3ffffed, 26),
    (0x7ffffe7, 27),
    (0x7ffffe8, 27),
    (0x7ffffe9, 27),
    (0x7ffffea, 27),
    (0x7ffffeb, 27),
    (0xffffffe, 28),
    (0x7ffffec, 27),
    (0x7ffffed, 27),
    (0x7ffffee, 27),
    (0x7ffffef, 27),
    (0x7fffff0, 27),
    (0x3ffffee, 26),
    (0x3fffffff, 30),
];

/// An HPACK decoder: the static table, a dynamic table that lives as long as the connection,
/// and Huffman-coded strings (RFC 7541 §§2–6).
#[derive(Debug)]
pub struct Decoder {
    /// Newest first.
    dynamic: VecDeque<(String, String)>,
    size: usize,
    max_size: usize,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new()
    }
}

fn hpack_err(why: &str) -> GrpcError {
    GrpcError::Protocol(format!("hpack: {why}"))
}

impl Decoder {
    /// A decoder with SETTINGS_HEADER_TABLE_SIZE's initial 4096 bytes.
    pub fn new() -> Decoder {
        Decoder {
            dynamic: VecDeque::new(),
            size: 0,
            max_size: 4096,
        }
    }

    /// Decodes one complete header block into its fields, in order.
    pub fn decode(&mut self, mut block: &[u8]) -> Result<Vec<(String, String)>, GrpcError> {
        let mut fields = Vec::new();
        while let Some(&first) = block.first() {
            if first & 0x80 != 0 {
                // §6.1 indexed header field.
                let index = decode_int(&mut block, 7)?;
                fields.push(self.entry(index)?);
            } else if first & 0x40 != 0 {
                // §6.2.1 literal with incremental indexing.
                let field = self.literal(&mut block, 6)?;
                self.insert(field.clone());
                fields.push(field);
            } else if first & 0x20 != 0 {
                // §6.3 dynamic table size update (at most the 4096 we allow).
                let size = decode_int(&mut block, 5)?;
                if size > 4096 {
                    return Err(hpack_err(
                        "table size update above SETTINGS_HEADER_TABLE_SIZE",
                    ));
                }
                self.max_size = size;
                self.evict();
            } else {
                // §6.2.2 without indexing, §6.2.3 never indexed: both 4-bit prefixes.
                fields.push(self.literal(&mut block, 4)?);
            }
        }
        Ok(fields)
    }

    fn entry(&self, index: usize) -> Result<(String, String), GrpcError> {
        match index {
            0 => Err(hpack_err("index 0")),
            1..=61 => {
                let (n, v) = STATIC_TABLE[index - 1];
                Ok((n.to_string(), v.to_string()))
            }
            _ => self
                .dynamic
                .get(index - 62)
                .cloned()
                .ok_or_else(|| hpack_err("index beyond the dynamic table")),
        }
    }

    fn literal(&self, block: &mut &[u8], prefix: u32) -> Result<(String, String), GrpcError> {
        let index = decode_int(block, prefix)?;
        let name = if index == 0 {
            decode_string(block)?
        } else {
            self.entry(index)?.0
        };
        let value = decode_string(block)?;
        Ok((name, value))
    }

    fn insert(&mut self, field: (String, String)) {
        self.size += field.0.len() + field.1.len() + 32;
        self.dynamic.push_front(field);
        self.evict();
    }

    fn evict(&mut self) {
        while self.size > self.max_size {
            match self.dynamic.pop_back() {
                Some((n, v)) => self.size -= n.len() + v.len() + 32,
                None => self.size = 0,
            }
        }
    }
}

/// RFC 7541 §5.1: an integer with an `n`-bit prefix.
fn decode_int(block: &mut &[u8], n: u32) -> Result<usize, GrpcError> {
    let (&first, rest) = block.split_first().ok_or_else(|| hpack_err("truncated"))?;
    *block = rest;
    let max = (1usize << n) - 1;
    let mut value = usize::from(first) & max;
    if value < max {
        return Ok(value);
    }
    let mut shift = 0;
    loop {
        let (&b, rest) = block.split_first().ok_or_else(|| hpack_err("truncated"))?;
        *block = rest;
        if shift > 28 {
            return Err(hpack_err("integer too large"));
        }
        value += usize::from(b & 0x7f) << shift;
        shift += 7;
        if b & 0x80 == 0 {
            return Ok(value);
        }
    }
}

/// RFC 7541 §5.2: a string literal, raw or Huffman-coded.
fn decode_string(block: &mut &[u8]) -> Result<String, GrpcError> {
    let huffman = block.first().is_some_and(|b| b & 0x80 != 0);
    let len = decode_int(block, 7)?;
    if len > block.len() {
        return Err(hpack_err("truncated string"));
    }
    let (raw, rest) = block.split_at(len);
    *block = rest;
    let bytes = if huffman {
        huffman_decode(raw)?
    } else {
        raw.to_vec()
    };
    String::from_utf8(bytes).map_err(|_| hpack_err("header is not UTF-8"))
}

/// Decodes a Huffman-coded string (RFC 7541 §5.2: the padding is at most 7 one bits, the
/// start of EOS; EOS itself is an error). Walks the codes of each length, shortest first: the
/// code is canonical, so a prefix of `bits` bits matches at most one symbol of that length.
pub fn huffman_decode(raw: &[u8]) -> Result<Vec<u8>, GrpcError> {
    let mut out = Vec::with_capacity(raw.len() * 8 / 5);
    let (mut acc, mut nbits) = (0u64, 0u32);
    let mut bytes = raw.iter();
    loop {
        // Find the shortest code matching the top of `acc`.
        let mut matched = None;
        for len in 5..=30u32 {
            while nbits < len {
                match bytes.next() {
                    Some(&b) => {
                        acc = (acc << 8) | u64::from(b);
                        nbits += 8;
                    }
                    None => break,
                }
            }
            if nbits < len {
                break;
            }
            let code = ((acc >> (nbits - len)) & ((1u64 << len) - 1)) as u32;
            if let Some(sym) = HUFFMAN
                .iter()
                .position(|&(c, b)| u32::from(b) == len && c == code)
            {
                matched = Some((sym, len));
                break;
            }
        }
        match matched {
            Some((256, _)) => return Err(hpack_err("EOS in a Huffman string")),
            Some((sym, len)) => {
                out.push(sym as u8);
                nbits -= len;
                acc &= (1u64 << nbits) - 1;
            }
            None => {
                // What is left must be padding: fewer than 8 bits, all ones.
                if nbits < 8 && acc == (1u64 << nbits) - 1 {
                    return Ok(out);
                }
                return Err(hpack_err("bad Huffman padding"));
            }
        }
    }
}

/// Huffman-codes `s` (tests build server answers the way real servers send them).
#[cfg(test)]
fn huffman_encode(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let (mut acc, mut nbits) = (0u64, 0u32);
    for &c in s {
        let (code, bits) = HUFFMAN[c as usize];
        acc = (acc << bits) | u64::from(code);
        nbits += u32::from(bits);
        while nbits >= 8 {
            nbits -= 8;
            out.push((acc >> nbits) as u8);
        }
        acc &= (1u64 << nbits) - 1;
    }
    if nbits > 0 {
        let pad = 8 - nbits;
        out.push(((acc << pad) | ((1 << pad) - 1)) as u8);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn hpack_decodes_rfc_7541_examples_with_huffman_and_the_dynamic_table() {
        // RFC 7541 C.4.1 and C.4.2: two requests on one connection, Huffman-coded.
        let mut d = Decoder::new();
        let first = [
            0x82, 0x86, 0x84, 0x41, 0x8c, 0xf1, 0xe3, 0xc2, 0xe5, 0xf2, 0x3a, 0x6b, 0xa0, 0xab,
            0x90, 0xf4, 0xff,
        ];
        let fields = d.decode(&first).unwrap();
        let want = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(
            fields,
            want(&[
                (":method", "GET"),
                (":scheme", "http"),
                (":path", "/"),
                (":authority", "www.example.com"),
            ])
        );
        let second = [
            0x82, 0x86, 0x84, 0xbe, 0x58, 0x86, 0xa8, 0xeb, 0x10, 0x64, 0x9c, 0xbf,
        ];
        assert_eq!(
            d.decode(&second).unwrap(),
            want(&[
                (":method", "GET"),
                (":scheme", "http"),
                (":path", "/"),
                (":authority", "www.example.com"),
                ("cache-control", "no-cache"),
            ])
        );
        // An index past both tables, a truncated string and bad padding are errors.
        assert!(Decoder::new().decode(&[0xbf]).is_err());
        assert!(Decoder::new().decode(&[0x00, 0x05, b'a']).is_err());
        assert!(huffman_decode(&[0x00]).is_err());
    }

    #[test]
    fn huffman_round_trips_every_byte() {
        let all: Vec<u8> = (0..=255u8).collect();
        assert_eq!(huffman_decode(&huffman_encode(&all)).unwrap(), all);
        assert_eq!(
            huffman_decode(&huffman_encode(b"grpc-status")).unwrap(),
            b"grpc-status"
        );
    }

    /// What the test server answers.
    #[derive(Clone, Copy)]
    enum Answer {
        Status(u64),
        /// A trailers-only response with this grpc-status and message.
        Error(u32, &'static str),
        Silence,
    }

    /// Reads one frame: (type, flags, stream, payload).
    fn read_frame(s: &mut TcpStream) -> std::io::Result<(u8, u8, u32, Vec<u8>)> {
        let mut head = [0u8; 9];
        s.read_exact(&mut head)?;
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let mut payload = vec![0; len];
        s.read_exact(&mut payload)?;
        let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]);
        Ok((head[3], head[4], stream, payload))
    }

    /// An HPACK field "with incremental indexing", Huffman-coded, as grpc-go's server sends
    /// most of its headers.
    fn indexed_literal(out: &mut Vec<u8>, name: &str, value: &str) {
        out.push(0x40);
        for s in [name, value] {
            let h = huffman_encode(s.as_bytes());
            encode_int(out, 0x80, 7, h.len());
            out.extend_from_slice(&h);
        }
    }

    /// A one-connection gRPC health server on an ephemeral port: it checks the request
    /// (path, content type, the service in the message) and answers as told. Returns the
    /// port and the thread, which yields the service name it was asked about.
    fn server(answer: Answer) -> (u16, std::thread::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let handle = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut preface = [0u8; 24];
            s.read_exact(&mut preface).unwrap();
            assert_eq!(&preface[..], PREFACE);
            let mut decoder = Decoder::new();
            let mut headers = Vec::new();
            let mut data = Vec::new();
            loop {
                let (kind, flags, stream, payload) = read_frame(&mut s).unwrap();
                match kind {
                    HEADERS => {
                        assert_eq!(stream, 1);
                        headers = decoder.decode(&payload).unwrap();
                    }
                    DATA => {
                        data.extend_from_slice(&payload);
                        if flags & END_STREAM != 0 {
                            break;
                        }
                    }
                    _ => {}
                }
            }
            let get = |n: &str| {
                headers
                    .iter()
                    .find(|(k, _)| k == n)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            };
            assert_eq!(get(":path"), HEALTH_CHECK_PATH);
            assert_eq!(get(":method"), "POST");
            assert_eq!(get("content-type"), "application/grpc");
            assert_eq!(get("te"), "trailers");
            let msg = grpc_message(&data).unwrap();
            let service = if msg.is_empty() {
                String::new()
            } else {
                assert_eq!(msg[0], 0x0a);
                String::from_utf8(msg[2..2 + msg[1] as usize].to_vec()).unwrap()
            };
            // The server's SETTINGS, which the client must acknowledge, and a PING.
            s.write_all(&frame(SETTINGS, 0, 0, &[0, 3, 0, 0, 0, 100]))
                .unwrap();
            s.write_all(&frame(PING, 0, 0, &[7; 8])).unwrap();
            let mut head = Vec::new();
            head.push(0x88); // :status 200
            indexed_literal(&mut head, "content-type", "application/grpc");
            match answer {
                Answer::Silence => {
                    // Hold the connection open past the client's deadline.
                    let _ = read_frame(&mut s);
                    let _ = read_frame(&mut s);
                    std::thread::sleep(Duration::from_millis(1500));
                }
                Answer::Status(status) => {
                    s.write_all(&frame(HEADERS, END_HEADERS, 1, &head)).unwrap();
                    let body = [0, 0, 0, 0, 2, 0x08, status as u8];
                    s.write_all(&frame(DATA, 0, 1, &body)).unwrap();
                    let mut trailers = Vec::new();
                    indexed_literal(&mut trailers, "grpc-status", "0");
                    s.write_all(&frame(HEADERS, END_HEADERS | END_STREAM, 1, &trailers))
                        .unwrap();
                }
                Answer::Error(code, message) => {
                    indexed_literal(&mut head, "grpc-status", &code.to_string());
                    indexed_literal(&mut head, "grpc-message", message);
                    s.write_all(&frame(HEADERS, END_HEADERS | END_STREAM, 1, &head))
                        .unwrap();
                }
            }
            // The client acknowledged SETTINGS and PING.
            let mut acks = 0;
            while let Ok((kind, flags, _, _)) = read_frame(&mut s) {
                if (kind == SETTINGS || kind == PING) && flags & ACK != 0 {
                    acks += 1;
                }
            }
            if !matches!(answer, Answer::Silence) {
                assert_eq!(acks, 2, "SETTINGS and PING acknowledged");
            }
            service
        });
        (port, handle)
    }

    #[test]
    fn serving_and_not_serving() {
        let (port, server_thread) = server(Answer::Status(1));
        let got = health_check("127.0.0.1", port, "shop", Duration::from_secs(5)).unwrap();
        assert_eq!(got, ServingStatus::Serving);
        assert_eq!(server_thread.join().unwrap(), "shop");

        let (port, server_thread) = server(Answer::Status(2));
        let got = health_check("127.0.0.1", port, "", Duration::from_secs(5)).unwrap();
        assert_eq!(got, ServingStatus::NotServing);
        assert_eq!(got.name(), "NOT_SERVING");
        assert_eq!(server_thread.join().unwrap(), "");
    }

    #[test]
    fn unknown_service_is_a_not_found_status() {
        let (port, server_thread) = server(Answer::Error(5, "unknown service"));
        let err = health_check("127.0.0.1", port, "nope", Duration::from_secs(5)).unwrap_err();
        assert!(
            matches!(&err, GrpcError::Status { code: 5, message } if message == "unknown service"),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "rpc error: code = NotFound desc = unknown service"
        );
        server_thread.join().unwrap();
    }

    #[test]
    fn a_silent_server_times_out() {
        let (port, server_thread) = server(Answer::Silence);
        let err = health_check("127.0.0.1", port, "", Duration::from_millis(300)).unwrap_err();
        assert!(matches!(err, GrpcError::DeadlineExceeded), "{err:?}");
        server_thread.join().unwrap();
    }

    #[test]
    fn a_closed_port_fails_to_connect() {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let err = health_check("127.0.0.1", port, "", Duration::from_secs(1)).unwrap_err();
        assert!(matches!(err, GrpcError::Connect { .. }), "{err:?}");
    }

    #[test]
    fn response_messages_parse() {
        assert_eq!(serving_status(&[0x08, 0x01]).unwrap(), 1);
        assert_eq!(serving_status(&[]).unwrap(), 0);
        // An unknown length-delimited field before the status is skipped.
        assert_eq!(serving_status(&[0x12, 0x01, 0xff, 0x08, 0x02]).unwrap(), 2);
        assert!(serving_status(&[0x08]).is_err());
        assert!(grpc_message(&[1, 0, 0, 0, 0]).is_err());
        assert_eq!(percent_decode("a%20b%2"), "a b%2");
    }
}
