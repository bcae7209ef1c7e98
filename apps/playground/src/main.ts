// The page: model picking and caching, the chat, and the inside view. Every number it draws comes
// from the engine's worker (or, in remote mode, from the server's stream); it computes none itself.
import { loadState, saveState, type StoredState } from './chat-store.js';
import { renderMarkdown } from './markdown.js';
import { cachedModelFiles, cacheModel, deleteCachedModel, listCachedModels, modelCacheAvailable } from './model-cache.js';
import { classifyModelFiles, droppedFiles, pickedFromInput, type PickedFile } from './model-files.js';
import { BatchTimeline } from './panels/batch-timeline.js';
import { KvBlockMap } from './panels/kv-block-map.js';
import { RooflineChart } from './panels/roofline-chart.js';
import type { ChatTurn, FromWorker, ModelFiles, ModelInfo, PromptInput, RequestMetrics, ResponseFormat, SamplingSettings, ToWorker } from './protocol.js';
import { streamRemoteChat, remoteModels, type RemoteTarget } from './remote-client.js';

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const element = document.getElementById(id);
  if (!element) throw new Error(`the page has no #${id}`);
  return element as T;
};
const input = (id: string) => $<HTMLInputElement>(id);

// ---- state ----------------------------------------------------------------------------------

type Mode = 'local' | 'remote';
let mode: Mode = 'local';
let turns: ChatTurn[] = [];
let modelInfo: ModelInfo | undefined;
let running: { id: string; stop: () => void } | undefined;
let nextRequest = 0;
const pending = new Map<string, { onDelta: (index: number, text: string) => void; resolve: (m: RequestMetrics | undefined) => void; reject: (e: Error) => void }>();

const kvMap = new KvBlockMap($('kv-map'));
const timeline = new BatchTimeline($('batch-timeline'));
const roofline = new RooflineChart($('roofline'));

// ---- the worker -----------------------------------------------------------------------------

let worker: Worker | undefined;

function engineWorker(): Worker {
  if (worker) return worker;
  worker = new Worker(new URL('./engine-worker.ts', import.meta.url), { type: 'module' });
  worker.addEventListener('message', (event: MessageEvent<FromWorker>) => onWorkerMessage(event.data));
  worker.addEventListener('error', (event) => setLoadStatus(`the engine worker failed: ${event.message}`, true));
  return worker;
}

function send(message: ToWorker): void {
  engineWorker().postMessage(message);
}

function onWorkerMessage(message: FromWorker): void {
  switch (message.type) {
    case 'progress':
      showProgress(message.phase, message.done, message.total);
      break;
    case 'ready':
      modelInfo = message.info;
      showModelInfo(message.info);
      kvMap.reset(message.info.numBlocks);
      timeline.reset();
      roofline.reset();
      $('profile').toggleAttribute('disabled', !message.info.timestampQuery);
      $('profile').title = message.info.timestampQuery ? '' : "this adapter has no timestamp-query: steps are plotted at wall time";
      setLoadStatus(`ready: ${message.info.name} on ${message.info.adapter}`);
      document.body.dataset['model'] = 'ready';
      break;
    case 'roofline':
      roofline.setRoof(message.roof);
      document.body.dataset['roofline'] = 'measured';
      break;
    case 'step':
      kvMap.update(message.step);
      timeline.update(message.step);
      roofline.update(message.step);
      break;
    case 'delta':
      pending.get(message.id)?.onDelta(message.index, message.text);
      break;
    case 'done':
      pending.get(message.id)?.resolve(message.metrics);
      pending.delete(message.id);
      break;
    case 'error':
      if (message.id !== undefined && pending.has(message.id)) {
        pending.get(message.id)!.reject(new Error(message.message));
        pending.delete(message.id);
      } else {
        setLoadStatus(message.message, true);
        showProgress('', 0, 1);
      }
      break;
    case 'profile':
      showKernelTimes(message);
      break;
  }
}

/** One request to the in-browser engine; resolves with its metrics when it finishes. */
function generateLocal(prompt: PromptInput, sampling: SamplingSettings, n: number, onDelta: (index: number, text: string) => void) {
  const id = `r${nextRequest++}`;
  const done = new Promise<RequestMetrics | undefined>((resolve, reject) => pending.set(id, { onDelta, resolve, reject }));
  send({ type: 'generate', id, prompt, sampling, n });
  return { id, done, stop: () => send({ type: 'stop', id }) };
}

// ---- model loading --------------------------------------------------------------------------

function setLoadStatus(text: string, problem = false): void {
  const status = $('load-status');
  status.textContent = text;
  status.classList.toggle('problem', problem);
}

function showProgress(phase: string, done: number, total: number): void {
  const bar = $<HTMLProgressElement>('load-progress');
  bar.max = Math.max(1, total);
  bar.value = done;
  if (phase !== '') setLoadStatus(`${phase}${total > 1 ? ` (${Math.round((100 * done) / total)}%)` : '…'}`);
}

function showModelInfo(info: ModelInfo): void {
  const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
  const rows: [string, string][] = [
    ['model', `${info.name} (${info.format})`],
    ['shape', `${info.numLayers} layers, dim ${info.dim}, vocab ${info.vocabSize}`],
    ['weights', mib(info.weightBytes)],
    ['context', `${info.contextLength} tokens`],
    ['KV pool', `${info.numBlocks} blocks of ${info.blockSize} tokens, ${mib(info.kvPoolBytes)}`],
    ['chat template', info.chatTemplate],
    ['adapter', info.adapter],
    ['features', info.features.join(', ') || 'none'],
  ];
  $('model-info').replaceChildren(
    ...rows.flatMap(([k, v]) => {
      const dt = document.createElement('dt');
      dt.textContent = k;
      const dd = document.createElement('dd');
      dd.textContent = v;
      return [dt, dd];
    }),
  );
}

async function loadModel(files: ModelFiles, cache: boolean): Promise<void> {
  document.body.dataset['model'] = 'loading';
  modelInfo = undefined;
  if (cache && files.kind !== 'url' && modelCacheAvailable() && input('keep-cached').checked) {
    try {
      await cacheModel(files, (done, total) => showProgress('storing in the browser cache', done, total));
      await refreshCacheList();
    } catch (error) {
      // A full quota only loses the cache, not the model.
      setLoadStatus(`not cached (${(error as Error).message}); loading anyway`);
    }
  }
  send({ type: 'load', files });
}

async function loadPicked(files: readonly PickedFile[]): Promise<void> {
  try {
    await loadModel(classifyModelFiles(files), true);
  } catch (error) {
    setLoadStatus((error as Error).message, true);
  }
}

async function refreshCacheList(): Promise<void> {
  const list = $('cache-list');
  const models = await listCachedModels();
  if (models.length === 0) {
    const empty = document.createElement('li');
    empty.textContent = modelCacheAvailable() ? 'none yet' : 'this browser has no Cache Storage here';
    list.replaceChildren(empty);
    return;
  }
  list.replaceChildren(
    ...models.map((m) => {
      const item = document.createElement('li');
      item.textContent = `${m.name} (${(m.bytes / 2 ** 20).toFixed(1)} MiB) `;
      const load = document.createElement('button');
      load.type = 'button';
      load.textContent = 'Load';
      load.setAttribute('aria-label', `Load ${m.name}`);
      load.addEventListener('click', () => void cachedModelFiles(m).then((files) => loadModel(files, false), (e: Error) => setLoadStatus(e.message, true)));
      const remove = document.createElement('button');
      remove.type = 'button';
      remove.textContent = 'Delete';
      remove.setAttribute('aria-label', `Delete ${m.name} from the browser cache`);
      remove.addEventListener('click', () => void deleteCachedModel(m).then(refreshCacheList));
      item.append(load, remove);
      return item;
    }),
  );
}

// ---- WebGPU availability --------------------------------------------------------------------

async function checkWebGpu(): Promise<void> {
  const status = $('webgpu-status');
  const gpu = (navigator as { gpu?: GPU }).gpu;
  const adapter = gpu ? await gpu.requestAdapter().catch(() => null) : null;
  if (!adapter) {
    status.textContent = gpu
      ? 'WebGPU is present but gives no adapter here: use remote mode against a running llm serve'
      : 'This browser has no WebGPU: use remote mode against a running llm serve';
    status.classList.add('problem');
    input('mode-local').disabled = true;
    setMode('remote');
    return;
  }
  const f16 = adapter.features.has('shader-f16');
  status.textContent = `WebGPU ready${f16 ? '' : ' (no shader-f16: f16 weights are read as packed pairs and computed in f32; remote mode is the other way)'}`;
}

// ---- chat -----------------------------------------------------------------------------------

function sampling(): SamplingSettings {
  const number = (id: string, fallback: number) => {
    const value = input(id).valueAsNumber;
    return Number.isFinite(value) ? value : fallback;
  };
  const seed = input('seed').value.trim();
  return {
    temperature: number('temperature', 0.8),
    topP: number('top-p', 1),
    topK: Math.round(number('top-k', 0)),
    minP: number('min-p', 0),
    maxTokens: Math.max(1, Math.round(number('max-tokens', 256))),
    seed: seed === '' ? undefined : Number(seed),
    responseFormat: responseFormat($<HTMLSelectElement>('response-format').value),
    jsonSchema: $<HTMLTextAreaElement>('json-schema').value,
  };
}

function responseFormat(value: string | undefined): ResponseFormat {
  return value === 'json_object' || value === 'json_schema' ? value : 'text';
}

function promptMode(): 'chat' | 'text' {
  return $<HTMLSelectElement>('prompt-mode').value === 'text' ? 'text' : 'chat';
}

function renderTranscript(): void {
  const transcript = $('transcript');
  transcript.replaceChildren(
    ...turns.map((turn, i) => {
      const box = document.createElement('article');
      box.className = `message ${turn.role}`;
      box.dataset['index'] = String(i);
      const head = document.createElement('div');
      head.className = 'role';
      head.textContent = turn.role === 'user' ? 'you' : 'model';
      if (turn.role === 'user') {
        const edit = document.createElement('button');
        edit.type = 'button';
        edit.textContent = 'Edit';
        edit.setAttribute('aria-label', 'Edit this message and resend');
        edit.addEventListener('click', () => editTurn(i));
        head.append(edit);
      }
      const content = document.createElement('div');
      fillContent(content, turn);
      box.append(head, content);
      return box;
    }),
  );
  transcript.scrollTop = transcript.scrollHeight;
}

function fillContent(content: HTMLElement, turn: ChatTurn): void {
  // Raw-text continuations are shown exactly as generated; chat replies as sanitised Markdown.
  if (turn.role === 'assistant' && promptMode() === 'chat') {
    content.className = 'content markdown';
    content.innerHTML = renderMarkdown(turn.content);
  } else {
    content.className = 'content plain';
    content.textContent = turn.content;
  }
}

function updateLastTurn(): void {
  const boxes = $('transcript').querySelectorAll<HTMLElement>('.message');
  const last = boxes[boxes.length - 1];
  const turn = turns[turns.length - 1];
  if (!last || !turn) return renderTranscript();
  fillContent(last.querySelector('.content')!, turn);
  $('transcript').scrollTop = $('transcript').scrollHeight;
}

function editTurn(index: number): void {
  if (running) return;
  $<HTMLTextAreaElement>('prompt').value = turns[index]!.content;
  turns = turns.slice(0, index);
  renderTranscript();
  persist();
  $('prompt').focus();
}

function setRunning(value: typeof running): void {
  running = value;
  $<HTMLButtonElement>('stop').disabled = value === undefined;
  $<HTMLButtonElement>('send').disabled = value !== undefined;
  $<HTMLButtonElement>('regenerate').disabled = value !== undefined;
  document.body.dataset['generating'] = value === undefined ? 'no' : 'yes';
}

function chatMessages(): ChatTurn[] {
  const system = $<HTMLTextAreaElement>('system-prompt').value.trim();
  const history = turns.slice(0, -1);
  return system === '' ? history : [{ role: 'system', content: system }, ...history];
}

/** Generates the reply in the last (assistant) turn. */
async function generateReply(): Promise<void> {
  const settings = sampling();
  const started = performance.now();
  const tokenTimes: number[] = [];
  const append = (text: string) => {
    if (text === '') return;
    tokenTimes.push(performance.now());
    const last = turns[turns.length - 1]!;
    turns[turns.length - 1] = { role: 'assistant', content: last.content + text };
    updateLastTurn();
  };
  try {
    if (mode === 'local') {
      if (!modelInfo) throw new Error('load a model first (or switch to remote mode)');
      const lastUser = turns[turns.length - 2];
      const prompt: PromptInput = promptMode() === 'text' ? { kind: 'text', text: lastUser?.content ?? '' } : { kind: 'chat', messages: chatMessages() };
      const request = generateLocal(prompt, settings, 1, (index, text) => index === 0 && append(text));
      setRunning({ id: request.id, stop: request.stop });
      const metrics = await request.done;
      if (metrics) addMetricsRow(request.id, metrics);
    } else {
      const controller = new AbortController();
      const id = `remote ${nextRequest++}`;
      setRunning({ id, stop: () => controller.abort() });
      const usage = await streamRemoteChat(remoteTarget(), chatMessages(), settings, 1, (d) => d.index === 0 && append(d.text), controller.signal).catch((error: unknown) => {
        if (controller.signal.aborted) return { completionTokens: undefined, promptTokens: undefined };
        throw error;
      });
      addMetricsRow(id, remoteMetrics(started, tokenTimes, usage));
    }
  } catch (error) {
    const last = turns[turns.length - 1]!;
    turns[turns.length - 1] = { role: 'assistant', content: `${last.content}\n\n[error: ${(error as Error).message}]` };
    updateLastTurn();
  } finally {
    setRunning(undefined);
    persist();
  }
}

/** What the page saw of a remote stream: times are when each delta arrived, so a server's batching of events shows. */
function remoteMetrics(
  started: number,
  times: readonly number[],
  { completionTokens, promptTokens }: { completionTokens: number | undefined; promptTokens: number | undefined },
): RequestMetrics {
  const first = times[0];
  const last = times[times.length - 1];
  const gaps = times.length > 1 ? (last! - first!) / (times.length - 1) : undefined;
  const tokens = completionTokens ?? times.length;
  return {
    promptTokens: promptTokens ?? Number.NaN,
    completionTokens: tokens,
    cachedPromptTokens: Number.NaN,
    ttftMs: first === undefined ? undefined : first - started,
    itlMs: gaps,
    tokensPerSecond: first !== undefined && last! > first ? ((times.length - 1) * 1000) / (last! - first) : undefined,
    totalMs: performance.now() - started,
  };
}

function addMetricsRow(id: string, m: RequestMetrics): void {
  const cell = (value: number | undefined, digits = 1) =>
    value === undefined || Number.isNaN(value) ? '–' : Number.isInteger(value) ? String(value) : value.toFixed(digits);
  const row = document.createElement('tr');
  for (const text of [id, cell(m.promptTokens), cell(m.cachedPromptTokens), cell(m.completionTokens), cell(m.ttftMs), cell(m.itlMs), cell(m.tokensPerSecond)]) {
    const td = document.createElement('td');
    td.textContent = text;
    row.append(td);
  }
  const body = $('request-metrics').querySelector('tbody')!;
  body.prepend(row);
  while (body.children.length > 20) body.lastElementChild!.remove();
}

function submit(): void {
  if (running) return;
  const box = $<HTMLTextAreaElement>('prompt');
  const text = box.value;
  if (text.trim() === '' && promptMode() === 'chat') return;
  box.value = '';
  turns.push({ role: 'user', content: text }, { role: 'assistant', content: '' });
  renderTranscript();
  void generateReply();
}

function regenerate(): void {
  if (running || turns.length < 2 || turns[turns.length - 1]!.role !== 'assistant') return;
  turns[turns.length - 1] = { role: 'assistant', content: '' };
  renderTranscript();
  void generateReply();
}

// ---- the batch demo -------------------------------------------------------------------------

const DEMO_SYSTEM =
  'You are a storyteller. Every story is short, kind and simple, about animals and children who play in the park on a sunny day.';
const DEMO_QUESTIONS = ['Tell me a story about a cat.', 'Tell me a story about a big red ball.', 'Tell me a story about a little bird.'];

/**
 * Several requests at once: one asks for four samples (n = 4: one prompt, four sequences on shared
 * blocks until each copies its last block on write); two more share its system prompt and join
 * the running batch a step later, hitting the prefix cache.
 */
async function batchDemo(): Promise<void> {
  if (mode !== 'local' || !modelInfo) {
    setLoadStatus('the batch demo runs on the in-browser engine: load a model first', true);
    return;
  }
  const settings = { ...sampling(), temperature: 0.8, maxTokens: 48, seed: 1, responseFormat: 'text' as const };
  const messages = (q: string): PromptInput => ({
    kind: 'chat',
    messages: [
      { role: 'system', content: DEMO_SYSTEM },
      { role: 'user', content: q },
    ],
  });
  const button = $<HTMLButtonElement>('batch-demo');
  button.disabled = true;
  document.body.dataset['demo'] = 'running';
  try {
    const first = generateLocal(messages(DEMO_QUESTIONS[0]!), settings, 4, () => {});
    await new Promise((resolve) => setTimeout(resolve, 50));
    const rest = DEMO_QUESTIONS.slice(1).map((q) => generateLocal(messages(q), settings, 1, () => {}));
    const all = [first, ...rest];
    const metrics = await Promise.all(all.map((r) => r.done));
    metrics.forEach((m, i) => m && addMetricsRow(`${all[i]!.id}${i === 0 ? ' (n=4)' : ''}`, m));
  } finally {
    button.disabled = false;
    document.body.dataset['demo'] = 'done';
  }
}

function showKernelTimes(profile: { kernels: readonly { kind: string; msPerStep: number; share: number }[]; steps: number; gpuMsPerStep: number }): void {
  const body = $('kernel-times').querySelector('tbody')!;
  const head = document.createElement('tr');
  head.innerHTML = '<th>kernel (GPU timestamps)</th><th>ms/step</th><th>share</th>';
  body.replaceChildren(
    head,
    ...profile.kernels.map((k) => {
      const row = document.createElement('tr');
      for (const text of [k.kind, k.msPerStep.toFixed(3), `${(100 * k.share).toFixed(1)}%`]) {
        const td = document.createElement('td');
        td.textContent = text;
        row.append(td);
      }
      return row;
    }),
  );
}

// ---- remote ---------------------------------------------------------------------------------

function remoteTarget(): RemoteTarget {
  return { baseUrl: input('remote-url').value.trim() || location.origin, apiKey: input('remote-key').value, model: input('remote-model').value.trim() };
}

function setMode(next: Mode): void {
  mode = next;
  input(next === 'local' ? 'mode-local' : 'mode-remote').checked = true;
  $('local-panel').hidden = next !== 'local';
  $('remote-panel').hidden = next !== 'remote';
  $<HTMLButtonElement>('batch-demo').disabled = next !== 'local';
  $('remote-note').hidden = next !== 'remote';
  document.body.dataset['mode'] = next;
}

// ---- persistence ----------------------------------------------------------------------------

function persist(): void {
  const state: StoredState = {
    turns,
    systemPrompt: $<HTMLTextAreaElement>('system-prompt').value,
    sampling: sampling(),
    promptMode: promptMode(),
    remote: { baseUrl: input('remote-url').value, apiKey: input('remote-key').value, model: input('remote-model').value },
  };
  void saveState(state);
}

async function restore(): Promise<void> {
  const state = await loadState();
  if (!state) return;
  turns = [...(state.turns ?? [])];
  // A reply cut off by a reload stays as far as it got.
  if (state.systemPrompt !== undefined) $<HTMLTextAreaElement>('system-prompt').value = state.systemPrompt;
  if (state.promptMode) $<HTMLSelectElement>('prompt-mode').value = state.promptMode;
  const s = state.sampling;
  if (s) {
    input('temperature').value = String(s.temperature);
    input('top-p').value = String(s.topP);
    input('top-k').value = String(s.topK);
    input('min-p').value = String(s.minP);
    input('max-tokens').value = String(s.maxTokens);
    input('seed').value = s.seed === undefined ? '' : String(s.seed);
    $<HTMLSelectElement>('response-format').value = responseFormat(s.responseFormat);
    $<HTMLTextAreaElement>('json-schema').value = s.jsonSchema ?? '';
  }
  if (state.remote) {
    input('remote-url').value = state.remote.baseUrl;
    input('remote-key').value = state.remote.apiKey;
    input('remote-model').value = state.remote.model;
  }
  renderTranscript();
}

// ---- wiring ---------------------------------------------------------------------------------

function wire(): void {
  input('mode-local').addEventListener('change', () => setMode('local'));
  input('mode-remote').addEventListener('change', () => setMode('remote'));
  input('model-input').addEventListener('change', (e) => {
    const list = (e.target as HTMLInputElement).files;
    if (list && list.length > 0) void loadPicked(pickedFromInput(list));
  });
  input('folder-input').addEventListener('change', (e) => {
    const list = (e.target as HTMLInputElement).files;
    if (list && list.length > 0) void loadPicked(pickedFromInput(list));
  });
  const drop = $('drop-zone');
  drop.addEventListener('dragover', (e) => {
    e.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  // The drop zone is focusable: Enter or Space opens the file picker, for keyboard users.
  drop.addEventListener('keydown', (e) => {
    if (e.target === drop && (e.key === 'Enter' || e.key === ' ')) {
      e.preventDefault();
      input('model-input').click();
    }
  });
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    if (e.dataTransfer) void droppedFiles(e.dataTransfer.items).then(loadPicked);
  });
  $('load-url').addEventListener('click', () => {
    const url = input('model-url').value.trim();
    if (url === '') return setLoadStatus('give the URL of a model file', true);
    const tokenizerUrl = input('tokenizer-url').value.trim();
    const name = decodeURIComponent(new URL(url, location.href).pathname.split('/').pop() || 'model');
    void loadModel({ kind: 'url', name, url, ...(tokenizerUrl === '' ? {} : { tokenizerUrl }) }, false);
  });
  $('composer').addEventListener('submit', (e) => {
    e.preventDefault();
    submit();
  });
  $('prompt').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      submit();
    }
  });
  $('stop').addEventListener('click', () => running?.stop());
  $('regenerate').addEventListener('click', regenerate);
  $('clear').addEventListener('click', () => {
    if (running) return;
    turns = [];
    renderTranscript();
    persist();
  });
  $('batch-demo').addEventListener('click', () => void batchDemo());
  $('profile').addEventListener('click', () => send({ type: 'profile', steps: 8 }));
  $('remote-connect').addEventListener('click', () => {
    const status = $('remote-status');
    status.textContent = 'connecting…';
    remoteModels(remoteTarget()).then(
      (models) => {
        status.textContent = `connected: ${models.join(', ') || 'no models listed'}`;
        persist();
      },
      (error: Error) => (status.textContent = error.message),
    );
  });
  for (const id of ['system-prompt', 'prompt-mode', 'temperature', 'top-p', 'top-k', 'min-p', 'max-tokens', 'seed']) {
    $(id).addEventListener('change', () => {
      if (id === 'prompt-mode') renderTranscript();
      persist();
    });
  }
}

input('remote-url').value = location.origin;
setMode('local');
setRunning(undefined);
wire();
await restore();
await refreshCacheList();
await checkWebGpu();
document.body.dataset['page'] = 'ready';
