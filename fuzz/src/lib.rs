//! What the fuzz targets share: an allocator that remembers the largest
//! single allocation (so a target can assert that nothing was sized by a
//! number in the input rather than by the bytes that arrived), a reader that
//! hands out data in fuzzer-chosen short reads, and a splitter for inputs
//! that carry several messages.

use pgiris::wire::types::{Oid, oid};
use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{self, Read};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The system allocator, recording the largest request since the last
/// [`reset_allocations`].
pub struct RecordingAllocator;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

fn note(size: usize) {
    LARGEST.fetch_max(size, Ordering::Relaxed);
}

// SAFETY: every call is forwarded unchanged to `System`; only the requested
// size is recorded.
unsafe impl GlobalAlloc for RecordingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: RecordingAllocator = RecordingAllocator;

/// Forgets the allocations recorded so far.
pub fn reset_allocations() {
    LARGEST.store(0, Ordering::Relaxed);
}

/// The largest single allocation since the last reset.
pub fn largest_allocation() -> usize {
    LARGEST.load(Ordering::Relaxed)
}

/// Panics when an allocation since the last reset exceeded
/// `factor * input_len + slack` bytes: the input made the code reserve
/// memory for bytes that never arrived.
pub fn assert_allocations_bounded(what: &str, input_len: usize, factor: usize, slack: usize) {
    let largest = largest_allocation();
    let bound = input_len.saturating_mul(factor).saturating_add(slack);
    assert!(
        largest <= bound,
        "{what}: an allocation of {largest} bytes for {input_len} input bytes (bound {bound})"
    );
}

/// A reader over `data` whose reads return at most the sizes in `pattern`
/// (cycled; 0 counts as 1), as a socket returning short reads would.
pub struct ShortReads<'a> {
    data: &'a [u8],
    pattern: &'a [u8],
    turn: usize,
}

impl<'a> ShortReads<'a> {
    pub fn new(data: &'a [u8], pattern: &'a [u8]) -> ShortReads<'a> {
        ShortReads {
            data,
            pattern,
            turn: 0,
        }
    }
}

impl Read for ShortReads<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let step = if self.pattern.is_empty() {
            usize::MAX
        } else {
            usize::from(self.pattern[self.turn % self.pattern.len()].max(1))
        };
        self.turn += 1;
        let n = step.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// Splits `data` into messages, each a little-endian u16 length and that
/// many bytes (the last one takes what is left when short).
pub fn split_messages(mut data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while data.len() >= 2 {
        let len = usize::from(u16::from_le_bytes([data[0], data[1]]));
        let rest = &data[2..];
        let n = len.min(rest.len());
        out.push(&rest[..n]);
        data = &rest[n..];
    }
    out
}

/// The inverse of [`split_messages`] (seed corpora).
pub fn join_messages(messages: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in messages {
        let len = u16::try_from(m.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&m[..usize::from(len)]);
    }
    out
}

/// The parameter types the decode_param target picks from (its first
/// input byte indexes this table; make_seeds writes seeds for it).
pub const PARAM_OIDS: &[Oid] = &[
    oid::UNSPECIFIED,
    oid::BOOL,
    oid::BYTEA,
    oid::CHAR,
    oid::NAME,
    oid::INT8,
    oid::INT2,
    oid::INT4,
    oid::TEXT,
    oid::OID,
    oid::JSON,
    oid::XML,
    oid::FLOAT4,
    oid::FLOAT8,
    oid::UNKNOWN,
    oid::MONEY,
    oid::INET,
    oid::BPCHAR,
    oid::VARCHAR,
    oid::DATE,
    oid::TIME,
    oid::TIMESTAMP,
    oid::TIMESTAMPTZ,
    oid::INTERVAL,
    oid::TIMETZ,
    oid::BIT,
    oid::VARBIT,
    oid::NUMERIC,
    oid::UUID,
    oid::JSONB,
    oid::INT4_ARRAY,
    oid::TEXT_ARRAY,
    oid::REGCLASS,
];
