//! Frame headers (RFC 6455 §5.2): `FrameHeader::parse` and `encode` for each length form, masked and
//! not.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use wscore::frame::{FrameHeader, OpCode, MAX_HEADER_LEN};

/// One payload length per length form: 7-bit, 16-bit and 64-bit.
const LENGTHS: [(&str, u64); 3] = [("7bit", 100), ("16bit", 1000), ("64bit", 100_000)];

fn frame(c: &mut Criterion) {
    let mut parse = c.benchmark_group("frame_parse");
    let mut encoded = Vec::new();
    for (form, payload_len) in LENGTHS {
        for (masking, mask) in [("unmasked", None), ("masked", Some([1, 2, 3, 4]))] {
            let header = FrameHeader {
                fin: true,
                rsv: 0,
                opcode: OpCode::Binary,
                mask,
                payload_len,
            };
            let mut bytes = [0u8; MAX_HEADER_LEN];
            let len = header.encode(&mut bytes);
            // A header is parsed from the front of a buffer that holds payload bytes after it.
            let mut buf = bytes[..len].to_vec();
            buf.resize(len + 64, 0xab);
            assert_eq!(FrameHeader::parse(&buf).unwrap(), Some((header, len)));
            let id = format!("{form}_{masking}");
            parse.bench_with_input(BenchmarkId::from_parameter(&id), &buf, |b, buf| {
                b.iter(|| FrameHeader::parse(black_box(buf)))
            });
            encoded.push((id, header));
        }
    }
    parse.finish();

    let mut encode = c.benchmark_group("frame_encode");
    for (id, header) in encoded {
        let mut out = [0u8; MAX_HEADER_LEN];
        encode.bench_with_input(BenchmarkId::from_parameter(&id), &header, |b, header| {
            b.iter(|| black_box(header).encode(black_box(&mut out)))
        });
    }
    encode.finish();
}

criterion_group!(benches, frame);
criterion_main!(benches);
