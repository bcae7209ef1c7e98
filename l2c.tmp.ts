import { readFileSync } from 'node:fs';
import { readLlama2cTokenizer } from './packages/model/src/index.js';
import { tokenizerFromLlama2c } from './packages/model/src/tokenizer/llama2c-vocabulary.js';
const dir = '/work/shared/models/';
const t = tokenizerFromLlama2c(await readLlama2cTokenizer(dir + 'llama2/tokenizer.bin'));
const raw = readFileSync(dir + 'vocab/ggml-vocab-llama-spm.gguf.inp', 'utf8');
const inputs = raw.split('\n__ggml_vocab_test__\n'); inputs.pop();
const outs = readFileSync(dir + 'vocab/ggml-vocab-llama-spm.gguf.out', 'utf8').split('\n');
let ok = 0;
inputs.forEach((s, i) => { const exp = outs[i]!.trim()===''?[]:outs[i]!.trim().split(' ').map(Number); const got = t.encode(s, {addSpecial:false}); if (JSON.stringify(exp)===JSON.stringify(got)) ok++; else console.log('FAIL', JSON.stringify(s), exp.join(' '), '|', got.join(' ')); });
console.log('llama2 tokenizer.bin vs llama-spm vectors', ok, inputs.length);
const t5 = tokenizerFromLlama2c(await readLlama2cTokenizer(dir + 'tok512.bin'));
for (const s of ['Once upon a time, there was a little girl named Lily.', 'Hello world', 'héllo ☃ 🦙', 'Lily\'s mom said, "Lily, let\'s go."\n']) {
  const ids = t5.encode(s);
  console.log(JSON.stringify(s), ids.join(' '), JSON.stringify(t5.decode(ids)));
}
