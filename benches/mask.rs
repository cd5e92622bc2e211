//! Masking (RFC 6455 §5.3): `apply_mask` beside the byte-at-a-time `apply_mask_reference` and beside a
//! plain in-place XOR with one constant byte, the floor a 4-byte key cannot beat.
//!
//! "aligned" masks a slice at the start of its allocation with key offset 0; "unaligned" starts the
//! slice one byte later and the key at offset 1, as a payload after an odd-length header would be.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use wscore::mask::{apply_mask, apply_mask_reference};

const SIZES: [(&str, usize); 5] = [
    ("16B", 16),
    ("125B", 125),
    ("4KiB", 4 << 10),
    ("64KiB", 64 << 10),
    ("1MiB", 1 << 20),
];

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

fn xor_constant(data: &mut [u8], byte: u8) {
    for b in data {
        *b ^= byte;
    }
}

fn mask(c: &mut Criterion) {
    for (alignment, shift) in [("aligned", 0usize), ("unaligned", 1)] {
        let mut group = c.benchmark_group(format!("mask_{alignment}"));
        for (label, size) in SIZES {
            group.throughput(Throughput::Bytes(size as u64));
            let mut buf: Vec<u8> = (0..size + shift).map(|i| i as u8).collect();
            group.bench_function(BenchmarkId::new("apply_mask", label), |b| {
                b.iter(|| apply_mask(black_box(&mut buf[shift..]), black_box(KEY), shift))
            });
            group.bench_function(BenchmarkId::new("reference", label), |b| {
                b.iter(|| apply_mask_reference(black_box(&mut buf[shift..]), black_box(KEY), shift))
            });
            group.bench_function(BenchmarkId::new("xor_constant", label), |b| {
                b.iter(|| xor_constant(black_box(&mut buf[shift..]), black_box(0x5a)))
            });
        }
        group.finish();
    }
}

criterion_group!(benches, mask);
criterion_main!(benches);
