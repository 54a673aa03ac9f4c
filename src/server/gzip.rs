//! gzip for `/metrics` without compressing on every scrape. Prometheus asks for gzip, and a
//! 500-repo body is 600 KB of text that compresses to a few percent. The families are compressed
//! once per snapshot into non-final DEFLATE blocks ending on a byte boundary (a sync flush); each
//! scrape appends its small tail as *stored* (uncompressed) DEFLATE blocks, the last one final,
//! and the gzip trailer. That is one ordinary gzip member, so every client decodes it, and a
//! scrape costs a CRC of its tail, not a compressor run.

use std::io;

use flate2::{Compress, Compression, FlushCompress, Status};
use hyper::body::Bytes;

/// The gzip header (RFC 1952): deflate, no flags, no mtime, OS unknown.
const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];
/// The most bytes one stored DEFLATE block holds.
const STORED_MAX: usize = u16::MAX as usize;

/// A compressed head: gzip header plus non-final blocks, with the CRC and length of its input.
#[derive(Clone)]
pub struct Head {
    bytes: Bytes,
    crc: crc32fast::Hasher,
    len: u64,
}

impl Head {
    pub fn compress(input: &[u8]) -> io::Result<Self> {
        let mut out = Vec::with_capacity(HEADER.len() + input.len() / 8 + 64);
        out.extend_from_slice(&HEADER);
        let mut c = Compress::new(Compression::default(), false);
        loop {
            let consumed = usize::try_from(c.total_in()).unwrap_or(input.len());
            let rest = input.get(consumed..).unwrap_or_default();
            if out.capacity() - out.len() < 64 {
                out.reserve(out.capacity().max(4096));
            }
            let status = c
                .compress_vec(rest, &mut out, FlushCompress::Sync)
                .map_err(io::Error::other)?;
            // Done when all input is in and the flush left room to spare (so it is complete).
            let all_in = c.total_in() as usize == input.len();
            if (all_in && out.len() < out.capacity()) || status == Status::StreamEnd {
                break;
            }
        }
        let mut crc = crc32fast::Hasher::new();
        crc.update(input);
        Ok(Self {
            bytes: out.into(),
            crc,
            len: input.len() as u64,
        })
    }

    /// The head (shared, not copied) and the rest of the member: `tail` as stored blocks, the
    /// last one final, then CRC-32 and length of head input + tail.
    pub fn finish(&self, tail: &[u8]) -> (Bytes, Vec<u8>) {
        let mut out = Vec::with_capacity(tail.len() + 5 * (tail.len() / STORED_MAX + 1) + 8);
        let mut blocks = tail.chunks(STORED_MAX).peekable();
        if blocks.peek().is_none() {
            stored(&mut out, &[], true);
        }
        while let Some(block) = blocks.next() {
            stored(&mut out, block, blocks.peek().is_none());
        }
        let mut crc = self.crc.clone();
        crc.update(tail);
        out.extend_from_slice(&crc.finalize().to_le_bytes());
        let len = self.len + tail.len() as u64;
        out.extend_from_slice(&(len as u32).to_le_bytes()); // ISIZE is the length mod 2^32.
        (self.bytes.clone(), out)
    }
}

/// One stored block; the stream is byte-aligned before it (after the sync flush or a stored block).
fn stored(out: &mut Vec<u8>, data: &[u8], last: bool) {
    let len = data.len() as u16;
    out.push(u8::from(last)); // BFINAL, BTYPE 00, padding to the byte boundary
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&(!len).to_le_bytes());
    out.extend_from_slice(data);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn gunzip(parts: (Bytes, Vec<u8>)) -> Vec<u8> {
        let mut all = parts.0.to_vec();
        all.extend_from_slice(&parts.1);
        let mut d = flate2::read::GzDecoder::new(&all[..]);
        let mut out = Vec::new();
        d.read_to_end(&mut out).expect("a valid gzip member");
        // One member: nothing may follow it.
        assert!(d.into_inner().is_empty(), "trailing bytes after the member");
        out
    }

    fn text(n: usize) -> Vec<u8> {
        (0..n)
            .map(|i| format!("hf_cache_bytes{{model=\"org/m{i}\"}} {}\n", i * 7919))
            .collect::<String>()
            .into_bytes()
    }

    #[test]
    fn head_plus_tail_decodes_to_their_concatenation() {
        let head = text(5000);
        let h = Head::compress(&head).unwrap();
        assert!(h.bytes.len() < head.len() / 4, "the head is compressed");
        for tail in [&b""[..], b"process_open_fds 9\n# EOF\n"] {
            let mut want = head.clone();
            want.extend_from_slice(tail);
            assert_eq!(gunzip(h.finish(tail)), want);
        }
    }

    #[test]
    fn tails_longer_than_one_stored_block_and_empty_heads() {
        let tail = text(3000); // > 64 KiB: several stored blocks
        assert!(tail.len() > STORED_MAX);
        let h = Head::compress(b"").unwrap();
        assert_eq!(gunzip(h.finish(&tail)), tail);
        assert_eq!(gunzip(h.finish(b"")), b"");
    }

    #[test]
    fn a_corrupted_tail_is_caught_by_the_crc() {
        let h = Head::compress(&text(10)).unwrap();
        let (head, mut rest) = h.finish(b"abc\n");
        rest[5] ^= 1; // first byte of the stored data
        let mut all = head.to_vec();
        all.extend_from_slice(&rest);
        let mut out = Vec::new();
        let r = flate2::read::GzDecoder::new(&all[..]).read_to_end(&mut out);
        assert!(r.is_err(), "decoded a corrupted member: {out:?}");
    }
}
