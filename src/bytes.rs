//! The only checked little-endian reads and writes over file bytes.
//!
//! Every read names what it reads (`label`) and where (`offset`, absolute in the file when the
//! caller knows it), so that an out-of-bounds read turns into an error that says which
//! structure ran past the end of which buffer, never into a panic.

use byteorder::{ByteOrder, LittleEndian};
use std::fmt;

/// An absolute byte offset in a file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FileOffset(pub u64);

impl fmt::Display for FileOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

/// A read that did not fit inside its buffer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{label} at offset {offset:#x}: needs {need} bytes, only {have} available")]
pub struct OutOfBounds {
    pub label: &'static str,
    pub offset: u64,
    pub need: u64,
    pub have: u64,
}

impl OutOfBounds {
    /// What went wrong without where (for a message that names the offset once itself).
    pub fn detail(&self) -> String {
        format!(
            "{}: needs {} bytes, only {} available",
            self.label, self.need, self.have
        )
    }
}

/// A view of bytes that starts at a known absolute file offset.
///
/// Offsets passed to its methods are relative to the start of the view; errors report the
/// absolute offset (`base + relative`).
#[derive(Clone, Copy)]
pub struct Bytes<'a> {
    data: &'a [u8],
    base: u64,
}

impl<'a> Bytes<'a> {
    pub fn new(data: &'a [u8], base: u64) -> Self {
        Bytes { data, base }
    }

    pub fn len(&self) -> usize {
        self.data.len()
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Absolute file offset of the first byte of this view.
    pub fn base(&self) -> u64 {
        self.base
    }

    pub fn as_slice(&self) -> &'a [u8] {
        self.data
    }

    fn oob(&self, label: &'static str, at: usize, need: usize) -> OutOfBounds {
        OutOfBounds {
            label,
            offset: self.base.saturating_add(at as u64),
            need: need as u64,
            have: self.data.len().saturating_sub(at) as u64,
        }
    }

    /// `len` bytes at `at`, or an error naming `label`.
    pub fn slice(
        &self,
        label: &'static str,
        at: usize,
        len: usize,
    ) -> Result<&'a [u8], OutOfBounds> {
        let end = at
            .checked_add(len)
            .ok_or_else(|| self.oob(label, at, len))?;
        self.data
            .get(at..end)
            .ok_or_else(|| self.oob(label, at, len))
    }

    /// A sub-view of `len` bytes at `at`, keeping absolute offsets right.
    pub fn sub(
        &self,
        label: &'static str,
        at: usize,
        len: usize,
    ) -> Result<Bytes<'a>, OutOfBounds> {
        let data = self.slice(label, at, len)?;
        Ok(Bytes {
            data,
            base: self.base.saturating_add(at as u64),
        })
    }

    /// Everything from `at` to the end.
    pub fn tail(&self, label: &'static str, at: usize) -> Result<Bytes<'a>, OutOfBounds> {
        let len = self
            .data
            .len()
            .checked_sub(at)
            .ok_or_else(|| self.oob(label, at, 0))?;
        self.sub(label, at, len)
    }

    pub fn u8(&self, label: &'static str, at: usize) -> Result<u8, OutOfBounds> {
        Ok(self.slice(label, at, 1)?[0])
    }

    pub fn u16(&self, label: &'static str, at: usize) -> Result<u16, OutOfBounds> {
        Ok(LittleEndian::read_u16(self.slice(label, at, 2)?))
    }

    pub fn u32(&self, label: &'static str, at: usize) -> Result<u32, OutOfBounds> {
        Ok(LittleEndian::read_u32(self.slice(label, at, 4)?))
    }

    pub fn i32(&self, label: &'static str, at: usize) -> Result<i32, OutOfBounds> {
        Ok(LittleEndian::read_i32(self.slice(label, at, 4)?))
    }

    pub fn u64(&self, label: &'static str, at: usize) -> Result<u64, OutOfBounds> {
        Ok(LittleEndian::read_u64(self.slice(label, at, 8)?))
    }

    pub fn i64(&self, label: &'static str, at: usize) -> Result<i64, OutOfBounds> {
        Ok(LittleEndian::read_i64(self.slice(label, at, 8)?))
    }

    /// A big-endian u32 (ESE space-tree and long-value keys are big-endian).
    pub fn u32_be(&self, label: &'static str, at: usize) -> Result<u32, OutOfBounds> {
        Ok(byteorder::BigEndian::read_u32(self.slice(label, at, 4)?))
    }
}

/// Checked little-endian writes into a mutable buffer (an output page or cell being built).
pub struct BytesMut<'a> {
    data: &'a mut [u8],
    base: u64,
}

impl<'a> BytesMut<'a> {
    pub fn new(data: &'a mut [u8], base: u64) -> Self {
        BytesMut { data, base }
    }

    pub fn len(&self) -> usize {
        self.data.len()
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    fn oob(&self, label: &'static str, at: usize, need: usize) -> OutOfBounds {
        OutOfBounds {
            label,
            offset: self.base.saturating_add(at as u64),
            need: need as u64,
            have: self.data.len().saturating_sub(at) as u64,
        }
    }

    pub fn slice_mut(
        &mut self,
        label: &'static str,
        at: usize,
        len: usize,
    ) -> Result<&mut [u8], OutOfBounds> {
        let end = at
            .checked_add(len)
            .ok_or_else(|| self.oob(label, at, len))?;
        if end > self.data.len() {
            return Err(self.oob(label, at, len));
        }
        Ok(&mut self.data[at..end])
    }

    pub fn put(&mut self, label: &'static str, at: usize, bytes: &[u8]) -> Result<(), OutOfBounds> {
        self.slice_mut(label, at, bytes.len())?
            .copy_from_slice(bytes);
        Ok(())
    }

    pub fn put_u8(&mut self, label: &'static str, at: usize, v: u8) -> Result<(), OutOfBounds> {
        self.put(label, at, &[v])
    }

    pub fn put_u16(&mut self, label: &'static str, at: usize, v: u16) -> Result<(), OutOfBounds> {
        self.put(label, at, &v.to_le_bytes())
    }

    pub fn put_u32(&mut self, label: &'static str, at: usize, v: u32) -> Result<(), OutOfBounds> {
        self.put(label, at, &v.to_le_bytes())
    }

    pub fn put_u64(&mut self, label: &'static str, at: usize, v: u64) -> Result<(), OutOfBounds> {
        self.put(label, at, &v.to_le_bytes())
    }
}

/// The u32 little-endian word at `at` of a buffer whose length is known to be a multiple of
/// four by construction (a page); used by checksum loops that must not pay for labels.
#[inline]
pub fn le_u32_words(buf: &[u8]) -> impl Iterator<Item = u32> + '_ {
    buf.chunks_exact(4).map(LittleEndian::read_u32)
}

/// `init` XOR every little-endian u32 word of `buf` (trailing bytes that do not make a word
/// are ignored): the same as folding [`le_u32_words`], read 32 bytes at a time into four
/// 64-bit lanes so that the compiler can use vector registers (a page checksum is computed
/// twice for every page a patch changes).
pub fn xor_le_u32_words(init: u32, buf: &[u8]) -> u32 {
    let mut blocks = buf.chunks_exact(32);
    let mut lanes = [0u64; 4];
    for block in &mut blocks {
        for (lane, word) in lanes.iter_mut().zip(block.chunks_exact(8)) {
            *lane ^= LittleEndian::read_u64(word);
        }
    }
    let wide = lanes.iter().fold(0, |acc, lane| acc ^ lane);
    // A little-endian u64 is two u32 words: its low half the first, its high half the next.
    let folded = init ^ wide as u32 ^ (wide >> 32) as u32;
    le_u32_words(blocks.remainder()).fold(folded, |acc, w| acc ^ w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_little_endian_and_reports_absolute_offsets() {
        let data = [1u8, 0, 0, 0, 0xEF, 0xCD, 0xAB, 0x89];
        let b = Bytes::new(&data, 0x1000);
        assert_eq!(b.u32("first", 0).unwrap(), 1);
        assert_eq!(b.u32("magic", 4).unwrap(), 0x89AB_CDEF);
        let err = b.u32("past the end", 6).unwrap_err();
        assert_eq!(err.offset, 0x1006);
        assert_eq!(err.have, 2);
        assert_eq!(err.label, "past the end");
        assert!(b.slice("huge", usize::MAX, 2).is_err());
    }

    #[test]
    fn sub_views_keep_their_file_offset() {
        let data = [0u8; 16];
        let b = Bytes::new(&data, 4096);
        let s = b.sub("page", 8, 8).unwrap();
        assert_eq!(s.base(), 4104);
        assert_eq!(s.u64("x", 4).unwrap_err().offset, 4108);
    }

    #[test]
    fn writes_are_checked() {
        let mut data = [0u8; 4];
        let mut w = BytesMut::new(&mut data, 0);
        w.put_u16("a", 2, 0xBEEF).unwrap();
        assert!(w.put_u32("b", 2, 1).is_err());
        assert_eq!(data, [0, 0, 0xEF, 0xBE]);
    }
}

/// How many leading bytes `a` and `b` share: skipped 64 bytes at a time while equal (a
/// comparison the compiler makes with vector instructions), then compared eight at a time, so
/// that the long equal runs of a patched page (nearly all of it) cost little.
pub fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    const W: usize = 8;
    const WIDE: usize = 64;
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let equal_wide = a
        .chunks_exact(WIDE)
        .zip(b.chunks_exact(WIDE))
        .take_while(
            |&(x, y)| match (<&[u8; WIDE]>::try_from(x), <&[u8; WIDE]>::try_from(y)) {
                (Ok(x), Ok(y)) => x == y,
                _ => false,
            },
        )
        .count();
    let skipped = equal_wide * WIDE;
    let (a, b) = (&a[skipped..], &b[skipped..]);
    let mut i = 0;
    for (x, y) in a.chunks_exact(W).zip(b.chunks_exact(W)) {
        let (x, y) = (
            u64::from_le_bytes(x.try_into().unwrap_or([0; W])),
            u64::from_le_bytes(y.try_into().unwrap_or([0; W])),
        );
        let d = x ^ y;
        if d != 0 {
            return skipped + i + (d.trailing_zeros() / 8) as usize;
        }
        i += W;
    }
    skipped
        + i
        + a[i..]
            .iter()
            .zip(&b[i..])
            .take_while(|(x, y)| x == y)
            .count()
}

#[cfg(test)]
mod xor_tests {
    use super::{le_u32_words, xor_le_u32_words};

    #[test]
    fn the_wide_xor_equals_the_word_by_word_fold_at_every_length() {
        let a: Vec<u8> = (0..300u32).map(|i| (i * 37 + 11) as u8).collect();
        for len in 0..a.len() {
            for start in [0, 1, 4] {
                let buf = &a[start.min(len)..len];
                let want = le_u32_words(buf).fold(0x89AB_CDEF, |acc, w| acc ^ w);
                assert_eq!(xor_le_u32_words(0x89AB_CDEF, buf), want, "{start}..{len}");
            }
        }
    }
}

#[cfg(test)]
mod prefix_tests {
    use super::common_prefix;

    #[test]
    fn common_prefix_finds_the_first_difference_anywhere() {
        // Past several 64-byte steps, and a tail shorter than eight.
        let a: Vec<u8> = (0..300u32).map(|i| i as u8).collect();
        for at in 0..300 {
            let mut b = a.clone();
            b[at] ^= 0x40;
            assert_eq!(common_prefix(&a, &b), at);
            assert_eq!(common_prefix(&a[..at + 1], &b[..at + 1]), at);
        }
        assert_eq!(common_prefix(&a, &a), 300);
        assert_eq!(common_prefix(&a[..37], &a), 37);
        assert_eq!(common_prefix(&a[..131], &a), 131);
        assert_eq!(common_prefix(&[], &a), 0);
    }
}
