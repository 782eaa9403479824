import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, describeConfig, loadConfig } from '../../src/config.js';

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
};

describe('loadConfig', () => {
  it('defaults to development on port 3000 with prefix pm and http://localhost:3000', () => {
    const config = loadConfig({});
    assert.equal(config.env, 'development');
    assert.equal(config.port, 3000);
    assert.equal(config.host, '0.0.0.0');
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
