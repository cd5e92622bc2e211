#!/usr/bin/env python3
"""Writes the generated seed corpora under fuzz/seeds/: valid frames of every opcode and length form (masked
for the server target, unmasked for the client target), handshakes, and UTF-8 texts. The captured browser
and Node `ws` handshakes beside them were recorded from real clients, not generated."""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
KEY = bytes([0x37, 0xFA, 0x21, 0x3D])
SPLIT_SEED = bytes(8)  # the frame targets read 8 bytes of split seed first


def frame(first, payload, masked, long_form=None):
    out = bytes([first])
    bit = 0x80 if masked else 0
    n = len(payload)
    if long_form == 64 or n > 0xFFFF:
        out += bytes([bit | 127]) + struct.pack(">Q", n)
    elif long_form == 16 or n > 125:
        out += bytes([bit | 126]) + struct.pack(">H", n)
    else:
        out += bytes([bit | n])
    if masked:
        out += KEY + bytes(b ^ KEY[i % 4] for i, b in enumerate(payload))
    else:
        out += payload
    return out


def frame_streams(masked):
    f = lambda first, payload, form=None: frame(first, payload, masked, form)
    close = lambda code, reason=b"": struct.pack(">H", code) + reason
    return {
        "text-hello": f(0x81, b"Hello"),
        "text-utf8": f(0x81, "héllo wörld €𝄞".encode()),
        "binary-empty": f(0x82, b""),
        "binary-125": f(0x82, bytes(range(125))),
        "binary-126-16bit": f(0x82, bytes(126)),
        "binary-16bit-form-small": f(0x82, b"abc", 16),
        "binary-64bit-form-small": f(0x82, b"abcd", 64),
        "fragmented-text-with-ping": f(0x01, b"Hel") + f(0x89, b"ping") + f(0x00, b"l") + f(0x80, b"o"),
        "fragmented-binary": f(0x02, b"\x00\x01") + f(0x00, b"") + f(0x80, b"\x02"),
        "text-split-char": f(0x01, "€".encode()[:1]) + f(0x80, "€".encode()[1:]),
        "ping": f(0x89, b"are you there"),
        "pong": f(0x8A, b"yes"),
        "close-1000": f(0x88, close(1000, b"bye")),
        "close-empty": f(0x88, b""),
        "close-then-data": f(0x88, close(1001)) + f(0x81, b"late"),
        "messages-then-close": f(0x81, b"a") + f(0x82, b"b") + f(0x89, b"") + f(0x88, close(1000)),
        "invalid-utf8": f(0x81, b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited"),
        "invalid-close-code": f(0x88, close(1005)),
        "rsv-set": f(0xC1, b"x"),
        "reserved-opcode": f(0x83, b""),
    }


def write(target, name, data):
    path = os.path.join(HERE, "seeds", target)
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, name), "wb") as out:
        out.write(data)


def deflate_streams():
    """Compressed messages (RFC 7692): whole, fragmented, with context taken over, empty, a small bomb,
    and data that does not inflate. Masked, for the server target."""
    import zlib

    def compress(chunks, fin_tail=True, compressor=None):
        c = compressor or zlib.compressobj(6, zlib.DEFLATED, -15)
        out = [c.compress(chunk) + c.flush(zlib.Z_SYNC_FLUSH) for chunk in chunks]
        if fin_tail and out[-1].endswith(b"\x00\x00\xff\xff"):
            out[-1] = out[-1][:-4]
        return out

    f = lambda first, payload: frame(first, payload, True)
    hello = compress([b"Hello, Hello, Hello"])[0]
    shared = zlib.compressobj(6, zlib.DEFLATED, -15)
    first, second = compress([b'{"chat":"hello"}'], compressor=shared)[0], compress([b'{"chat":"hello"}'], compressor=shared)[0]
    parts = compress([b"fragmented ", b"message ", b"here"])
    bomb = compress([bytes(1 << 20)])[0]
    return {
        "text": f(0xC1, hello),
        "binary": f(0xC2, hello),
        "context-takeover": f(0xC1, first) + f(0xC1, second),
        "fragmented": f(0x41, parts[0]) + f(0x89, b"ping") + f(0x00, parts[1]) + f(0x80, parts[2]),
        "empty": f(0xC1, b"\x00"),
        "uncompressed-between": f(0xC1, hello) + f(0x81, b"plain") + f(0xC2, hello),
        "bomb-1MiB": f(0xC2, bomb),
        "invalid": f(0xC2, b"\xff\xff\xff\x00"),
        "rsv1-continuation": f(0x41, parts[0]) + f(0xC0, parts[1]),
    }


def main():
    for name, data in frame_streams(masked=True).items():
        write("frame_server", name, SPLIT_SEED + data)
    for name, data in frame_streams(masked=False).items():
        write("frame_client", name, SPLIT_SEED + data)
    # inflate_server: 2 bytes of parameters (no context takeover flags, window bits), the split seed.
    for name, data in deflate_streams().items():
        write("inflate_server", name, b"\x00\x77" + SPLIT_SEED + data)
        write("inflate_server", name + "-no-context-small-windows", b"\x03\x11" + SPLIT_SEED + data)
    # handshake_response: a mode byte (0 raw, 1 our valid answer then these bytes, 2 an extra header line).
    write("handshake_response", "raw-101-wrong-accept", b"\x00HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
          b"Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n")
    write("handshake_response", "raw-403", b"\x00HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
    write("handshake_response", "valid-then-frames", b"\x01" + frame(0x81, b"hi", False) + frame(0x88, b"", False))
    write("handshake_response", "valid-protocol-then-frame", b"\x03" + frame(0x82, b"\x00", False))
    write("handshake_response", "extra-extension", b"\x02Sec-WebSocket-Extensions: permessage-deflate")
    write("handshake_response", "extra-protocol", b"\x02Sec-WebSocket-Protocol: chat")
    write("handshake_request", "rfc-6455", b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n"
          b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: http://example.com\r\n"
          b"Sec-WebSocket-Protocol: chat, superchat\r\nSec-WebSocket-Version: 13\r\n\r\n")
    write("handshake_request", "plain-get", b"GET / HTTP/1.1\r\nHost: localhost:9001\r\nAccept: text/html\r\n\r\n")
    write("handshake_request", "version-8", b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n")
    for name, text in {"ascii": "hello world", "latin1": "déjà vu, über, niño", "cjk": "漢字かな交じり文",
                       "emoji": "👍🏽🎉🇫🇷", "surrogate": None, "overlong": None}.items():
        data = text.encode() if text else {"surrogate": b"ab\xed\xa0\x80cd", "overlong": b"\xc0\xaf\xe0\x80\xaf"}[name]
        write("utf8", name, data)


if __name__ == "__main__":
    main()
