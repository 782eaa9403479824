import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';

/**
 * The portal's own Lua scripts, one `.lua` file each in ./scripts, named `<command>-<number of keys>.lua` as BullMQ
 * names its own. `defineScripts` makes each a command of a connection (ioredis sends EVALSHA and loads the script on
 * NOSCRIPT). Today there is one: the rate-limit give-back of src/http/rate-limit.ts.
 */
const DIR = fileURLToPath(new URL('./scripts/', import.meta.url));

export const SCRIPTS = readdirSync(DIR)
  .filter((f) => f.endsWith('.lua'))
  .map((file) => {
    const m = /^([a-zA-Z]+)-(\d+)\.lua$/.exec(file);
    if (!m) throw new Error(`src/redis/scripts/${file}: a script's file is named <command>-<number of keys>.lua`);
    return { name: m[1]!, numberOfKeys: Number(m[2]), lua: readFileSync(DIR + file, 'utf8') };
  });

export interface ScriptCommands {
  giveBack(key: string): Promise<number>;
}

/** The connection with the portal's scripts as commands (idempotent: a command already defined is kept). */
export function defineScripts(redis: Redis): Redis & ScriptCommands {
  for (const s of SCRIPTS) if (!(s.name in redis)) redis.defineCommand(s.name, { numberOfKeys: s.numberOfKeys, lua: s.lua });
  return redis as Redis & ScriptCommands;
}
