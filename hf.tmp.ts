import { readFileSync } from 'node:fs';
import { openGguf } from './packages/model/src/index.js';
import { tokenizerFromJson } from './packages/model/src/tokenizer/hf-tokenizer.js';
const dir = '/work/shared/models/vocab/';
const f = await openGguf(dir + 'ggml-vocab-gpt-2.gguf');
const tokens = f.metadata.get('tokenizer.ggml.tokens')!.value as string[];
const merges = f.metadata.get('tokenizer.ggml.merges')!.value as string[];
await f.close();
const vocab: Record<string, number> = {};
tokens.forEach((t, i) => { vocab[t] = i; });
const json = {
  version: '1.0',
  added_tokens: [{ id: 50256, content: '<|endoftext|>', single_word: false, lstrip: false, rstrip: false, normalized: true, special: true }],
  normalizer: null,
  pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
  post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
  decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
  model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false, byte_fallback: false, vocab, merges },
};
const t0 = performance.now();
const tok = tokenizerFromJson(json, { bos_token: '<|endoftext|>', eos_token: '<|endoftext|>' });
console.log('load', (performance.now() - t0).toFixed(0));
const raw = readFileSync(dir + 'ggml-vocab-gpt-2.gguf.inp', 'utf8');
const inputs = raw.split('\n__ggml_vocab_test__\n'); inputs.pop();
const outs = readFileSync(dir + 'ggml-vocab-gpt-2.gguf.out', 'utf8').split('\n');
let ok = 0;
inputs.forEach((s, i) => { const exp = outs[i]!.trim()===''?[]:outs[i]!.trim().split(' ').map(Number); const got = tok.encode(s, {addSpecial:false}); if (JSON.stringify(exp)===JSON.stringify(got)) ok++; else console.log('FAIL', JSON.stringify(s), exp.join(' '), '|', got.join(' ')); 
 const d = tok.decode(got, {cleanUpSpaces:false}); if (d !== s) console.log('RT', JSON.stringify(s), JSON.stringify(d)); });
console.log(ok, inputs.length, tok.bosId, tok.eosId, [...tok.eogIds], tok.addBos, tok.vocabSize);
console.log(tok.encode('hi<|endoftext|>'), tok.encode('hi<|endoftext|>', {parseSpecial:true}));
const sd = tok.createStreamDecoder(); console.log(tok.encode('héllo 🦙 world').map(id => JSON.stringify(sd.push(id))).join(','), JSON.stringify(sd.flush()));
