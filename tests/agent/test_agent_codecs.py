"""Incremental decoders: any split of the input gives the same lines, partial frames are waited
for, and every restart point decodes the rest of the stream on its own."""

from __future__ import annotations

import gzip
import random
import struct
from pathlib import Path

import cramjam
import lz4.block
import pytest
import zstandard

from agent.follow.codecs import CorruptStream, codec_of, make_decoder
from agent.follow.segment import Position, SegmentReader, file_key, hint_for

LINES = [b'{"Event":"SparkListenerTaskEnd","n":%d,"pad":"%s"}' % (i, b"x" * (i % 97)) for i in range(400)]
TEXT = b"".join(line + b"\n" for line in LINES)


def _chunks(data: bytes, n: int) -> list[bytes]:
    step = max(1, len(data) // n)
    return [data[i : i + step] for i in range(0, len(data), step)]


def encode(codec: str, text: bytes) -> bytes:
    """Writers in the formats Spark uses (one frame/block per 'flush')."""
    parts = _chunks(text, 7)
    if codec == "zstd":
        return b"".join(zstandard.ZstdCompressor().compress(p) for p in parts)
    if codec == "gzip":
        return b"".join(gzip.compress(p) for p in parts)
    if codec == "lz4":  # lz4-java LZ4BlockOutputStream, ends with an empty block
        out = b""
        for i, p in enumerate(parts):
            body = lz4.block.compress(p, store_size=False)
            token = 0x20 if i % 2 else 0x10
            body = body if token == 0x20 else p
            out += b"LZ4Block" + struct.pack("<Biii", token, len(body), len(p), 0) + body
        return out + b"LZ4Block" + struct.pack("<Biii", 0x10, 0, 0, 0)
    if codec == "snappy":  # xerial SnappyOutputStream
        out = b"\x82SNAPPY\x00" + struct.pack(">ii", 1, 1)
        for p in parts:
            body = bytes(cramjam.snappy.compress_raw(p))
            out += struct.pack(">i", len(body)) + body
        return out
    if codec == "lzf":  # ning compress-lzf LZFOutputStream: "ZV" chunks, compressed or stored
        out = b""
        for i, p in enumerate(parts):
            body = lzf_compress(p)
            if i % 3 == 2:  # a stored chunk, as the writer emits when compression does not pay
                out += b"ZV\x00" + struct.pack(">H", len(p)) + p
            else:
                out += b"ZV\x01" + struct.pack(">HH", len(body), len(p)) + body
        return out
    return text


def lzf_compress(data: bytes) -> bytes:
    """A small greedy LZF encoder (liblzf's format) for the tests: literal runs and back
    references, including overlapping ones, so the decoder meets every kind of token."""
    out, lit = bytearray(), bytearray()
    last: dict[bytes, int] = {}
    i = 0

    def flush() -> None:
        for k in range(0, len(lit), 32):
            run = lit[k : k + 32]
            out.append(len(run) - 1)
            out.extend(run)
        lit.clear()

    while i < len(data):
        ref = last.get(data[i : i + 3], -1) if i + 3 <= len(data) else -1
        last[data[i : i + 3]] = i
        off = i - ref - 1
        if ref >= 0 and off < 8192:
            n = 0
            while i + n < len(data) and n < 264 and data[ref + n] == data[i + n]:
                n += 1
            if n >= 3:
                flush()
                length = n - 2
                if length < 7:
                    out.append((length << 5) | (off >> 8))
                else:
                    out += bytes([(7 << 5) | (off >> 8), length - 7])
                out.append(off & 0xFF)
                i += n
                continue
        lit.append(data[i])
        i += 1
    flush()
    return bytes(out)


CODECS = ["none", "zstd", "gzip", "lz4", "snappy", "lzf"]


@pytest.mark.parametrize("codec", CODECS)
def test_any_split_decodes_to_the_same_text(codec: str):
    raw = encode(codec, TEXT)
    rng = random.Random(7)
    for _ in range(5):
        dec = make_decoder(codec)
        out, pos = b"", 0
        while pos < len(raw):
            step = rng.randint(1, 300)
            out += dec.feed(raw[pos : pos + step])
            pos += step
        assert out == TEXT


@pytest.mark.parametrize("codec", ["zstd", "gzip", "lz4", "snappy", "lzf"])
def test_restart_points_resume_mid_stream(codec: str):
    raw = encode(codec, TEXT)
    dec = make_decoder(codec)
    dec.feed(raw)
    points = dec.restart_points
    assert len(points) >= 5  # one per frame/block
    for r_raw, r_out in points:
        assert make_decoder(codec, r_raw, r_out).feed(raw[r_raw:]) == TEXT[r_out:]


def test_unfinished_frame_is_waited_for():
    raw = zstandard.ZstdCompressor().compress(TEXT)
    dec = make_decoder("zstd")
    part = dec.feed(raw[:-10])
    assert TEXT.startswith(part) and len(part) < len(TEXT)
    assert part + dec.feed(raw[-10:]) == TEXT


def test_lzf_overlapping_back_reference_repeats_the_last_bytes():
    # "ab" then a reference of length 6 at distance 2: the copy reads what it has just written.
    chunk = bytes([1]) + b"ab" + bytes([(4 << 5) | 0, 1])
    assert make_decoder("lzf").feed(b"ZV\x01" + struct.pack(">HH", len(chunk), 8) + chunk) == b"abababab"
    assert lzf_compress(b"x" * 300).count(b"x") < 5  # the encoder above does use overlapping copies


@pytest.mark.parametrize("raw", [
    b"ZV\x01" + struct.pack(">HH", 3, 9) + bytes([(1 << 5), 5, 0]),  # reference before the chunk's start
    b"ZV\x01" + struct.pack(">HH", 2, 9) + bytes([5, 65]),  # literal run past the end
    b"ZV\x01" + struct.pack(">HH", 2, 4) + bytes([1]) + b"a",  # decodes to 2 bytes, header says 4
    b"ZV\x07" + struct.pack(">H", 0),  # unknown chunk type
])
def test_lzf_bad_chunks_raise_corrupt_stream(raw: bytes):
    with pytest.raises(CorruptStream, match="lzf"):
        make_decoder("lzf").feed(raw)


@pytest.mark.parametrize("codec", ["zstd", "lz4", "snappy", "gzip", "lzf"])
def test_garbage_raises_corrupt_stream(codec: str):
    junk = b"NOTABLOCK" * 4 if codec == "lz4" else b"\x00\x01garbage-bytes" * 4
    if codec == "snappy":
        junk = struct.pack(">i", 5) + b"\xff\xff\xff\xff\xff"
    with pytest.raises(CorruptStream):
        make_decoder(codec).feed(junk)


def test_codec_from_file_names():
    assert codec_of("local-1.zstd.inprogress") == "zstd"
    assert codec_of("events_1_local-1.lz4") == "lz4"
    assert codec_of("eventlog-2026-11-24--05-15.gz") == "gzip"
    assert codec_of("local-1") == "none" and codec_of("application_1_2.inprogress") == "none"


@pytest.mark.parametrize("codec", CODECS)
def test_segment_reader_resumes_from_checkpoint_hint(codec: str, tmp_path: Path):
    ext = {"none": "", "gzip": ".gz"}.get(codec, "." + codec)
    path = tmp_path / f"app{ext}"
    path.write_bytes(encode(codec, TEXT))
    key = file_key(path.stat(), codec)
    reader = SegmentReader(path, codec, key, Position("0", 0), max_line=1 << 20)
    lines, eof = [], False
    while not eof:
        got, eof = reader.read(333)
        lines += got
    assert [line for line, _ in lines] == LINES
    middle = lines[len(lines) // 2][1]  # resume at the start of a middle line
    raw, out = hint_for(reader.restart_points(), middle, codec)
    again = SegmentReader(path, codec, key, Position("0", 0, middle, raw, out, key), max_line=1 << 20)
    rest, eof = [], False
    while not eof:
        got, eof = again.read(1 << 20)
        rest += got
    assert [line for line, _ in rest] == LINES[len(lines) // 2 :]
    # A different file identity (re-encoded copy) ignores the hint and still resumes exactly.
    third = SegmentReader(path, codec, "other", Position("0", 0, middle, raw, out, key), max_line=1 << 20)
    assert third.read(1 << 22)[0][0][0] == LINES[len(lines) // 2]
