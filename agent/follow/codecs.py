"""Incremental decoders for the event-log codecs Spark and Databricks write.

Each decoder takes raw bytes as they appear on disk (possibly ending in the
middle of a frame or block) and returns the bytes it could decode so far. It
also records *restart points*: raw offsets where decoding can start afresh
(a frame, member or block boundary) together with the decoded offset at that
point. A checkpoint stores the nearest restart point before the position it
describes, so a restart decodes a frame or two instead of the whole file.

Formats (checked against PySpark 4.3's writers):
- zstd: one zstd frame per Spark flush, frames concatenated.
- lz4: lz4-java ``LZ4BlockOutputStream`` ("LZ4Block" magic per block), not lz4 frame.
- snappy: xerial ``SnappyOutputStream`` (16-byte header, then big-endian length + raw snappy).
- gzip: Databricks' rotated ``eventlog-…gz`` segments (possibly multi-member).
- lzf: ning compress-lzf ``LZFOutputStream`` ("ZV" chunks of at most 64 KiB). No wheel-only
  Python package decodes it, so it is decoded here in pure Python: correct but several times
  slower than the others (Spark's default codec is zstd; lzf is rare).
"""

from __future__ import annotations

import struct
import zlib
from typing import Protocol

import cramjam
import lz4.block
import zstandard

LZ4_MAGIC = b"LZ4Block"
LZ4_HEADER = struct.Struct("<Biii")  # token, compressed length, original length, checksum
SNAPPY_MAGIC = b"\x82SNAPPY\x00"
SNAPPY_HEADER_LEN = 16


class CorruptStream(Exception):
    """The bytes cannot be decoded; the rest of the segment is unreadable."""


class Decoder(Protocol):
    codec: str
    # (raw offset, decoded offset) pairs where decoding can restart, ascending.
    restart_points: list[tuple[int, int]]

    def feed(self, raw: bytes) -> bytes: ...


class _Base:
    codec = "none"

    def __init__(self, raw_start: int, out_start: int) -> None:
        self.raw_pos = raw_start
        self.out_pos = out_start
        self.restart_points: list[tuple[int, int]] = [(raw_start, out_start)]

    @property
    def incomplete(self) -> bool:
        """Raw bytes fed that do not yet form a whole frame/block (a truncated file, if it is complete)."""
        return False

    def _mark(self) -> None:
        if self.restart_points[-1] != (self.raw_pos, self.out_pos):
            self.restart_points.append((self.raw_pos, self.out_pos))


class PlainDecoder(_Base):
    """No compression: every byte offset is a restart point, so none are stored."""

    codec = "none"

    def feed(self, raw: bytes) -> bytes:
        self.raw_pos += len(raw)
        self.out_pos += len(raw)
        self.restart_points = [(self.raw_pos, self.out_pos)]
        return raw


class _FrameDecoder(_Base):
    """Shared loop for codecs made of self-delimiting frames (zstd, gzip members)."""

    def __init__(self, raw_start: int, out_start: int) -> None:
        super().__init__(raw_start, out_start)
        self._obj = self._new()
        self._in_frame = False  # bytes of an unfinished frame were fed

    @property
    def incomplete(self) -> bool:
        return self._in_frame

    def _new(self):  # pragma: no cover - overridden
        raise NotImplementedError

    def feed(self, raw: bytes) -> bytes:
        out = bytearray()
        data = raw
        while data:
            try:
                chunk = self._obj.decompress(data)
            except (zstandard.ZstdError, zlib.error) as exc:
                raise CorruptStream(str(exc)) from exc
            out += chunk
            self.out_pos += len(chunk)
            if self._obj.eof:
                rest = self._obj.unused_data
                self.raw_pos += len(data) - len(rest)
                self._mark()
                self._obj = self._new()
                self._in_frame = False
                data = rest
            else:
                self.raw_pos += len(data)
                self._in_frame = True
                data = b""
        return bytes(out)


class ZstdDecoder(_FrameDecoder):
    codec = "zstd"

    def _new(self):
        return zstandard.ZstdDecompressor().decompressobj()


class GzipDecoder(_FrameDecoder):
    codec = "gzip"

    def _new(self):
        return zlib.decompressobj(wbits=31)


class _BlockDecoder(_Base):
    """Shared loop for length-prefixed block formats: only whole blocks are decoded."""

    def __init__(self, raw_start: int, out_start: int) -> None:
        super().__init__(raw_start, out_start)
        self._pending = bytearray()

    @property
    def incomplete(self) -> bool:
        return bool(self._pending)

    def feed(self, raw: bytes) -> bytes:
        self._pending += raw
        out = bytearray()
        while True:
            used, chunk = self._next_block(self._pending)
            if used == 0:
                break
            del self._pending[:used]
            out += chunk
            self.raw_pos += used
            self.out_pos += len(chunk)
            self._mark()
        return bytes(out)

    def _next_block(self, buf: bytearray) -> tuple[int, bytes]:  # pragma: no cover
        raise NotImplementedError


class Lz4BlockDecoder(_BlockDecoder):
    codec = "lz4"

    def _next_block(self, buf: bytearray) -> tuple[int, bytes]:
        head = len(LZ4_MAGIC) + LZ4_HEADER.size
        if len(buf) < head:
            return 0, b""
        if bytes(buf[:8]) != LZ4_MAGIC:
            raise CorruptStream("lz4: bad block magic")
        token, clen, olen, _checksum = LZ4_HEADER.unpack_from(buf, 8)
        if clen < 0 or olen < 0:
            raise CorruptStream("lz4: negative block length")
        if len(buf) < head + clen:
            return 0, b""
        body = bytes(buf[head : head + clen])
        method = token & 0xF0
        if olen == 0:
            return head + clen, b""  # end-of-stream marker written by close()
        if method == 0x10:
            return head + clen, body
        try:
            return head + clen, lz4.block.decompress(body, uncompressed_size=olen)
        except lz4.block.LZ4BlockError as exc:
            raise CorruptStream(str(exc)) from exc


class SnappyXerialDecoder(_BlockDecoder):
    codec = "snappy"

    def _next_block(self, buf: bytearray) -> tuple[int, bytes]:
        if len(buf) >= 8 and bytes(buf[:8]) == SNAPPY_MAGIC:
            if len(buf) < SNAPPY_HEADER_LEN:
                return 0, b""
            return SNAPPY_HEADER_LEN, b""
        if len(buf) < 4:
            return 0, b""
        (clen,) = struct.unpack_from(">i", buf, 0)
        if clen < 0:
            raise CorruptStream("snappy: negative chunk length")
        if len(buf) < 4 + clen:
            return 0, b""
        try:
            return 4 + clen, bytes(cramjam.snappy.decompress_raw(bytes(buf[4 : 4 + clen])))
        except Exception as exc:  # cramjam raises its own DecompressionError
            raise CorruptStream(f"snappy: {exc}") from exc


LZF_MAGIC = b"ZV"


class LzfChunkDecoder(_BlockDecoder):
    codec = "lzf"

    def _next_block(self, buf: bytearray) -> tuple[int, bytes]:
        if len(buf) < 5:
            return 0, b""
        if bytes(buf[:2]) != LZF_MAGIC:
            raise CorruptStream("lzf: bad chunk magic")
        kind = buf[2]
        (clen,) = struct.unpack_from(">H", buf, 3)
        if kind == 0:  # stored as is
            return (5 + clen, bytes(buf[5 : 5 + clen])) if len(buf) >= 5 + clen else (0, b"")
        if kind != 1:
            raise CorruptStream(f"lzf: unknown chunk type {kind}")
        if len(buf) < 7 + clen:
            return 0, b""
        (olen,) = struct.unpack_from(">H", buf, 5)
        out = lzf_decompress(bytes(buf[7 : 7 + clen]))
        if len(out) != olen:
            raise CorruptStream(f"lzf: chunk decoded to {len(out)} bytes, header says {olen}")
        return 7 + clen, out


def lzf_decompress(data: bytes) -> bytes:
    """liblzf's format: a control byte < 32 starts a literal run of ctrl+1 bytes; otherwise it is
    a back reference (length in the top 3 bits, extended by one byte when 7; distance in the low
    5 bits and the next byte)."""
    out = bytearray()
    ip, end = 0, len(data)
    try:
        while ip < end:
            ctrl = data[ip]
            ip += 1
            if ctrl < 32:
                out += data[ip : ip + ctrl + 1]
                ip += ctrl + 1
                continue
            length = ctrl >> 5
            if length == 7:
                length += data[ip]
                ip += 1
            ref = len(out) - ((ctrl & 0x1F) << 8) - 1 - data[ip]
            ip += 1
            length += 2
            if ref < 0:
                raise CorruptStream("lzf: back reference before the start of the chunk")
            dist = len(out) - ref
            if dist >= length:
                out += out[ref : ref + length]
            else:  # overlapping copy: the last `dist` bytes repeat
                out += (out[ref:] * (length // dist + 1))[:length]
    except IndexError:
        raise CorruptStream("lzf: chunk ends inside a token") from None
    if ip != end:
        raise CorruptStream("lzf: literal run past the end of the chunk")
    return bytes(out)


DECODERS: dict[str, type[_Base]] = {
    "none": PlainDecoder,
    "zstd": ZstdDecoder,
    "zst": ZstdDecoder,
    "gz": GzipDecoder,
    "gzip": GzipDecoder,
    "lz4": Lz4BlockDecoder,
    "snappy": SnappyXerialDecoder,
    "lzf": LzfChunkDecoder,
}
CODEC_EXTENSIONS = ("zstd", "zst", "lz4", "snappy", "gz", "lzf")


def codec_of(name: str) -> str:
    """The codec of a file from its extension (after dropping .inprogress)."""
    base = name[: -len(".inprogress")] if name.endswith(".inprogress") else name
    ext = base.rsplit(".", 1)[-1] if "." in base else ""
    return {"zst": "zstd", "gz": "gzip"}.get(ext, ext) if ext in CODEC_EXTENSIONS else "none"


def make_decoder(codec: str, raw_start: int = 0, out_start: int = 0) -> _Base:
    cls = DECODERS.get(codec)
    if cls is None:
        raise CorruptStream(f"unsupported codec {codec!r}")
    return cls(raw_start, out_start)
