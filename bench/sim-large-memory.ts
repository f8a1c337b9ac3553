// Memory and start-time check for the `large` simulator (~1M tests).
//   node --import tsx bench/sim-large-memory.ts [--size large] [--seed 1]
// Starts the simulator in a child process (so the figures are the server's alone), then over HTTP: gets a
// token, reads the LAST page of tests (by id, and by last_updated which needs a sort), a filtered page, a
// detail and an ids-only Updates feed, advances 24 h and reads the last page again. Prints the child's RSS after
// each step and its start time. The target is RSS < 300 MB and a start of a few seconds.

import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const SECRET = 'bench-secret';
const CLIENT = 'bench-client';

interface Ready {
  type: 'ready';
  url: string;
  startMs: number;
  rss: number;
  tests: number;
}

async function child(): Promise<void> {
  const { startSimulator } = await import('../sim/index.js');
  const size = (process.env.SIM_SIZE ?? 'large') as 'large';
  const seed = Number(process.env.SIM_SEED ?? 1);
  const t0 = performance.now();
  const sim = await startSimulator({ size, seed, clientId: CLIENT, clientSecret: SECRET, rateLimit: { enabled: false } });
  const startMs = performance.now() - t0;
  const send = (m: unknown): void => void process.send!(m);
  send({ type: 'ready', url: sim.url, startMs, rss: process.memoryUsage().rss, tests: sim.truth.count('test') } satisfies Ready);
  process.on('message', (m: { type: string }) => {
    if (m.type === 'rss') send({ type: 'rss', rss: process.memoryUsage().rss });
    if (m.type === 'stop') void sim.close().then(() => process.exit(0));
  });
}

async function parent(): Promise<void> {
  const args = process.argv.slice(2);
  const arg = (name: string, def: string): string => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : def;
  };
  const size = arg('size', 'large');
  const seed = arg('seed', '1');
  const { signAssertion } = await import('../sim/index.js');
  const spawnAt = performance.now();
  const proc = fork(fileURLToPath(import.meta.url), ['--child'], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, SIM_SIZE: size, SIM_SEED: seed },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const nextMessage = <T>(type: string): Promise<T> =>
    new Promise((resolve) => {
      const on = (m: { type: string }): void => {
        if (m.type === type) {
          proc.off('message', on);
          resolve(m as T);
        }
      };
      proc.on('message', on);
    });
  const ready = await nextMessage<Ready>('ready');
  const spawnToReady = performance.now() - spawnAt;
  const mb = (b: number): string => `${(b / 1024 / 1024).toFixed(0)} MB`;
  const rss = async (): Promise<number> => {
    proc.send({ type: 'rss' });
    return (await nextMessage<{ rss: number }>('rss')).rss;
  };

  console.log(`simulator size=${size} seed=${seed}: ${ready.tests.toLocaleString('en-US')} tests`);
  console.log(`  start (startSimulator, generation + history replay): ${(ready.startMs / 1000).toFixed(2)} s`);
  console.log(`  spawn to listening (incl. node + tsx start):         ${(spawnToReady / 1000).toFixed(2)} s`);
  console.log(`  RSS after start:                                      ${mb(ready.rss)}`);

  const tokenRes = await fetch(`${ready.url}/qbench/oauth2/v1/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion: signAssertion(CLIENT, SECRET) }),
  });
  const { access_token: token } = (await tokenRes.json()) as { access_token: string };
  type Reply = { total_pages?: number; data?: { id: number }[]; updated?: unknown[]; id?: number };
  const get = async (path: string): Promise<{ ms: number; json: Reply }> => {
    const t = performance.now();
    const res = await fetch(`${ready.url}/qbench/api/v1/${path}`, { headers: { authorization: `Bearer ${token}` } });
    if (res.status !== 200) throw new Error(`${path}: ${res.status} ${await res.text()}`);
    const json = (await res.json()) as Reply;
    return { ms: performance.now() - t, json };
  };
  let peak = ready.rss;
  const step = async (label: string, path: string): Promise<void> => {
    const r = await get(path);
    const now = await rss();
    peak = Math.max(peak, now);
    const detail = r.json.data
      ? `${r.json.data.length} items, last id ${r.json.data.at(-1)?.id}`
      : r.json.updated
        ? `${r.json.updated.length} ids`
        : `id ${r.json.id}`;
    console.log(`  ${label.padEnd(44)} ${r.ms.toFixed(0).padStart(5)} ms  RSS ${mb(now)}  (${detail})`);
  };

  const first = await get('test?page_size=50&include_raw_worksheet_data=true');
  const last = first.json.total_pages!;
  await step(`last test page (${last}), sort by id`, `test?page_size=50&page_num=${last}&include_raw_worksheet_data=true`);
  await step('last test page, sort_by=last_updated desc', `test?page_size=50&page_num=${last}&sort_by=last_updated&sort_order=desc`);
  await step('test page filtered by customer_ids', 'test?page_size=50&customer_ids=1&customer_ids=2&page_num=3');
  await step('test detail', `test/${ready.tests}`);
  await step('updates/test since 7 days (ids only)', `updates/test/${Math.floor(Date.parse('2026-11-13T12:00:00Z') / 1000)}`);
  const adv = await fetch(`${ready.url}/_sim/advance`, { method: 'POST', body: JSON.stringify({ hours: 24 }) });
  console.log(`  advance 24 h: ${JSON.stringify(await adv.json())}`);
  await step('last test page after advance', `test?page_size=50&page_num=${last}`);
  console.log(`  peak RSS: ${mb(peak)} (target < 300 MB) -> ${peak < 300 * 1024 * 1024 ? 'OK' : 'OVER'}`);
  proc.send({ type: 'stop' });
  await new Promise((r) => proc.once('exit', r));
  if (peak >= 300 * 1024 * 1024) process.exitCode = 1;
}

if (process.argv.includes('--child')) await child();
else await parent();
