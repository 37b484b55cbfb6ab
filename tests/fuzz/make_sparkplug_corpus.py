#!/usr/bin/env python3
"""make_sparkplug_corpus.py: writes the seed corpus of fuzz_sparkplug
(corpus/fuzz_sparkplug/): runs of Sparkplug B messages in the fuzzer's
input format (selector byte, 16-bit little-endian payload length, payload,
clock step byte; see fuzz_sparkplug.c), with payloads built by hand here:
births with aliases, properties (Quality, engUnit), every datatype, data by
alias, a seq wrap and a gap, devices, deaths with and without the birth's
bdSeq. Run it from anywhere; it rewrites the folder's files (the seeds are
committed, so this is only needed to change them).
"""
import os
import struct

T0 = 1700000000000
NBIRTH, NDATA, NDEATH, DBIRTH, DDATA, DDEATH = 0, 1, 2, 3, 4, 5
D2BIRTH, D2DATA, NBIRTH2, NDATA2, NDEATH2, STATE = 6, 7, 8, 9, 10, 11


def varint(x):
    x &= (1 << 64) - 1
    out = bytearray()
    while x >= 0x80:
        out.append((x & 0x7F) | 0x80)
        x >>= 7
    out.append(x)
    return bytes(out)


def key(field, wt):
    return varint(field << 3 | wt)


def vfield(field, x):
    return key(field, 0) + varint(x)


def lfield(field, b):
    if isinstance(b, str):
        b = b.encode()
    return key(field, 2) + varint(len(b)) + b


def prop_set(props):
    keys = b"".join(lfield(1, k) for k, _ in props)
    vals = b""
    for _, v in props:
        if isinstance(v, str):
            vals += lfield(2, vfield(1, 12) + lfield(8, v))
        else:
            vals += lfield(2, vfield(1, 3) + vfield(3, v & 0xFFFFFFFF))
    return keys + vals


def metric(name=None, alias=None, dt=None, value=None, ts=None, null=False,
           hist=False, props=None):
    b = b""
    if name is not None:
        b += lfield(1, name)
    if alias is not None:
        b += vfield(2, alias)
    if ts is not None:
        b += vfield(3, ts)
    if dt is not None:
        b += vfield(4, dt)
    if hist:
        b += vfield(5, 1)
    if null:
        b += vfield(7, 1)
    if props:
        b += lfield(9, prop_set(props))
    if value is not None:
        kind, x = value
        if kind == "int":
            b += vfield(10, x & 0xFFFFFFFF)
        elif kind == "long":
            b += vfield(11, x)
        elif kind == "float":
            b += key(12, 5) + struct.pack("<f", x)
        elif kind == "double":
            b += key(13, 1) + struct.pack("<d", x)
        elif kind == "bool":
            b += vfield(14, 1 if x else 0)
        elif kind == "string":
            b += lfield(15, x)
        elif kind == "bytes":
            b += lfield(16, x)
    return b


def payload(metrics, seq=None, ts=T0):
    b = b""
    if ts is not None:
        b += vfield(1, ts)
    for m in metrics:
        b += lfield(2, m)
    if seq is not None:
        b += vfield(3, seq)
    return b


def msg(sel, pl, step=1):
    return bytes([sel]) + struct.pack("<H", len(pl)) + pl + bytes([step])


BIRTH = [
    metric("bdSeq", dt=8, value=("long", 3)),
    metric("Temp", 1, 3, ("int", -5), props=[("Quality", 192), ("engUnit", "degC")]),
    metric("Flow", 2, 10, ("double", 12.5)),
    metric("Run", 3, 11, ("bool", True)),
    metric("Line/Speed", 4, 9, ("float", 1.5)),
    metric("Big", 5, 8, ("long", 1 << 63)),
    metric("Name", 6, 12, ("string", "x")),
    metric("Blob", 7, 17, ("bytes", b"\x01\x02")),
    metric("When", 8, 13, ("long", T0)),
    metric("a//b\x01", 9, 2, ("int", 7)),
]


def seeds():
    s = {}
    s["birth_data"] = msg(NBIRTH, payload(BIRTH, 0)) + msg(
        NDATA, payload([metric(alias=1, value=("int", 6)),
                        metric(alias=2, value=("double", 1.0), ts=T0 + 5),
                        metric(alias=3, null=True, props=[("Quality", 8)])], 1))
    wrap = msg(NBIRTH, payload(BIRTH, 0))
    for i in range(1, 260):
        wrap += msg(NDATA, payload([metric(alias=1, value=("int", i))], i % 256), 0)
    s["seq_wrap"] = wrap
    s["seq_gap"] = (msg(NBIRTH, payload(BIRTH, 0)) +
                    msg(NDATA, payload([metric(alias=1, value=("int", 1))], 3)) +
                    msg(NDATA, payload([metric(alias=1, value=("int", 1))], 4), 20) +
                    msg(NBIRTH, payload(BIRTH, 0)) +
                    msg(NDATA, payload([metric(alias=99, value=("int", 1))], 1)))
    s["devices"] = (msg(NBIRTH, payload(BIRTH[:3], 0)) +
                    msg(DBIRTH, payload([metric("Level", 10, 10, ("double", 0.5),
                                                props=[("engineeringUnit", "%")])], 1)) +
                    msg(DDATA, payload([metric(alias=10, value=("double", 0.75),
                                               hist=True, ts=T0 - 1000)], 2)) +
                    msg(D2DATA, payload([metric(alias=10, value=("double", 1))], 3)) +
                    msg(DDEATH, payload([], 4)) +
                    msg(NDEATH, payload([metric("bdSeq", dt=8, value=("long", 2))], None, None)) +
                    msg(NDEATH, payload([metric("bdSeq", dt=8, value=("long", 3))], None, None)))
    s["early_data"] = (msg(NDATA2, payload([metric(alias=1, value=("int", 1))], 1)) +
                       msg(NBIRTH2, payload(BIRTH, 0)) + msg(NDEATH2, payload([], None)) +
                       msg(STATE, b'{"online":true,"timestamp":1}'))
    return s


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "fuzz_sparkplug")
    os.makedirs(out, exist_ok=True)
    for f in os.listdir(out):
        os.remove(os.path.join(out, f))
    for name, data in seeds().items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
