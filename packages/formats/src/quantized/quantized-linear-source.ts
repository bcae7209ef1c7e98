import { byteLengthOf, elementType, f16BitsToF32, type GroupDtype } from '@llm/quant';
import { UnsupportedModelError } from '../errors.js';
import { HfFormatError } from '../hf/hf-format-error.js';
import type { SafetensorsDtype } from '../safetensors/safetensors-dtype.js';
import type { SafetensorsTensor } from '../safetensors/safetensors-header.js';
import type { TensorInfo } from '../weight-source.js';
import { awqShapes, unpackAwq } from './awq-packing.js';
import { gptqShapes, unpackGptq } from './gptq-packing.js';
import { groupDtypeFor, reorderInputs, toGroupBlocks, type UnpackedLinear } from './int-packing.js';
import type { IntQuantization } from './quantization-config.js';

/** Where one tensor of the folder lives: its header entry and a reader of its bytes. */
export interface LocatedTensor {
  readonly entry: SafetensorsTensor;
  readonly path: string;
  readBytes(): Promise<Uint8Array>;
}

/** A quantized linear layer presented as one tensor of a group type (see @llm/quant's group-quant.ts). */
export interface QuantizedLinearTensor {
  readonly info: TensorInfo;
  /** The layer's levels, scales and zeros repacked into the group type's blocks: nothing decoded. */
  read(): Promise<Uint8Array>;
}

const INT_WORDS: readonly SafetensorsDtype[] = ['I32', 'U32'];

/**
 * The layer `base` (`model.layers.0.self_attn.q_proj`) of a GPTQ or AWQ checkpoint as the tensor
 * `name` of shape [N, K]. Its tensors' presence, dtypes and shapes and its g_idx are checked here.
 * An act-order layer (g_idx not k / g) is given with its columns sorted by group and `inputOrder`
 * set. Throws HfFormatError (a tensor missing or of the wrong shape or dtype) or
 * UnsupportedModelError (shapes the packing or the kernels cannot hold, a g_idx that is no grouping
 * in groups of g).
 */
export async function quantizedLinearTensor(
  q: IntQuantization,
  base: string,
  name: string,
  shape: readonly [rows: number, cols: number],
  find: (hfName: string) => LocatedTensor | undefined,
  dir: string,
): Promise<QuantizedLinearTensor> {
  const [rows, cols] = shape;
  const groupSize = Math.min(q.groupSize, cols);
  const require = (suffix: string, dtypes: readonly SafetensorsDtype[], want: readonly number[]): LocatedTensor => {
    const t = find(`${base}.${suffix}`);
    if (t === undefined) {
      throw new HfFormatError(dir, 'tensor-missing', `${base}.${suffix} is missing; a ${q.method} layer needs qweight, qzeros and scales`);
    }
    if (!dtypes.includes(t.entry.dtype)) {
      throw new HfFormatError(t.path, 'tensor-shape', `${base}.${suffix} is ${t.entry.dtype}; ${q.method} stores it as ${dtypes.join(' or ')}`);
    }
    if (t.entry.shape.length !== want.length || t.entry.shape.some((d, i) => d !== want[i])) {
      throw new HfFormatError(
        t.path,
        'tensor-shape',
        `${base}.${suffix} has shape [${t.entry.shape.join(', ')}]; ${q.method} ${q.bits}-bit packing of a [${rows}, ${cols}] weight in groups of ${groupSize} gives [${want.join(', ')}]`,
      );
    }
    return t;
  };
  const packedAxis = q.method === 'awq' ? rows * 4 : cols * q.bits;
  if (packedAxis % 32 !== 0 || (rows * q.bits) % 32 !== 0) {
    throw new UnsupportedModelError(
      `${base} is [${rows}, ${cols}]; ${q.method} at ${q.bits} bits packs whole 32-bit words, so K and N must be multiples of ${32 / gcd(q.bits, 32)}`,
      dir,
    );
  }
  const dtype: GroupDtype | undefined = groupDtypeFor(q.bits, cols, groupSize);
  if (dtype === undefined) {
    throw new UnsupportedModelError(
      `${base} has ${cols} input features in groups of ${groupSize}; the kernels need both to be multiples of 32`,
      dir,
    );
  }
  const shapes = q.method === 'awq' ? awqShapes(rows, cols, groupSize) : gptqShapes(q.bits, rows, cols, groupSize);
  const qweight = require('qweight', INT_WORDS, shapes.qweight);
  const qzeros = require('qzeros', INT_WORDS, shapes.qzeros);
  const scales = require('scales', ['F16'], shapes.scales);
  const gIdx = q.method === 'gptq' ? find(`${base}.g_idx`) : undefined;
  if (gIdx !== undefined) require('g_idx', ['I32', 'I64'], [cols]);
  const inputOrder = gIdx === undefined ? undefined : await actOrder(gIdx, cols, groupSize, `${base}.g_idx`);
  const words = async (t: LocatedTensor) => {
    const b = await t.readBytes();
    return new Int32Array(b.buffer, b.byteOffset, b.byteLength / 4);
  };
  return {
    info: { name, dtype, shape, byteLength: byteLengthOf(elementType(dtype), rows * cols), ...(inputOrder ? { inputOrder } : {}) },
    read: async () => {
      const s = await scales.readBytes();
      const tensors = { qweight: await words(qweight), qzeros: await words(qzeros), scales: new Uint16Array(s.buffer, s.byteOffset, s.byteLength / 2) };
      const layer: UnpackedLinear =
        q.method === 'awq'
          ? unpackAwq(tensors, rows, cols, groupSize)
          : unpackGptq(tensors, q.bits, rows, cols, groupSize, q.checkpointFormat);
      checkScales(layer, base, dir);
      return toGroupBlocks(inputOrder ? reorderInputs(layer, inputOrder) : layer, dtype);
    },
  };
}

/**
 * The input order of an act-order layer, or undefined when g_idx is k / groupSize. Act-order
 * (`desc_act`) quantizes the inputs in the order of the Hessian's diagonal, g at a time, so group
 * j holds g inputs scattered over K. Sorting the columns by group (stably) makes every group one
 * run of g again, which the group types hold; x is then gathered in the same order before the
 * product (exllama's q_perm). Refuses a g_idx whose groups are not g inputs each (the last one
 * the rest), which no GPTQ quantizer writes.
 */
async function actOrder(t: LocatedTensor, cols: number, groupSize: number, name: string): Promise<Uint32Array | undefined> {
  const b = await t.readBytes();
  const wide = t.entry.dtype === 'I64';
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const groups = Math.ceil(cols / groupSize);
  const g = Int32Array.from({ length: cols }, (_, k) => (wide ? Number(view.getBigInt64(8 * k, true)) : view.getInt32(4 * k, true)));
  if (g.every((v, k) => v === Math.floor(k / groupSize))) return undefined;
  const counts = new Array<number>(groups).fill(0);
  for (let k = 0; k < cols; k++) {
    const v = g[k]!;
    if (!(v >= 0 && v < groups)) {
      throw new UnsupportedModelError(`${name}[${k}] is ${v}, outside the ${groups} groups of ${groupSize} inputs`, t.path);
    }
    counts[v]!++;
  }
  const bad = counts.findIndex((c, j) => c !== Math.min(groupSize, cols - j * groupSize));
  if (bad >= 0) {
    throw new UnsupportedModelError(
      `${name} puts ${counts[bad]} inputs in group ${bad}, not ${Math.min(groupSize, cols - bad * groupSize)}: not a grouping GPTQ writes (with or without desc_act)`,
      t.path,
    );
  }
  // A counting sort: stable, so inputs keep their order inside a group.
  const next = Array.from({ length: groups }, (_, j) => j * groupSize);
  const order = new Uint32Array(cols);
  for (let k = 0; k < cols; k++) order[next[g[k]!]!++] = k;
  return order;
}

/** A NaN or infinite scale would poison every product; refuse it with the layer's name. */
function checkScales(l: UnpackedLinear, base: string, dir: string): void {
  for (let i = 0; i < l.scales.length; i++) {
    if (!Number.isFinite(f16BitsToF32(l.scales[i]!))) {
      throw new HfFormatError(dir, 'tensor-shape', `${base}.scales holds a non-finite scale at ${i}`);
    }
  }
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}
