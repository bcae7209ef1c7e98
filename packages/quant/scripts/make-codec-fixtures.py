#!/usr/bin/env python3
"""Writes src/codecs/fixtures/*.json: the bytes ggml's reference quantizers produce and the floats
its dequantizers produce, for inputs that src/codecs/ggml-reference.test.ts generates identically.

Two independent references are checked against each other before anything is written:
  - ggml itself: quantize_row_*_ref / dequantize_row_* of the libggml-base.so that
    node-llama-cpp installs prebuilt (x86-64 build, no FMA contraction), called through ctypes;
  - gguf-py (pip install gguf numpy): numpy ports of the Q4_0..Q8_0 quantizers and of every
    dequantizer.
The fixtures hold ggml's output; the script stops when gguf-py disagrees with it.

  python3 packages/quant/scripts/make-codec-fixtures.py [--ggml-base path/to/libggml-base.so]
"""
import argparse
import base64
import ctypes
import glob
import json
import os
import sys

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import quants

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, '..', '..', '..'))
OUT = os.path.join(HERE, '..', 'src', 'codecs', 'fixtures')

M32 = 0xFFFFFFFF


class XorShift32:
    """Mirrors ggml-reference.test.ts: every step is exact in float64, so both sides agree bit for bit."""

    def __init__(self, seed):
        self.s = seed & M32

    def next(self):
        s = self.s
        s ^= (s << 13) & M32
        s ^= s >> 17
        s ^= (s << 5) & M32
        self.s = s
        return s

    def uniform(self):
        return (self.next() >> 8) / 16777216.0

    def normal(self):
        # Irwin-Hall: twelve uniforms, mean 0, variance 1, within +-6.
        return sum(self.uniform() for _ in range(12)) - 6.0


DISTRIBUTIONS = ['normal', 'uniform', 'outliers', 'tiny', 'zeros', 'positive', 'large']


def make_input(distribution, count, block_size):
    seed = 0x9E3779B9 ^ (DISTRIBUTIONS.index(distribution) * 0x85EBCA6B)
    rng = XorShift32(seed)
    v = []
    for i in range(count):
        if distribution == 'normal':
            x = rng.normal() * 0.02
        elif distribution == 'uniform':
            x = rng.uniform() * 3 - 1.5
        elif distribution == 'outliers':
            x = rng.normal() * 0.05
            if i % 37 == 5:
                x *= 40
        elif distribution == 'tiny':
            x = rng.normal() * 2.0 ** -18
        elif distribution == 'zeros':
            x = rng.normal() * 0.1
            if i % 5 == 0:
                x = 0.0
        elif distribution == 'positive':
            x = rng.uniform() * 3 + 1
        elif distribution == 'large':
            x = rng.normal() * 10000
        v.append(x)
    if distribution == 'zeros':
        # One block of equal positive values, one of zeros, one of equal negative values.
        for i in range(block_size, 2 * block_size):
            v[i] = 0.75
        for i in range(2 * block_size, 3 * block_size):
            v[i] = 0.0
        for i in range(3 * block_size, 4 * block_size):
            v[i] = -0.3
    return np.array(v, dtype=np.float64).astype(np.float32)


# name -> (gguf type, block size, bytes per block, half-scale offsets, whether gguf-py quantizes it)
TYPES = {
    'q4_0': (T.Q4_0, 32, 18, [0], True),
    'q4_1': (T.Q4_1, 32, 20, [0, 2], True),
    'q5_0': (T.Q5_0, 32, 22, [0], True),
    'q5_1': (T.Q5_1, 32, 24, [0, 2], True),
    'q8_0': (T.Q8_0, 32, 34, [0], True),
    'q2_k': (T.Q2_K, 256, 84, [80, 82], False),
    'q3_k': (T.Q3_K, 256, 110, [108], False),
    'q4_k': (T.Q4_K, 256, 144, [0, 2], False),
    'q5_k': (T.Q5_K, 256, 176, [0, 2], False),
    'q6_k': (T.Q6_K, 256, 210, [208], False),
}


def block_count(block_size):
    return 8 if block_size == 32 else 4


def random_blocks(name):
    _, block_size, type_size, half_offsets, _ = TYPES[name]
    rng = XorShift32(0x2545F491 ^ sum(ord(c) for c in name))
    data = bytearray(rng.next() & 0xFF for _ in range(block_count(block_size) * type_size))
    for b in range(block_count(block_size)):
        for off in half_offsets:
            o = b * type_size + off
            if data[o + 1] & 0x7C == 0x7C:
                data[o + 1] &= ~0x40 & 0xFF  # an infinite or NaN half becomes finite
    return bytes(data)


def ggml_name(name):
    return name[:-1] + 'K' if name.endswith('k') else name


def find_ggml_base():
    hits = sorted(glob.glob(os.path.join(
        ROOT, 'node_modules/.pnpm/@node-llama-cpp+linux-x64@*/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libggml-base.so')))
    if not hits:
        sys.exit('libggml-base.so not found: pnpm install on linux-x64, or pass --ggml-base')
    return hits[-1]


def b64(buf):
    return base64.b64encode(bytes(buf)).decode('ascii')


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--ggml-base', default=None)
    args = parser.parse_args()
    lib = ctypes.CDLL(args.ggml_base or find_ggml_base())
    os.makedirs(OUT, exist_ok=True)
    for name, (qtype, block_size, type_size, _, gguf_quantizes) in TYPES.items():
        g = ggml_name(name)
        quantize_ref = getattr(lib, f'quantize_row_{g}_ref')
        dequantize_ref = getattr(lib, f'dequantize_row_{g}')
        for fn in (quantize_ref, dequantize_ref):
            fn.restype = None
            fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
        n = block_count(block_size) * block_size
        quantized = {}
        for distribution in DISTRIBUTIONS:
            x = np.ascontiguousarray(make_input(distribution, n, block_size))
            y = np.zeros(n // block_size * type_size, dtype=np.uint8)
            quantize_ref(x.ctypes.data, y.ctypes.data, n)
            if gguf_quantizes:
                py = quants.quantize(x.reshape(1, -1), qtype).reshape(-1)
                if not np.array_equal(py, y):
                    bad = np.nonzero(py != y)[0]
                    sys.exit(f'{name} {distribution}: gguf-py and ggml differ at bytes {bad[:8]}')
            quantized[distribution] = b64(y)
        blocks = random_blocks(name)
        src = np.frombuffer(blocks, dtype=np.uint8).copy()
        out = np.zeros(len(blocks) // type_size * block_size, dtype=np.float32)
        dequantize_ref(src.ctypes.data, out.ctypes.data, out.size)
        py = quants.dequantize(src.reshape(1, -1), qtype).reshape(-1)
        if not np.array_equal(py.view(np.uint32), out.view(np.uint32)):
            bad = np.nonzero(py.view(np.uint32) != out.view(np.uint32))[0]
            sys.exit(f'{name} dequantize: gguf-py and ggml differ at elements {bad[:8]}')
        fixture = {
            'type': name,
            'source': 'ggml quantize_row_*_ref / dequantize_row_* (libggml-base.so, node-llama-cpp linux-x64), '
                      + ('quantize and dequantize' if gguf_quantizes else 'dequantize') + ' also equal to gguf-py',
            'quantized': quantized,
            'dequantized': b64(out.tobytes()),
        }
        with open(os.path.join(OUT, f'{name}.json'), 'w') as f:
            json.dump(fixture, f, indent=1)
            f.write('\n')
        print(name, 'ok')


if __name__ == '__main__':
    main()
