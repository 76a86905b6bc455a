import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { AuthFile, Authenticator, defaultAuthFile, parseChallenges } from './auth.js';
import { scratchDir } from './registry-client-testing.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64');

function authFile(dir: string, doc: unknown, name = 'config.json'): AuthFile {
  const path = join(dir, name);
  fs.writeFileSync(path, JSON.stringify(doc));
  return AuthFile.read(path);
}

describe('AuthFile.find()', () => {
  test('prefers the most specific host/namespace/repository key', (t) => {
    const f = authFile(scratchDir(t), {
      auths: {
        'quay.io': { auth: b64('host:1') },
        'quay.io/ocp': { auth: b64('ns:2') },
        'quay.io/ocp/release': { auth: b64('repo:3') },
      },
    });
    assert.equal(f.find('quay.io', 'ocp/release')?.username, 'repo');
    assert.equal(f.find('quay.io', 'ocp/machine-os-content')?.username, 'ns');
    assert.equal(f.find('quay.io', 'other/x')?.username, 'host');
    assert.equal(f.find('registry.example.com', 'ocp/release'), undefined);
  });

  test('finds Docker Hub under https://index.docker.io/v1/ and URL-shaped keys by host, with the port', (t) => {
    const f = authFile(scratchDir(t), {
      auths: {
        'https://index.docker.io/v1/': { auth: b64('hub:pw') },
        'https://127.0.0.1:5056/v1/': { username: 'local', password: 'p:w' },
        '127.0.0.1:5057': { auth: b64('other:x') },
      },
    });
    assert.equal(f.find('docker.io', 'library/busybox')?.username, 'hub');
    const local = f.find('127.0.0.1:5056', 'ocp/x');
    assert.deepEqual([local?.username, local?.password], ['local', 'p:w']);
    assert.equal(f.find('127.0.0.1', 'ocp/x'), undefined, 'the port is part of the host');
  });

  test('splits auth at the first colon: passwords may hold colons', (t) => {
    const f = authFile(scratchDir(t), { auths: { 'r.io': { auth: b64('u:a:b:c') } } });
    assert.equal(f.find('r.io', 'x')?.password, 'a:b:c');
    assert.equal(f.find('r.io', 'x')?.source, `"r.io" in ${f.path}`);
  });

  test('bad files are errors naming the file and key, never their content', (t) => {
    const dir = scratchDir(t);
    fs.writeFileSync(join(dir, 'broken.json'), '{"auths": {"r.io": {"auth": "c2VjcmV0"} ');
    assert.throws(() => AuthFile.read(join(dir, 'broken.json')), (e: Error) => /broken.json is not valid JSON$/.test(e.message) && !e.message.includes('c2VjcmV0'));
    const f = authFile(dir, { auths: { 'r.io': { auth: b64('nocolon-secret') } } });
    assert.throws(() => f.find('r.io', 'x'), (e: Error) => /the "auth" of "r.io" is not base64 of USER:PASSWORD/.test(e.message) && !e.message.includes('nocolon-secret'));
    assert.throws(() => AuthFile.read(join(dir, 'missing.json')), /cannot read registry auth file .*missing.json: ENOENT/);
  });
});

test('defaultAuthFile() looks at REGISTRY_AUTH_FILE, then XDG_RUNTIME_DIR, then ~/.docker', (t) => {
  const dir = scratchDir(t);
  fs.mkdirSync(join(dir, 'run/containers'), { recursive: true });
  fs.mkdirSync(join(dir, 'home/.docker'), { recursive: true });
  fs.writeFileSync(join(dir, 'home/.docker/config.json'), '{}');
  const env = { HOME: join(dir, 'home'), XDG_RUNTIME_DIR: join(dir, 'run') };
  assert.equal(defaultAuthFile(env), join(dir, 'home/.docker/config.json'));
  fs.writeFileSync(join(dir, 'run/containers/auth.json'), '{}');
  assert.equal(defaultAuthFile(env), join(dir, 'run/containers/auth.json'));
  fs.writeFileSync(join(dir, 'explicit.json'), '{}');
  assert.equal(defaultAuthFile({ ...env, REGISTRY_AUTH_FILE: join(dir, 'explicit.json') }), join(dir, 'explicit.json'));
  assert.equal(defaultAuthFile({ HOME: join(dir, 'nowhere') }), undefined);
});

test('parseChallenges() keeps commas inside quotes and reads several challenges', () => {
  assert.deepEqual(parseChallenges('Bearer realm="http://127.0.0.1:5058/token",service="test-registry",scope="repository:ocp/x:push,pull"'), [
    { scheme: 'bearer', params: { realm: 'http://127.0.0.1:5058/token', service: 'test-registry', scope: 'repository:ocp/x:push,pull' } },
  ]);
  assert.deepEqual(parseChallenges('Basic realm="test-realm", Bearer realm="https://a/t", error=insufficient_scope'), [
    { scheme: 'basic', params: { realm: 'test-realm' } },
    { scheme: 'bearer', params: { realm: 'https://a/t', error: 'insufficient_scope' } },
  ]);
  assert.deepEqual(parseChallenges('Basic realm="a \\"quoted\\" realm"'), [{ scheme: 'basic', params: { realm: 'a "quoted" realm' } }]);
});

describe('Authenticator', () => {
  test('asks the realm for a token with service and scopes, caches it until it expires, and prefers Bearer', async (t) => {
    const f = authFile(scratchDir(t), { auths: { 'r.io': { auth: b64('alice:pw') } } });
    const asked: { url: string; authorization: string | undefined }[] = [];
    let clock = 1_000_000;
    let n = 0;
    const a = new Authenticator({
      authFile: f,
      now: () => clock,
      fetchToken: async (url, headers) => {
        asked.push({ url: url.href, authorization: headers['authorization'] });
        return { status: 200, body: Buffer.from(JSON.stringify({ access_token: `tok${++n}`, expires_in: 70 })) };
      },
    });
    assert.equal(await a.authorization('r.io', 'ns/x', ['repository:ns/x:pull']), undefined, 'nothing before a challenge');
    a.learn('r.io', 'Basic realm="r", Bearer realm="https://auth.r.io/token",service="r.io"');
    assert.equal(await a.authorization('r.io', 'ns/x', ['repository:ns/x:pull']), 'Bearer tok1');
    assert.equal(await a.authorization('r.io', 'ns/x', ['repository:ns/x:pull']), 'Bearer tok1', 'cached');
    assert.deepEqual(asked, [{ url: 'https://auth.r.io/token?service=r.io&scope=repository%3Ans%2Fx%3Apull', authorization: `Basic ${b64('alice:pw')}` }]);
    clock += 61_000; // 70 s tokens are renewed 10 s early
    assert.equal(await a.authorization('r.io', 'ns/x', ['repository:ns/x:pull']), 'Bearer tok2');
    assert.equal(await a.authorization('r.io', 'ns/x', ['repository:ns/x:pull,push', 'repository:ns/y:pull']), 'Bearer tok3');
    assert.match(asked[2]!.url, /scope=repository%3Ans%2Fx%3Apull%2Cpush&scope=repository%3Ans%2Fy%3Apull$/);
  });

  test('a refused token request names the realm and the credentials key, not the secret', async (t) => {
    const f = authFile(scratchDir(t), { auths: { 'r.io': { auth: b64('alice:hunter2') } } });
    const a = new Authenticator({ authFile: f, fetchToken: async () => ({ status: 401, body: Buffer.from('{}') }) });
    a.learn('r.io', 'Bearer realm="https://auth.r.io/token?x=1",service="r.io"');
    await assert.rejects(a.authorization('r.io', 'ns/x', ['repository:ns/x:pull']), (e: Error) => {
      assert.match(e.message, /^r.io: unauthorized: token server https:\/\/auth.r.io\/token answered 401: the credentials "r.io" in .*config.json were refused$/);
      assert.ok(!e.message.includes('hunter2') && !e.message.includes(b64('alice:hunter2')));
      return true;
    });
  });
});
