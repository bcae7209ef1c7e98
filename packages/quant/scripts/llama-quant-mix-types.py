#!/usr/bin/env python3
"""Writes src/fixtures/llama-quant-mix-types.json: the tensor types llama.cpp's own
llama_model_quantize picks for each mix, for the models quant-mix.test.ts checks tensorQuantType on.

It calls the libllama.so that node-llama-cpp installs prebuilt (through ctypes), quantizes each
model to a temporary file and reads the tensor directory back from that file's GGUF header. The
models: the two F32 files of ../shared/models whose rows mostly fall back, and two synthetic ones
with 256-wide rows (written with @llm/formats' synthetic generator) where the K mixes apply:
16 layers with grouped-query attention, and 8 tied-embedding layers whose 352-wide FFN rows fall
back to 32-element blocks.

  python3 packages/quant/scripts/llama-quant-mix-types.py [--lib-dir path/to/bins/linux-x64]
"""
import argparse
import ctypes
import glob
import json
import os
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, '..', '..', '..'))
OUT = os.path.join(HERE, '..', 'src', 'fixtures', 'llama-quant-mix-types.json')
MODELS = os.path.normpath(os.path.join(ROOT, '..', 'shared', 'models'))

# llama_ftype values (llama.h); Q2_K_S needs an importance matrix, the IQ mixes too.
FTYPES = {
    'q4_0': 2, 'q4_1': 3, 'q8_0': 7, 'q5_0': 8, 'q5_1': 9, 'q2_k': 10, 'q3_k_s': 11, 'q3_k_m': 12,
    'q3_k_l': 13, 'q4_k_s': 14, 'q4_k_m': 15, 'q5_k_s': 16, 'q5_k_m': 17, 'q6_k': 18,
}
GGML_TYPES = {0: 'f32', 1: 'f16', 2: 'q4_0', 3: 'q4_1', 6: 'q5_0', 7: 'q5_1', 8: 'q8_0', 10: 'q2_k',
              11: 'q3_k', 12: 'q4_k', 13: 'q5_k', 14: 'q6_k', 30: 'bf16'}
GGML_TYPE_COUNT = 1000  # any value >= GGML_TYPE_COUNT means "not set"


class Params(ctypes.Structure):
    _fields_ = [
        ('nthread', ctypes.c_int32), ('ftype', ctypes.c_int), ('output_tensor_type', ctypes.c_int),
        ('token_embedding_type', ctypes.c_int), ('allow_requantize', ctypes.c_bool),
        ('quantize_output_tensor', ctypes.c_bool), ('only_copy', ctypes.c_bool), ('pure', ctypes.c_bool),
        ('keep_split', ctypes.c_bool), ('dry_run', ctypes.c_bool), ('imatrix', ctypes.c_void_p),
        ('kv_overrides', ctypes.c_void_p), ('tt_overrides', ctypes.c_void_p),
        ('prune_layers', ctypes.c_void_p), ('max_buf_size', ctypes.c_size_t),
    ]


def tensor_types(path):
    """The model's layer and head counts, and each tensor's type and row-major shape, from a GGUF v3 header."""
    with open(path, 'rb') as f:
        data = f.read(1 << 22)
    pos = 0

    def take(fmt):
        nonlocal pos
        values = struct.unpack_from('<' + fmt, data, pos)
        pos += struct.calcsize('<' + fmt)
        return values

    def string():
        nonlocal pos
        (n,) = take('Q')
        s = data[pos:pos + n].decode()
        pos += n
        return s

    sizes = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}

    def skip_value(t):
        nonlocal pos
        if t == 8:
            string()
        elif t == 9:
            (item, n) = take('IQ')
            for _ in range(n):
                skip_value(item)
        else:
            pos += sizes[t]

    magic, version, n_tensors, n_kv = take('IIQQ')
    assert magic == 0x46554747 and version == 3
    ints = {}
    for _ in range(n_kv):
        key = string()
        (t,) = take('I')
        if t == 4:
            (ints[key],) = take('I')
        else:
            skip_value(t)
    types = {}
    for _ in range(n_tensors):
        name = string()
        (n_dims,) = take('I')
        ne = take('Q' * n_dims)
        (t, _offset) = take('IQ')
        types[name] = {'type': GGML_TYPES[t], 'shape': list(reversed(ne))}
    model = {'numLayers': ints['llama.block_count'], 'numHeads': ints['llama.attention.head_count'],
             'numKvHeads': ints['llama.attention.head_count_kv'], 'tiedEmbeddings': 'output.weight' not in types}
    return model, types


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--lib-dir')
    args = parser.parse_args()
    lib_dir = args.lib_dir or next(iter(glob.glob(os.path.join(
        ROOT, 'node_modules', '.pnpm', '@node-llama-cpp+linux-x64@*', 'node_modules', '@node-llama-cpp',
        'linux-x64', 'bins', 'linux-x64'))), None)
    if lib_dir is None:
        sys.exit('no node-llama-cpp linux-x64 binaries: run pnpm install, or pass --lib-dir')
    for name in ['libggml-base.so', 'libggml.v0.5.0.so']:
        ctypes.CDLL(os.path.join(lib_dir, name), mode=ctypes.RTLD_GLOBAL)
    llama = ctypes.CDLL(glob.glob(os.path.join(lib_dir, 'libllama.v*.so'))[0])
    llama.llama_model_quantize_default_params.restype = Params
    llama.llama_model_quantize.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(Params)]
    llama.llama_model_quantize.restype = ctypes.c_uint32
    llama.llama_backend_init()

    models = {
        'gqa-d128-f32.gguf': os.path.join(MODELS, 'synthetic', 'gqa-d128-f32.gguf'),
        'stories260K.gguf': os.path.join(MODELS, 'stories260K.gguf'),
    }
    result = {'llamaCpp': open(os.path.join(lib_dir, '_nlcBuildMetadata.json')).read().strip(), 'models': {}}
    synthetic = {
        'k256-l16-gqa4': {'dim': 256, 'hiddenDim': 512, 'numLayers': 16, 'numHeads': 8, 'numKvHeads': 2},
        'k256-l8-tied': {'dim': 256, 'hiddenDim': 352, 'numLayers': 8, 'numHeads': 4, 'numKvHeads': 4,
                         'tiedEmbeddings': True},
    }
    with tempfile.TemporaryDirectory() as tmp:
        for name, shape in synthetic.items():
            models[name] = os.path.join(tmp, f'{name}.gguf')
            options = json.dumps({**shape, 'vocabSize': 512, 'contextLength': 256, 'seed': 7})
            subprocess.run(['node', '--import', 'tsx', '-e',
                            "const { writeSyntheticLlamaGguf } = await import('./src/node/index.ts');"
                            f"await writeSyntheticLlamaGguf({json.dumps(models[name])}, {options});"],
                           cwd=os.path.join(ROOT, 'packages', 'formats'), check=True)
        for model, path in models.items():
            result['models'][model] = {'mixes': {}}
            for mix, ftype in FTYPES.items():
                params = llama.llama_model_quantize_default_params()
                params.ftype = ftype
                params.nthread = 1
                out = os.path.join(tmp, f'{mix}.gguf')
                code = llama.llama_model_quantize(path.encode(), out.encode(), ctypes.byref(params))
                if code != 0:
                    sys.exit(f'llama_model_quantize({model}, {mix}) returned {code}')
                facts, tensors = tensor_types(out)
                entry = result['models'][model]
                entry['model'] = facts
                # Types as a list in the order of `tensors`, to keep the fixture small.
                entry.setdefault('tensors', {name: t['shape'] for name, t in sorted(tensors.items())})
                entry['mixes'][mix] = [tensors[name]['type'] for name in entry['tensors']]
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, 'w') as f:
        json.dump(result, f, separators=(",", ":"))
        f.write('\n')
    print(f'wrote {OUT}', file=sys.stderr)


if __name__ == '__main__':
    main()
