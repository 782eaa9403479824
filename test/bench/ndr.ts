/**
 * The bounce reader (src/domain/ndr.ts) runs on the web role's event loop, so its cost per paste must stay small
 * whatever is pasted. Measured: a typical report (each test/fixtures/ndr text, mean per parse), and the worst shapes
 * of test/unit/ndr.test.ts at the full NDR_MAX_CHARS (100 000 characters, the most a paste is read), each against a
 * baseline on the same input in the same run: `normalize('NFKC')` + `split('\n')` (the least any reader does).
 * Every figure is the median of BENCH_ROUNDS (3) rounds.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { adviseNdr, NDR_MAX_CHARS, parseNdr } from '../../src/domain/ndr.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const round = (x: number, digits = 3) => Math.round(x * 10 ** digits) / 10 ** digits;

function timeMs(fn: () => void, times: number): number {
  const rounds: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < times; i++) fn();
    rounds.push(Number(process.hrtime.bigint() - start) / 1e6 / times);
  }
  return median(rounds);
}

export function ndrBench(): Array<[string, number, string]> {
  const dir = new URL('../fixtures/ndr/', import.meta.url);
  const fixtures = readdirSync(dir).filter((f) => !f.endsWith('.md')).map((f) => readFileSync(new URL(f, dir), 'utf8'));
  const typical = timeMs(() => fixtures.forEach((t) => adviseNdr(parseNdr(t))), 200) / fixtures.length;
  const fill = (unit: string) => unit.repeat(Math.ceil(NDR_MAX_CHARS / unit.length)).slice(0, NDR_MAX_CHARS);
  const shapes: Record<string, string> = {
    codes: fill('550-5.7.606 banned sending IP [198.51.100.23] '),
    dots: fill('5.'),
    colons_hex: fill('a:'),
    folded: `550 5.7.606 x\n${fill('    more text 198.51.100.23\n')}`,
    hosts: fill('host a.b[1.2.3.4] said: '),
    newlines: fill('\n'),
    fullwidth: fill('Ｘ５．'),
    quotes: fill(`550 5.7.606 ${'"'.repeat(1900)}x\n    `),
    brackets: fill(`550 5.7.606 ${'['.repeat(1980)}\n`),
  };
  const rows: Array<[string, number, string]> = [['ndr_typical_parse_ms', round(typical), 'ms']];
  let worst = 0;
  for (const [name, text] of Object.entries(shapes)) {
    const ms = timeMs(() => adviseNdr(parseNdr(text)), 5);
    const base = timeMs(() => text.normalize('NFKC').split('\n'), 5);
    worst = Math.max(worst, ms);
    rows.push([`ndr_100k_${name}_ms`, round(ms), 'ms'], [`ndr_100k_${name}_baseline_ms`, round(base), 'ms']);
  }
  rows.push(['ndr_100k_worst_ms', round(worst), 'ms']);
  return rows;
}
