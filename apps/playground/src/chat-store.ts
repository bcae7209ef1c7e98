// The conversation and settings survive reloads in IndexedDB.
import { openDB, type IDBPDatabase } from 'idb';
import type { ChatTurn, SamplingSettings } from './protocol.js';

export interface StoredState {
  readonly turns: readonly ChatTurn[];
  readonly systemPrompt: string;
  readonly sampling: SamplingSettings;
  readonly promptMode: 'chat' | 'text';
  readonly remote: { readonly baseUrl: string; readonly apiKey: string; readonly model: string };
}

const DB_NAME = 'llm-playground';
const STORE = 'state';
const KEY = 'current';

let db: Promise<IDBPDatabase> | undefined;

function database(): Promise<IDBPDatabase> {
  db ??= openDB(DB_NAME, 1, {
    upgrade(d) {
      d.createObjectStore(STORE);
    },
  });
  return db;
}

export async function loadState(): Promise<Partial<StoredState> | undefined> {
  try {
    return ((await (await database()).get(STORE, KEY)) as Partial<StoredState> | undefined) ?? undefined;
  } catch {
    // Private windows may refuse IndexedDB: the page works, it just forgets on reload.
    return undefined;
  }
}

export async function saveState(state: StoredState): Promise<void> {
  try {
    await (await database()).put(STORE, state, KEY);
  } catch {
    // As in loadState: nothing to keep it in.
  }
}
