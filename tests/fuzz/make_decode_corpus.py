#!/usr/bin/env python3
"""make_decode_corpus.py: writes the seed corpus of fuzz_decode_diff
(corpus/fuzz_decode_diff/), WriteRequest bytes built by hand in the
encodings a protobuf parser must take: packed and unpacked arrays, repeated
fields split in parts, scalars given twice, unknown fields of every wire
type, long keys, 10-byte varints, fixed-size bools, empty series with a
type hint, and requests that break the checks. Run it from anywhere; it
rewrites the folder's files (the seeds are committed, so this is only
needed to change them).
"""
import os
import struct

T0 = 1700000000000000000
SEC = 1000000000


def varint(x):
    x &= (1 << 64) - 1
    out = bytearray()
    while x >= 0x80:
        out.append((x & 0x7F) | 0x80)
        x >>= 7
    out.append(x)
    return bytes(out)


def zz(x):
    return (x << 1) ^ (x >> 63) if x >= 0 else ((-x) << 1) - 1


def key(field, wt):
    return varint(field << 3 | wt)


def uint(field, x):
    return key(field, 0) + varint(x)


def sint(field, x):
    return uint(field, zz(x))


def lenf(field, data):
    return key(field, 2) + varint(len(data)) + data


def fixed64(field, data8):
    return key(field, 1) + data8


def fixed32(field, data4):
    return key(field, 5) + data4


def dbl(field, x):
    return fixed64(field, struct.pack("<d", x))


def packed_sint(field, xs):
    return lenf(field, b"".join(varint(zz(x)) for x in xs))


def packed_uint(field, xs):
    return lenf(field, b"".join(varint(x) for x in xs))


def packed_dbl(field, xs):
    return lenf(field, b"".join(struct.pack("<d", x) for x in xs))


def series(*fields):
    return lenf(3, b"".join(fields))


def tag(name):
    return lenf(1, name.encode())


SEEDS = {
    "packed": uint(1, 7) + lenf(2, b"tok")
    + series(tag("site1/area1/line1/cell1/temp"), packed_sint(2, [T0, SEC, SEC]),
             packed_dbl(3, [20.5, 21.0, float("nan")]), packed_uint(6, [0, 192, 0x80000000]))
    + series(tag("site1/area1/line1/cell1/count"), packed_sint(2, [T0, SEC]),
             packed_sint(4, [-3, 1 << 40]))
    + series(tag("site1/area1/line1/cell1/run"), packed_sint(2, [T0]), packed_uint(5, [1])),
    "unpacked": uint(1, 8)
    + series(tag("site1/area1/line1/cell1/temp"), sint(2, T0), sint(2, SEC), dbl(3, 1.0),
             dbl(3, -2.0), uint(6, 0), uint(6, 3))
    + series(tag("site1/area1/line1/cell1/count"), sint(2, T0), sint(4, -9))
    + series(tag("site1/area1/line1/cell1/run"), sint(2, T0), sint(2, SEC), uint(5, 1),
             uint(5, 0)),
    "split_repeats": series(packed_dbl(3, [1.0]), tag("site1/a/l/c/x"), packed_sint(2, [T0]),
                            sint(2, SEC), dbl(3, 2.0), packed_sint(2, [SEC]), packed_dbl(3, [3.0]),
                            uint(6, 1), packed_uint(6, [2, 3]), packed_dbl(3, [])),
    "last_wins": uint(1, 1) + lenf(2, b"first")
    + series(tag("bad//name"), uint(7, 9), tag("site1/a/l/c/x"), uint(7, 2))
    + uint(1, 99) + lenf(2, b"second"),
    "unknown_fields": uint(9, 1) + fixed64(10, b"\x01" * 8) + lenf(11, b"\x08\x01")
    + fixed32(12, b"\x02" * 4) + uint(1000, 5) + uint((1 << 32) - 1, 6) + b"\x80\x00\x07"
    + series(uint(8, 1), fixed64(9, b"\x00" * 8), lenf(16, b""), fixed32(2047, b"\xff" * 4),
             tag("site1/a/l/c/x"), packed_sint(2, [T0]), dbl(3, 4.0)),
    "long_varints": b"\x08" + b"\xff" * 9 + b"\x7f"
    + series(tag("site1/a/l/c/b"), b"\x10" + b"\x80" * 9 + b"\x00",
             b"\x28" + b"\x80" * 9 + b"\x02", b"\x30" + b"\xff" * 9 + b"\x01",
             b"\x38" + b"\xff" * 9 + b"\x01"),
    "fixed_bools": series(tag("site1/a/l/c/b"), packed_sint(2, [T0, 1, 1]),
                          fixed64(5, b"\x00" * 7 + b"\x80"), fixed32(5, b"\x00\x01\x00\x00"),
                          lenf(5, b"\x80\x01")),
    "empty_hints": series(tag("site1/a/l/c/f"))
    + series(tag("site1/a/l/c/i"), uint(7, 2)) + series(tag("site1/a/l/c/b"), uint(7, 3))
    + series(tag("site1/a/l/c/u"), uint(7, 4)) + series(),
    "type_conflict": series(tag("site1/a/l/c/x"), packed_sint(2, [T0]), dbl(3, 1.0))
    + series(tag("site1/a/l/c/x"), packed_sint(2, [T0]), sint(4, 1))
    + series(tag("site1/a/l/c/y"), packed_sint(2, [6311390400000000000, 1]),
             packed_dbl(3, [1.0, 2.0])),
    "many_series": uint(1, 3) + b"".join(
        series(tag("site1/area%d/line%d/cell%d/temperature_pv" % (i % 3, i % 5, i)),
               packed_sint(2, [T0]), packed_dbl(3, [i * 0.5])) for i in range(12)),
    "name_nul": lenf(2, b"\xfftok\x00x")
    + series(lenf(1, b"site1/a/l/c/x\x00junk"), packed_sint(2, [T0]), dbl(3, 1.0)),
}


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "fuzz_decode_diff")
    os.makedirs(out, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
