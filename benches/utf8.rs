//! UTF-8 validation of about 64 KiB of text: `std::str::from_utf8` beside wscore's incremental
//! `Utf8Validator`, given the text whole and in 1 KiB pieces (which split characters, exercising the
//! carried-over partial character).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use wscore::utf8::Utf8Validator;

const TARGET_LEN: usize = 64 << 10;
const PIECE: usize = 1 << 10;

/// `sample` repeated up to about [`TARGET_LEN`] bytes, ending on a character boundary.
fn repeat_text(sample: &str) -> Vec<u8> {
    let mut text = String::with_capacity(TARGET_LEN + sample.len());
    while text.len() < TARGET_LEN {
        text.push_str(sample);
    }
    let mut end = TARGET_LEN;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.into_bytes()
}

fn texts() -> [(&'static str, Vec<u8>); 4] {
    [
        (
            "ascii",
            repeat_text(
                "The quick brown fox jumps over the lazy dog; {\"id\": 42, \"ok\": true}\n",
            ),
        ),
        (
            "latin1",
            repeat_text(
                "Größenverhältnisse: déjà vu, naïve Café crème brûlée, Ærø, Ñandú, façade. ",
            ),
        ),
        (
            "cjk",
            repeat_text("漢字仮名交じり文の例です。中文字符混合文本，한국어 문장도 있습니다。"),
        ),
        ("emoji", repeat_text("😀🎉🚀👍🏽❤️🌍🧑‍💻🔥 ")),
    ]
}

fn validate_whole(bytes: &[u8]) -> bool {
    let mut v = Utf8Validator::default();
    v.feed(bytes).is_ok() && v.finish().is_ok()
}

fn validate_pieces(bytes: &[u8]) -> bool {
    let mut v = Utf8Validator::default();
    bytes.chunks(PIECE).all(|piece| v.feed(piece).is_ok()) && v.finish().is_ok()
}

fn utf8(c: &mut Criterion) {
    let mut group = c.benchmark_group("utf8");
    for (label, text) in texts() {
        assert!(std::str::from_utf8(&text).is_ok());
        assert!(validate_whole(&text) && validate_pieces(&text), "{label}");
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_with_input(BenchmarkId::new("std", label), &text, |b, text| {
            b.iter(|| std::str::from_utf8(black_box(text)).is_ok())
        });
        group.bench_with_input(BenchmarkId::new("simdutf8", label), &text, |b, text| {
            b.iter(|| simdutf8::compat::from_utf8(black_box(text)).is_ok())
        });
        group.bench_with_input(
            BenchmarkId::new("validator_whole", label),
            &text,
            |b, text| b.iter(|| validate_whole(black_box(text))),
        );
        group.bench_with_input(
            BenchmarkId::new("validator_1KiB", label),
            &text,
            |b, text| b.iter(|| validate_pieces(black_box(text))),
        );
    }
    group.finish();
}

criterion_group!(benches, utf8);
criterion_main!(benches);
