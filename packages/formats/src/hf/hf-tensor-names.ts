const layerParts: ReadonlyArray<readonly [hf: string, gguf: string]> = [
  ['self_attn.q_proj.weight', 'attn_q.weight'],
  ['self_attn.q_proj.bias', 'attn_q.bias'],
  ['self_attn.k_proj.weight', 'attn_k.weight'],
  ['self_attn.k_proj.bias', 'attn_k.bias'],
  ['self_attn.v_proj.weight', 'attn_v.weight'],
  ['self_attn.v_proj.bias', 'attn_v.bias'],
  ['self_attn.o_proj.weight', 'attn_output.weight'],
  ['mlp.gate_proj.weight', 'ffn_gate.weight'],
  ['mlp.up_proj.weight', 'ffn_up.weight'],
  ['mlp.down_proj.weight', 'ffn_down.weight'],
  ['input_layernorm.weight', 'attn_norm.weight'],
  ['post_attention_layernorm.weight', 'ffn_norm.weight'],
];
const globalNames: ReadonlyArray<readonly [hf: string, gguf: string]> = [
  ['model.embed_tokens.weight', 'token_embd.weight'],
  ['model.norm.weight', 'output_norm.weight'],
  ['lm_head.weight', 'output.weight'],
];

const hfToGgufLayer = new Map(layerParts);
const ggufToHfLayer = new Map(layerParts.map(([hf, gguf]) => [gguf, hf]));
const hfToGgufGlobal = new Map(globalNames);
const ggufToHfGlobal = new Map(globalNames.map(([hf, gguf]) => [gguf, hf]));

/** GGUF name of a Hugging Face Llama/Qwen2 tensor, or undefined for tensors the model does not use (e.g. rotary_emb.inv_freq). */
export function ggufNameOf(hfName: string): string | undefined {
  const global = hfToGgufGlobal.get(hfName);
  if (global !== undefined) return global;
  const match = /^model\.layers\.(\d+)\.(.+)$/.exec(hfName);
  if (match === null) return undefined;
  const part = hfToGgufLayer.get(match[2]!);
  return part === undefined ? undefined : `blk.${Number(match[1])}.${part}`;
}

/** Hugging Face name of a GGUF llama tensor, or undefined when Hugging Face Llama has no such tensor. */
export function hfNameOf(ggufName: string): string | undefined {
  const global = ggufToHfGlobal.get(ggufName);
  if (global !== undefined) return global;
  const match = /^blk\.(\d+)\.(.+)$/.exec(ggufName);
  if (match === null) return undefined;
  const part = ggufToHfLayer.get(match[2]!);
  return part === undefined ? undefined : `model.layers.${Number(match[1])}.${part}`;
}
