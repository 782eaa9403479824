/**
 * `npm run bench`: prints `BENCH <name> <value> <unit>` lines. Each figure is the median of several rounds, and
 * each is set against a baseline measured in the same run on the same machine (the machine is shared and noisy).
 */
import { propagationBench } from './delist-propagation.js';

const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const results = await propagationBench({ rounds, requests: Number(process.env.BENCH_REQUESTS ?? 200) });
for (const [name, value, unit] of results) process.stdout.write(`BENCH ${name} ${value} ${unit}\n`);
process.exit(0);
