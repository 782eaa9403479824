import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';

/**
 * Production installs with `npm ci --omit=dev`: every package the code that runs in production loads (src/, worker/,
 * bin/) must be a dependency, not a devDependency. (smtp-server was a devDependency while the smtp role and
 * src/main.ts imported it: `npm run start:smtp` could not start in production.)
 */
const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };

const files = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(path.join(dir, e.name)) : /\.(ts|js|mjs)$/.test(e.name) && !e.name.endsWith('.d.ts') ? [path.join(dir, e.name)] : []));

/** Packages a file loads at run time: `import … from 'x'`, `import 'x'`, `import('x')`, `export … from 'x'`; not `import type`. */
function packagesOf(source: string): string[] {
  const found: string[] = [];
  const statement = /^\s*(import|export)\s+(type\s+)?(?:[^'";]*?\s+from\s+)?['"]([^'"]+)['"]/gm;
  for (const m of source.matchAll(statement)) if (!m[2]) found.push(m[3]!);
  for (const m of source.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) found.push(m[1]!);
  return found
    .filter((s) => !s.startsWith('.') && !s.startsWith('node:') && !builtinModules.includes(s.split('/')[0]!))
    .map((s) => (s.startsWith('@') ? s.split('/').slice(0, 2).join('/') : s.split('/')[0]!));
}

describe('package.json', () => {
  it('lists every package the production code loads under dependencies', () => {
    const missing = new Map<string, string>();
    for (const file of [...files('src'), ...files('worker'), ...files('bin')]) {
      for (const name of packagesOf(readFileSync(file, 'utf8'))) if (!(name in pkg.dependencies) && !name.startsWith('postmaster-portal')) missing.set(name, file);
    }
    assert.deepEqual([...missing].map(([name, file]) => `${name} (${file})${name in pkg.devDependencies ? ' is only a devDependency' : ''}`), []);
  });

  it('finds what it looks for (the scan itself)', () => {
    assert.deepEqual(packagesOf("import { SMTPServer } from 'smtp-server';\nimport type { X } from 'typeonly';\nimport '@scope/pkg/register';\nconst m = await import('late');\nimport fs from 'node:fs';\nimport path from 'path';"), ['smtp-server', '@scope/pkg', 'late']);
  });
});
