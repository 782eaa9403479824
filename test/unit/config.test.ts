import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { ConfigError, describeConfig, isLoopbackHost, loadConfig } from '../../src/config.js';

/** Asserts that loadConfig refuses env with a ConfigError and returns its message. */
function refused(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    assert.equal(err.code, 'CONFIG_INVALID');
    return err.message;
  }
  assert.fail(`expected a ConfigError for ${JSON.stringify(env)}`);
}

const PRODUCTION_OK = {
  NODE_ENV: 'production',
  SESSION_SECRET: 'x'.repeat(32),
  SMTP_URL: 'smtp://mail.example.net:587',
  REDIS_URL: 'redis://redis.example.net:6379',
  DATABASE_URL: 'postgres://portal@db.example.net/portal',
};

describe('loadConfig', () => {
  it('defaults to development on port 3000 with prefix pm and http://localhost:3000', () => {
    const config = loadConfig({});
    assert.equal(config.env, 'development');
    assert.equal(config.port, 3000);
    assert.equal(config.host, '127.0.0.1', 'development listens on loopback unless HOST says otherwise (issue 13)');
    assert.equal(config.redisPrefix, 'pm');
    assert.equal(config.publicUrl, 'http://localhost:3000');
    assert.equal(config.redisUrl, undefined);
    assert.equal(config.smtpUrl, undefined);
    assert.equal(config.policyFile, undefined);
    assert.equal(config.logLevel, 'info');
  });

  it('reads only the object it is given, not process.env', () => {
    const saved = process.env.PORT;
    process.env.PORT = '4567';
    try {
      assert.equal(loadConfig({}).port, 3000);
    } finally {
      if (saved === undefined) delete process.env.PORT;
      else process.env.PORT = saved;
    }
  });

  it('uses a development secret of at least 32 characters when SESSION_SECRET is unset', () => {
    assert.ok(loadConfig({}).secret.length >= 32);
  });

  it('derives the default public URL from PORT', () => {
    const config = loadConfig({ PORT: '8080' });
    assert.equal(config.port, 8080);
    assert.equal(config.publicUrl, 'http://localhost:8080');
  });

  it('strips trailing slashes from PUBLIC_URL', () => {
    assert.equal(loadConfig({ PUBLIC_URL: 'https://postmaster.example.net/' }).publicUrl, 'https://postmaster.example.net');
    assert.equal(loadConfig({ PUBLIC_URL: 'https://example.net/portal//' }).publicUrl, 'https://example.net/portal');
    assert.equal(loadConfig({ PUBLIC_URL: 'https://example.net/portal' }).publicUrl, 'https://example.net/portal');
  });

  it('treats empty variables as unset', () => {
    const config = loadConfig({ PORT: '', REDIS_PREFIX: '', PUBLIC_URL: '', SESSION_SECRET: '' });
    assert.equal(config.port, 3000);
    assert.equal(config.redisPrefix, 'pm');
    assert.equal(config.publicUrl, 'http://localhost:3000');
  });

  it('passes the given values through', () => {
    const config = loadConfig({ ...PRODUCTION_OK, REDIS_PREFIX: 'pm-staging:v2', POLICY_FILE: '/etc/pm/policy.json', ABUSE_SMTP_PORT: '2525', LOG_LEVEL: 'warn' });
    assert.equal(config.env, 'production');
    assert.equal(config.secret, PRODUCTION_OK.SESSION_SECRET);
    assert.equal(config.smtpUrl, PRODUCTION_OK.SMTP_URL);
    assert.equal(config.redisUrl, PRODUCTION_OK.REDIS_URL);
    assert.equal(config.redisPrefix, 'pm-staging:v2');
    assert.equal(config.policyFile, '/etc/pm/policy.json');
    assert.equal(config.abuseSmtpPort, 2525);
    assert.equal(config.logLevel, 'warn');
  });

  it('refuses production without SESSION_SECRET, SMTP_URL and REDIS_URL, listing each', () => {
    const message = refused({ NODE_ENV: 'production' });
    assert.match(message, /SESSION_SECRET: is required in production/);
    assert.match(message, /SMTP_URL: is required in production/);
    assert.match(message, /REDIS_URL: is required in production/);
  });

  for (const key of ['SESSION_SECRET', 'SMTP_URL', 'REDIS_URL'] as const) {
    it(`refuses production when only ${key} is missing, and names only that key`, () => {
      const env: Record<string, string> = { ...PRODUCTION_OK };
      delete env[key];
      const message = refused(env);
      assert.match(message, new RegExp(`${key}: is required in production`));
      for (const other of ['SESSION_SECRET', 'SMTP_URL', 'REDIS_URL'].filter((k) => k !== key)) assert.doesNotMatch(message, new RegExp(other));
    });
  }

  it('does not require SESSION_SECRET, SMTP_URL or REDIS_URL outside production', () => {
    assert.equal(loadConfig({ NODE_ENV: 'test' }).env, 'test');
    assert.equal(loadConfig({ NODE_ENV: 'development' }).env, 'development');
  });

  it('refuses a SESSION_SECRET shorter than 32 characters', () => {
    assert.match(refused({ ...PRODUCTION_OK, SESSION_SECRET: 'short' }), /SESSION_SECRET: at least 32 characters/);
  });

  for (const port of ['abc', '70000', '-1', '3000.5', '65536']) {
    it(`refuses PORT=${port}`, () => {
      assert.match(refused({ PORT: port }), /^\s+PORT:/m);
    });
  }

  for (const prefix of ['my prefix', 'pm ', 'pm/x', 'x'.repeat(65)]) {
    it(`refuses REDIS_PREFIX=${JSON.stringify(prefix.length > 20 ? prefix.slice(0, 10) + '…' : prefix)}`, () => {
      assert.match(refused({ REDIS_PREFIX: prefix }), /REDIS_PREFIX: letters, digits and :_.- only/);
    });
  }

  it('refuses an unknown NODE_ENV and a PUBLIC_URL that is not a URL', () => {
    assert.match(refused({ NODE_ENV: 'staging' }), /NODE_ENV:/);
    assert.match(refused({ PUBLIC_URL: 'portal.example.net' }), /PUBLIC_URL:/);
  });

  it('lists every bad key in one error', () => {
    const message = refused({ PORT: 'abc', REDIS_PREFIX: 'a b', LOG_LEVEL: 'loud' });
    assert.match(message, /PORT:/);
    assert.match(message, /REDIS_PREFIX:/);
    assert.match(message, /LOG_LEVEL:/);
  });

  it('reads DATABASE_URL (postgres:// or postgresql://) and DATABASE_SCHEMA (a plain lower-case name), refusing anything else by key', () => {
    const config = loadConfig({ DATABASE_URL: 'postgresql://portal@db.example.net:5433/portal', DATABASE_SCHEMA: 'portal_2' });
    assert.equal(config.databaseUrl, 'postgresql://portal@db.example.net:5433/portal');
    assert.equal(config.databaseSchema, 'portal_2');
    assert.equal(loadConfig({}).databaseSchema, undefined);
    assert.match(refused({ DATABASE_URL: 'mysql://db.example.net/portal' }), /^\s+DATABASE_URL: must be a postgres:\/\/ or postgresql:\/\/ URL/m);
    for (const schema of ['Public', 'a-b', 'x; DROP SCHEMA public', 'a'.repeat(41), '1abc']) assert.match(refused({ DATABASE_SCHEMA: schema }), /^\s+DATABASE_SCHEMA: /m, schema);
  });
});

describe('describeConfig', () => {
  const described = describeConfig();

  it('gives every key a non-empty description', () => {
    assert.ok(described.length > 0);
    for (const { key, description } of described) assert.ok(description.trim().length > 0, `${key} has no description`);
  });

  it('documents every environment key of the design once', () => {
    const keys = described.map((d) => d.key);
    assert.equal(new Set(keys).size, keys.length);
    for (const key of ['PORT', 'REDIS_URL', 'REDIS_PREFIX', 'PUBLIC_URL', 'SMTP_URL', 'MAIL_FROM', 'SESSION_SECRET', 'NODE_ENV', 'POLICY_FILE', 'ABUSE_SMTP_PORT']) {
      assert.ok(keys.includes(key), `${key} is not documented`);
    }
  });
});

describe('loadConfig: strict reading', () => {
  it('refuses a port written as hex or blank-padded instead of reading it as another port', () => {
    assert.throws(() => loadConfig({ PORT: '0x50' }), /PORT/);
    assert.throws(() => loadConfig({ PORT: ' ' }), /PORT/);
  });

  it('reports the production requirements together with any other bad key', () => {
    assert.throws(() => loadConfig({ NODE_ENV: 'production', PORT: 'x' }), (err: Error) => ['PORT', 'SESSION_SECRET', 'SMTP_URL', 'REDIS_URL'].every((k) => err.message.includes(k)));
  });
});

describe('loadConfig: TRUST_PROXY (issue 13: TRUST_PROXY=true crashed the start with a stack trace)', () => {
  const read = (value: string) => loadConfig({ TRUST_PROXY: value }).trustProxy;

  it('reads true and false (any case) as booleans, and a hop count as a number', () => {
    assert.equal(read('true'), true);
    assert.equal(read('TRUE'), true);
    assert.equal(read('false'), false);
    assert.equal(read('1'), 1);
    assert.equal(read('2'), 2);
    assert.equal(read('0'), 0);
  });

  it('reads names, addresses and CIDR ranges as a list express takes', () => {
    assert.deepEqual(loadConfig({}).trustProxy, ['loopback']);
    assert.deepEqual(read('loopback'), ['loopback']);
    assert.deepEqual(read('loopback, linklocal,uniquelocal'), ['loopback', 'linklocal', 'uniquelocal']);
    assert.deepEqual(read('10.0.0.1'), ['10.0.0.1']);
    assert.deepEqual(read('10.0.0.0/8, 192.0.2.7,2001:db8::/32, ::1'), ['10.0.0.0/8', '192.0.2.7', '2001:db8::/32', '::1']);
  });

  for (const bad of ['yes', 'loopbackk', '10.0.0.0/33', '2001:db8::/129', '10.0.0.0/8/1', '10.0.0', 'loopback,', 'loopback,,linklocal', '-1', '1.5', 'example.net']) {
    it(`refuses TRUST_PROXY=${JSON.stringify(bad)} with a line naming it`, () => {
      assert.match(refused({ TRUST_PROXY: bad }), /^\s+TRUST_PROXY: cannot read/m);
    });
  }
});

describe('loadConfig: HOST', () => {
  it('takes IP addresses and localhost, and refuses names and malformed addresses', () => {
    for (const host of ['127.0.0.1', '0.0.0.0', '::', '::1', '192.0.2.10', 'localhost']) assert.equal(loadConfig({ HOST: host, SESSION_SECRET: 'x'.repeat(32) }).host, host);
    for (const host of ['not-a-host', '999.1.1.1', '127.1', '[::1]', 'portal.example.net']) assert.match(refused({ HOST: host }), /^\s+HOST: must be an IP address/m);
  });

  it('tells loopback hosts from others', () => {
    for (const host of ['127.0.0.1', '127.9.9.9', '::1', '::ffff:127.0.0.1', 'localhost']) assert.equal(isLoopbackHost(host), true, host);
    for (const host of ['0.0.0.0', '::', '192.0.2.1', '10.0.0.1', 'fe80::1', '::ffff:192.0.2.1']) assert.equal(isLoopbackHost(host), false, host);
  });
});

describe('loadConfig: fail closed (issue 13)', () => {
  const SECRET = 'a-real-secret-of-at-least-32-characters!';
  const KEY = randomBytes(32).toString('base64');
  const PROD = { SESSION_SECRET: SECRET, SNAPSHOT_SIGNING_KEY: KEY, SMTP_URL: 'smtp://mail.example.net', REDIS_URL: 'redis://redis.example.net:6379', DATABASE_URL: 'postgres://portal@db.example.net/portal' };

  it('npm start (role all) with nothing set is local development on 127.0.0.1 with the development secrets', () => {
    const c = loadConfig({}, { role: 'all' });
    assert.equal(c.env, 'development');
    assert.equal(c.host, '127.0.0.1');
    assert.equal(c.localDevelopment, true);
    assert.ok(c.secret.length >= 32);
    assert.equal(c.snapshotSigningKey, undefined, 'derived from the secret in local development');
  });

  it('a role started on its own (start:web, start:worker) with NODE_ENV unset is production and needs its secrets', () => {
    for (const role of ['web', 'worker', 'smtp']) {
      assert.throws(() => loadConfig({}, { role }), (err: Error) => {
        for (const key of ['SESSION_SECRET', 'SMTP_URL', 'REDIS_URL', 'DATABASE_URL', 'NODE_ENV']) assert.match(err.message, new RegExp(`^\\s+${key}: `, 'm'), `${role}: ${key}`);
        assert.equal(/^\s+SNAPSHOT_SIGNING_KEY: /m.test(err.message), role === 'web', `${role}: only the web role signs snapshots`);
        return err instanceof ConfigError;
      });
    }
    const c = loadConfig(PROD, { role: 'web' });
    assert.equal(c.env, 'production');
    assert.equal(c.host, '0.0.0.0');
    assert.equal(c.localDevelopment, false);
    assert.equal(c.snapshotSigningKey, KEY);
  });

  it('a role on its own runs in development only when NODE_ENV=development says so, on loopback', () => {
    const c = loadConfig({ NODE_ENV: 'development' }, { role: 'web' });
    assert.equal(c.env, 'development');
    assert.equal(c.host, '127.0.0.1');
    assert.equal(c.localDevelopment, true);
    assert.equal(loadConfig({ NODE_ENV: 'test' }, { role: 'worker' }).localDevelopment, true);
  });

  for (const role of ['all', 'web']) {
    for (const env of ['development', 'test']) {
      it(`refuses the development secrets on a HOST that is not loopback (${role}, NODE_ENV=${env})`, () => {
        for (const host of ['0.0.0.0', '::', '192.0.2.10']) {
          assert.throws(() => loadConfig({ NODE_ENV: env, HOST: host }, { role }), (err: Error) => /^\s+SESSION_SECRET: is required when HOST .* is not a loopback address/m.test(err.message) && /^\s+SNAPSHOT_SIGNING_KEY: is required/m.test(err.message));
          assert.throws(() => loadConfig({ NODE_ENV: env, HOST: host, SESSION_SECRET: SECRET }, { role }), /SNAPSHOT_SIGNING_KEY: is required/);
          const ok = loadConfig({ NODE_ENV: env, HOST: host, SESSION_SECRET: SECRET, SNAPSHOT_SIGNING_KEY: KEY }, { role });
          assert.equal(ok.localDevelopment, false);
          assert.equal(ok.secret, SECRET);
        }
      });
    }
  }

  it('npm start with HOST=0.0.0.0 and no secret refuses to start', () => {
    assert.match(refused({ HOST: '0.0.0.0' }), /SESSION_SECRET: is required when HOST \(0\.0\.0\.0\) is not a loopback address/);
  });

  it('refuses the public development secret written out as SESSION_SECRET outside local development', () => {
    const dev = loadConfig({}).secret;
    assert.match(refused({ ...PROD, NODE_ENV: 'production', SESSION_SECRET: dev }), /SESSION_SECRET: is the public development secret/);
    assert.match(refused({ NODE_ENV: 'development', HOST: '0.0.0.0', SESSION_SECRET: dev, SNAPSHOT_SIGNING_KEY: KEY }), /SESSION_SECRET: is the public development secret/);
  });

  it('production needs SNAPSHOT_SIGNING_KEY for the web roles: never derived from SESSION_SECRET there', () => {
    const env = { ...PROD, NODE_ENV: 'production' } as Record<string, string>;
    delete env.SNAPSHOT_SIGNING_KEY;
    for (const role of ['web', 'all']) assert.throws(() => loadConfig(env, { role }), /^\s+SNAPSHOT_SIGNING_KEY: is required in production/m);
    assert.equal(loadConfig(env, { role: 'worker' }).snapshotSigningKey, undefined);
  });

  it('reads SNAPSHOT_SIGNING_KEY at start-up and refuses a bad one, or one equal to SESSION_SECRET, with a line', () => {
    const pem = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    assert.equal(loadConfig({ SNAPSHOT_SIGNING_KEY: pem }).snapshotSigningKey, pem);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    assert.match(refused({ SNAPSHOT_SIGNING_KEY: 'garbage' }), /^\s+SNAPSHOT_SIGNING_KEY: must be a PKCS#8 PEM/m);
    assert.match(refused({ SNAPSHOT_SIGNING_KEY: rsa }), /^\s+SNAPSHOT_SIGNING_KEY: must be an Ed25519 key/m);
    assert.match(refused({ SNAPSHOT_SIGNING_KEY: '-----BEGIN PRIVATE KEY-----\nxx\n-----END PRIVATE KEY-----' }), /SNAPSHOT_SIGNING_KEY: is not a readable PEM/);
    const same = randomBytes(32).toString('base64');
    assert.match(refused({ ...PROD, NODE_ENV: 'production', SESSION_SECRET: same, SNAPSHOT_SIGNING_KEY: same }), /SNAPSHOT_SIGNING_KEY: must not be the SESSION_SECRET/);
  });
});

describe('loadConfig: URLs and addresses are read for what they are', () => {
  it('refuses a REDIS_URL, SMTP_URL or PUBLIC_URL of another scheme, and a MAIL_FROM that is not an address', () => {
    assert.match(refused({ REDIS_URL: 'http://127.0.0.1:6379' }), /REDIS_URL: must be a redis:\/\/ or rediss:\/\/ URL/);
    assert.match(refused({ SMTP_URL: 'http://mail.example.net' }), /SMTP_URL: must be an smtp:\/\/ or smtps:\/\/ URL/);
    assert.match(refused({ PUBLIC_URL: 'javascript:alert(1)' }), /PUBLIC_URL: must be an http:\/\/ or https:\/\/ URL/);
    for (const from of ['garbage', 'Portal <not an address>', 'a@b.example\r\nBcc: victim@example.org']) assert.match(refused({ MAIL_FROM: from }), /MAIL_FROM: must be an address/);
    assert.equal(loadConfig({ REDIS_URL: 'rediss://r.example.net:6380', SMTP_URL: 'smtps://m.example.net', PUBLIC_URL: 'https://p.example.net', MAIL_FROM: 'abuse@example.net' }).mailFrom, 'abuse@example.net');
  });
});
