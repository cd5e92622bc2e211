//! Masking (RFC 6455 §5.3), each fast path beside its floor in the same run:
//!
//! - `mask_*`: `apply_mask` (vector code chosen at run time from 1 KiB) beside its safe twin
//!   `apply_mask_portable`, the byte-at-a-time `apply_mask_reference`, and a plain in-place XOR with
//!   one constant byte, the floor a 4-byte key cannot beat.
//! - `mask_copy_*`: `mask_copy` (vector code from 1 KiB) beside `mask_copy_portable` and a plain
//!   `copy_from_slice` (memcpy), the floor of a client's send.
//!
//! "aligned" works on a slice at the start of its allocation with key offset 0; "unaligned" starts the
//! slice one byte later and the key at offset 1, as a payload after an odd-length header would be.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use wscore::mask::{
    apply_mask, apply_mask_portable, apply_mask_reference, mask_copy, mask_copy_portable,
};

const SIZES: [(&str, usize); 7] = [
    ("16B", 16),
    ("125B", 125),
    ("512B", 512),
    ("1KiB", 1 << 10),
    ("4KiB", 4 << 10),
    ("64KiB", 64 << 10),
    ("1MiB", 1 << 20),
];

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

const ALIGNMENTS: [(&str, usize); 2] = [("aligned", 0), ("unaligned", 1)];

fn xor_constant(data: &mut [u8], byte: u8) {
    for b in data {
        *b ^= byte;
    }
}

fn mask(c: &mut Criterion) {
    for (alignment, shift) in ALIGNMENTS {
        let mut group = c.benchmark_group(format!("mask_{alignment}"));
        for (label, size) in SIZES {
            group.throughput(Throughput::Bytes(size as u64));
            let mut buf: Vec<u8> = (0..size + shift).map(|i| i as u8).collect();
            group.bench_function(BenchmarkId::new("apply_mask", label), |b| {
                b.iter(|| apply_mask(black_box(&mut buf[shift..]), black_box(KEY), shift))
            });
            group.bench_function(BenchmarkId::new("portable", label), |b| {
                b.iter(|| apply_mask_portable(black_box(&mut buf[shift..]), black_box(KEY), shift))
            });
            if size <= 4 << 10 {
                // Byte at a time is slow enough to dominate the run at larger sizes and says nothing new.
                group.bench_function(BenchmarkId::new("reference", label), |b| {
                    b.iter(|| {
                        apply_mask_reference(black_box(&mut buf[shift..]), black_box(KEY), shift)
                    })
                });
            }
            group.bench_function(BenchmarkId::new("xor_constant", label), |b| {
                b.iter(|| xor_constant(black_box(&mut buf[shift..]), black_box(0x5a)))
            });
        }
        group.finish();
    }
}

fn copy(c: &mut Criterion) {
    for (alignment, shift) in ALIGNMENTS {
        let mut group = c.benchmark_group(format!("mask_copy_{alignment}"));
        for (label, size) in SIZES {
            group.throughput(Throughput::Bytes(size as u64));
            let src: Vec<u8> = (0..size).map(|i| i as u8).collect();
            let mut dst = vec![0u8; size + shift];
            group.bench_function(BenchmarkId::new("mask_copy", label), |b| {
                b.iter(|| mask_copy(black_box(&mut dst[shift..]), black_box(&src), KEY, shift))
            });
            group.bench_function(BenchmarkId::new("portable", label), |b| {
                b.iter(|| {
                    mask_copy_portable(black_box(&mut dst[shift..]), black_box(&src), KEY, shift)
                })
            });
            group.bench_function(BenchmarkId::new("memcpy", label), |b| {
                b.iter(|| black_box(&mut dst[shift..]).copy_from_slice(black_box(&src)))
            });
        }
        group.finish();
    }
}

criterion_group!(benches, mask, copy);
criterion_main!(benches);
