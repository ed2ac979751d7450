//! Capture files and the recording proxy.
//!
//! A capture is JSON lines in the format of `iris/captures/` (one object per
//! frame): `client` (connection label), `dir` (`C->S` or `S->C`),
//! `header_hex`, `body_hex`, `code` (request letters, or `0x` and the two
//! status bytes in wire order for replies), `code_u16`, `msg_id`, `stmt_id`,
//! `len`, and a best-effort `decoded` body for reading. A connection ends
//! with `{"client": …, "event": "closed"}`.
//!
//! [`run_recorder`] is a plain-TCP proxy between clients and a real IRIS that
//! writes such a capture of everything that passes, so anyone with an IRIS
//! can record real server replies (`pgiris iris-record`). It cannot see into
//! TLS: point it at a superserver that accepts plain connections.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use serde_json::{Value as Json, json};

use super::frame::{self, HEADER_LEN, Header};
use super::list::{Item, ListReader};

/// Which way a frame went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    ClientToServer,
    ServerToClient,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::ClientToServer => "C->S",
            Direction::ServerToClient => "S->C",
        }
    }
}

fn hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        s.push_str(&format!("{x:02x}"));
    }
    s
}

/// A best-effort reading of a body, in the captures' vocabulary.
pub fn decode_for_humans(dir: Direction, header: &Header, body: &[u8]) -> Json {
    if dir == Direction::ClientToServer && header.code == frame::code::HANDSHAKE && body.len() == 2
    {
        return json!({ "protocol": u16::from_le_bytes([body[0], body[1]]) });
    }
    let mut out = Vec::new();
    let mut r = ListReader::new(body);
    loop {
        let at = r.position();
        match r.next_item() {
            Ok(None) => break,
            Ok(Some(item)) => out.push(match item {
                Item::Undefined => json!({ "undefined": true }),
                Item::Null => json!({ "null": "ascii-empty" }),
                Item::Str8(b) | Item::Oref8(b) => {
                    json!({ "ascii": super::list::latin1_to_string(b) })
                }
                Item::Str16(b) | Item::Oref16(b) => {
                    json!({ "unicode": super::list::utf16le_to_string(b) })
                }
                Item::Int(i) => json!({ "int": i }),
                Item::BigInt(i) => json!({ "int": i.to_string() }),
                Item::Decimal { mantissa, exponent } => {
                    json!({ "dec": format!("{mantissa}E{exponent}") })
                }
                Item::Double(d) => json!({ "double": d }),
                Item::Other { ty, payload } => json!({ "type": ty, "hex": hex(payload) }),
            }),
            Err(_) => {
                out.push(json!({ "trailing": hex(&body[at..]) }));
                break;
            }
        }
    }
    Json::Array(out)
}

/// One capture line for a frame.
pub fn capture_line(client: &str, dir: Direction, header: &Header, body: &[u8]) -> Json {
    let code = match dir {
        Direction::ClientToServer if header.code.iter().all(u8::is_ascii_alphanumeric) => {
            String::from_utf8_lossy(&header.code).into_owned()
        }
        _ => format!("0x{}", hex(&header.code)),
    };
    json!({
        "client": client,
        "dir": dir.as_str(),
        "len": header.length,
        "msg_id": header.msg_id,
        "stmt_id": header.stmt_id,
        "code": code,
        "code_u16": header.status(),
        "header_hex": hex(&header.encode()),
        "body_hex": hex(body),
        "decoded": decode_for_humans(dir, header, body),
    })
}

/// Where capture lines go; shared by every connection of a run.
#[derive(Clone)]
pub struct CaptureSink(Arc<Mutex<Box<dyn Write + Send>>>);

impl std::fmt::Debug for CaptureSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CaptureSink")
    }
}

impl CaptureSink {
    /// A new file (truncated), or standard output for `None`.
    pub fn open(path: Option<&Path>) -> io::Result<CaptureSink> {
        let w: Box<dyn Write + Send> = match path {
            Some(p) => Box::new(BufWriter::new(File::create(p)?)),
            None => Box::new(io::stdout()),
        };
        Ok(CaptureSink(Arc::new(Mutex::new(w))))
    }

    pub fn write(&self, line: &Json) {
        let mut w = self.0.lock().unwrap_or_else(|p| p.into_inner());
        // A capture that cannot be written must not break the traffic.
        let _ = writeln!(w, "{line}");
        let _ = w.flush();
    }

    pub fn frame(&self, client: &str, dir: Direction, header: &Header, body: &[u8]) {
        self.write(&capture_line(client, dir, header, body));
    }

    pub fn closed(&self, client: &str) {
        self.write(&json!({ "client": client, "event": "closed" }));
    }
}

/// Copies frames from `from` to `to`, recording each; returns at the end of
/// either stream.
fn pump(mut from: TcpStream, mut to: TcpStream, client: &str, dir: Direction, sink: &CaptureSink) {
    let mut body = Vec::new();
    while let Ok(Some(header)) = frame::read_header(&mut from) {
        body.clear();
        let len = header.length as usize;
        match (&mut from).take(len as u64).read_to_end(&mut body) {
            Ok(n) if n == len => {}
            _ => break,
        }
        sink.frame(client, dir, &header, &body);
        let mut out = Vec::with_capacity(HEADER_LEN + len);
        out.extend_from_slice(&header.encode());
        out.extend_from_slice(&body);
        if to.write_all(&out).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
    let _ = from.shutdown(Shutdown::Read);
}

/// Runs the recording proxy: accepts clients on `listener`, connects each to
/// `upstream` ("host:port") and writes every frame both ways to `out` (a
/// file, truncated; standard output when `None`). Blocks for as long as the
/// listener accepts.
///
/// This is the entry point of `pgiris iris-record --listen ADDR --upstream
/// HOST:PORT [--out FILE]`.
pub fn run_recorder(
    listener: TcpListener,
    upstream: String,
    out: Option<PathBuf>,
) -> io::Result<()> {
    let sink = CaptureSink::open(out.as_deref())?;
    let counter = AtomicU64::new(0);
    for client in listener.incoming() {
        let client = match client {
            Ok(c) => c,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let label = format!("conn{}", counter.fetch_add(1, Ordering::Relaxed));
        let server = match TcpStream::connect(&upstream) {
            Ok(s) => s,
            Err(e) => {
                log::warn!("iris-record: cannot reach {upstream}: {e}");
                let _ = client.shutdown(Shutdown::Both);
                continue;
            }
        };
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        let (c2, s2) = match (client.try_clone(), server.try_clone()) {
            (Ok(c), Ok(s)) => (c, s),
            _ => continue,
        };
        let sink_up = sink.clone();
        let sink_down = sink.clone();
        let label_up = label.clone();
        thread::spawn(move || {
            let down = thread::spawn(move || {
                pump(s2, c2, &label, Direction::ServerToClient, &sink_down);
                label
            });
            pump(
                client,
                server,
                &label_up,
                Direction::ClientToServer,
                &sink_up,
            );
            if let Ok(label) = down.join() {
                sink_up.closed(&label);
            }
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_line_matches_the_captures_format() {
        // cap2_caret: the DQ reply with status 100.
        let header = Header {
            length: 3,
            msg_id: 9,
            stmt_id: 2,
            code: [0x64, 0],
        };
        let line = capture_line("conn0", Direction::ServerToClient, &header, &[3, 4, 1]);
        assert_eq!(line["code"], "0x6400");
        assert_eq!(line["code_u16"], 100);
        assert_eq!(line["header_hex"], "0300000009000000020000006400");
        assert_eq!(line["body_hex"], "030401");
        assert_eq!(line["decoded"], json!([{ "int": 1 }]));
        let hs = Header {
            length: 2,
            msg_id: 1,
            stmt_id: 0,
            code: *b"HS",
        };
        let line = capture_line("conn0", Direction::ClientToServer, &hs, &[0x41, 0]);
        assert_eq!(line["code"], "HS");
        assert_eq!(line["code_u16"], 21320);
        assert_eq!(line["decoded"], json!({ "protocol": 65 }));
    }
}
