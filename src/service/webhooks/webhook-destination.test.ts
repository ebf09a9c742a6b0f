// The webhook destination guard: which URLs and addresses are refused before a request, and again at connect time.
import assert from 'node:assert/strict';
import type { LookupAddress } from 'node:dns';
import { request } from 'node:http';
import { isIP } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import { isInvalidArgument } from '../../testing/assertions.js';
import { checkWebhookDestination, createGuardedLookup, refusedKind, type DestinationLookup } from './webhook-destination.js';
import { startReceiver, type Receiver } from './webhook-harness.case.js';

// A resolver that answers from a table and never touches DNS.
function fakeDns(table: Record<string, string[]>): DestinationLookup & { calls: string[] } {
  const calls: string[] = [];
  const lookup = async (hostname: string): Promise<LookupAddress[]> => {
    calls.push(hostname);
    const addresses = table[hostname];
    if (!addresses) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
    return addresses.map((address) => ({ address, family: isIP(address) }));
  };
  return Object.assign(lookup, { calls });
}

const noDns: DestinationLookup = async (hostname) => assert.fail(`an IP literal or localhost must not be resolved, got a lookup of ${hostname}`);

describe('webhook destination check', () => {
  const refused: [string, RegExp][] = [
    ['http://127.0.0.1/hook', /127\.0\.0\.1 is loopback/],
    ['http://127.8.9.10:8080/', /loopback/],
    ['http://localhost:3000/hook', /localhost is loopback/],
    ['http://api.localhost/', /loopback/],
    ['http://[::1]/', /::1 is loopback/],
    ['http://10.1.2.3/', /private/],
    ['http://172.16.5.4/', /private/],
    ['http://172.31.255.255/', /private/],
    ['http://192.168.0.1/', /private/],
    ['http://169.254.169.254/latest/meta-data/', /link-local \(cloud metadata/],
    ['http://100.64.0.1/', /carrier-grade NAT/],
    ['http://[fd00::1]/', /unique-local/],
    ['http://[fe80::1]/', /link-local/],
    ['http://0.0.0.0/', /unspecified/],
    ['http://[::]/', /unspecified/],
    ['http://224.0.0.1/', /multicast/],
    ['http://[ff02::1]/', /multicast/],
    ['http://255.255.255.255/', /broadcast/],
    ['http://[::ffff:127.0.0.1]/', /loopback/],
    ['http://[::ffff:169.254.169.254]/', /link-local/],
    ['http://[::ffff:a01:203]/', /private/],
    // NAT64 of 10.0.0.1: a gateway would forward it into the private network.
    ['http://[64:ff9b::a00:1]/', /private/],
    // Other spellings of 127.0.0.1 that URL parsing turns into the dotted form.
    ['http://2130706433/', /loopback/],
    ['http://0x7f.1/', /loopback/],
  ];
  for (const [url, reason] of refused) {
    test(`refuses ${url}`, async () => {
      await assert.rejects(checkWebhookDestination(url, { allowPrivate: false, lookup: noDns }), isInvalidArgument('webhook.url', reason));
      await assert.rejects(checkWebhookDestination(url, { allowPrivate: false, lookup: noDns }), isInvalidArgument('webhook.url', /PIXELPIPE_WEBHOOK_ALLOW_PRIVATE=true/));
    });
  }

  test('refuses a host name when any of its addresses is private, and names that address', async () => {
    const lookup = fakeDns({ 'mixed.example': ['93.184.216.34', '10.0.0.7'], 'mapped.example': ['::ffff:169.254.169.254'], 'six.example': ['2606:4700::1', 'fe80::1%eth0'] });
    await assert.rejects(checkWebhookDestination('https://mixed.example/hook', { allowPrivate: false, lookup }), isInvalidArgument('webhook.url', /mixed\.example resolves to 10\.0\.0\.7, which is private/));
    await assert.rejects(checkWebhookDestination('https://mapped.example/hook', { allowPrivate: false, lookup }), isInvalidArgument('webhook.url', /link-local/));
    await assert.rejects(checkWebhookDestination('https://six.example/hook', { allowPrivate: false, lookup }), isInvalidArgument('webhook.url', /fe80::1%eth0, which is link-local/));
  });

  test('lets a public address through, by name or literal, and asks DNS for every address of a name', async () => {
    const lookup = fakeDns({ 'hooks.example.com': ['93.184.216.34', '2606:2800:220:1:248:1893:25c8:1946'] });
    await checkWebhookDestination('https://hooks.example.com/pixelpipe', { allowPrivate: false, lookup });
    assert.deepEqual(lookup.calls, ['hooks.example.com']);
    for (const url of ['http://8.8.8.8/', 'https://[2606:4700:4700::1111]/', 'http://172.32.0.1/', 'http://100.128.0.1/', 'http://[64:ff9b::808:808]/']) {
      await checkWebhookDestination(url, { allowPrivate: false, lookup: noDns });
    }
  });

  test('refuses schemes other than http and https, credentials and what is not a URL, even with allowPrivate', async () => {
    for (const allowPrivate of [false, true]) {
      await assert.rejects(checkWebhookDestination('ftp://files.example.com/hook', { allowPrivate, lookup: noDns }), isInvalidArgument('webhook.url', /must use http:\/\/ or https:\/\/, got "ftp:"/));
      await assert.rejects(checkWebhookDestination('file:///etc/passwd', { allowPrivate, lookup: noDns }), isInvalidArgument('webhook.url', /"file:"/));
      await assert.rejects(checkWebhookDestination('https://user:secret@hooks.example.com/', { allowPrivate, lookup: noDns }), (error: unknown) => {
        isInvalidArgument('webhook.url', /user name or password/)(error);
        assert.equal((error as InvalidArgumentError).value, 'https://***@hooks.example.com/', 'the password is not kept in the error');
        return true;
      });
      await assert.rejects(checkWebhookDestination('/relative/hook', { allowPrivate, lookup: noDns }), isInvalidArgument('webhook.url', /absolute http/));
    }
  });

  test('allowPrivate lets loopback and private destinations through without resolving them', async () => {
    for (const url of ['http://127.0.0.1:8080/hook', 'http://localhost/hook', 'http://[::1]/', 'http://10.0.0.1/', 'http://169.254.169.254/']) {
      await checkWebhookDestination(url, { allowPrivate: true, lookup: noDns });
    }
  });

  test('a name that does not resolve fails with the resolver\'s error, not a refusal, so a delivery may retry it', async () => {
    await assert.rejects(checkWebhookDestination('https://nowhere.example/', { allowPrivate: false, lookup: fakeDns({}) }), (error: unknown) => {
      assert.ok(!InvalidArgumentError.isInstance(error));
      assert.match((error as Error).message, /ENOTFOUND/);
      return true;
    });
  });

  test('refusedKind names the kind of a refused address and gives undefined for a public one', () => {
    assert.equal(refusedKind('127.0.0.1'), 'loopback');
    assert.equal(refusedKind('[::1]'), 'loopback');
    assert.equal(refusedKind('::ffff:192.168.1.1'), 'private');
    assert.equal(refusedKind('1.1.1.1'), undefined);
    assert.equal(refusedKind('2001:4860:4860::8888'), undefined);
    assert.equal(refusedKind('example.com'), 'not an IP address');
  });
});

describe('webhook connect-time lookup', () => {
  let receiver: Receiver;
  before(async () => (receiver = await startReceiver([200])));
  after(() => receiver.close());

  // What node's http client gets from a lookup, as a promise.
  const connect = (lookup: ReturnType<typeof createGuardedLookup>, host: string) =>
    new Promise<number>((resolve, reject) => {
      const outgoing = request({ host, port: receiver.port, method: 'POST', path: '/hook', lookup, agent: false }, (response) => {
        response.resume();
        resolve(response.statusCode!);
      });
      outgoing.on('error', reject);
      outgoing.end('{}');
    });

  test('a name that now resolves to loopback (DNS rebinding) is refused before connecting', async () => {
    const before = receiver.requests.length;
    await assert.rejects(connect(createGuardedLookup(fakeDns({ 'rebound.example': ['127.0.0.1'] })), 'rebound.example'), isInvalidArgument('webhook.url', /rebound\.example resolves to 127\.0\.0\.1, which is loopback/));
    await assert.rejects(connect(createGuardedLookup(fakeDns({})), 'localhost'), isInvalidArgument('webhook.url', /localhost is loopback/));
    assert.equal(receiver.requests.length, before, 'the receiver was never called');
  });

  test('it answers like dns.lookup for both shapes node asks for, filtered by family', async () => {
    const lookup = createGuardedLookup(fakeDns({ 'hooks.example.com': ['93.184.216.34', '2606:2800:220:1::1'] }));
    const ask = (options: Parameters<typeof lookup>[1]) =>
      new Promise<unknown[]>((resolve, reject) => lookup('hooks.example.com', options, (error, address, family) => (error ? reject(error) : resolve([address, family]))));
    assert.deepEqual(await ask({}), ['93.184.216.34', 4]);
    assert.deepEqual(await ask({ family: 6 }), ['2606:2800:220:1::1', 6]);
    assert.deepEqual(await ask({ all: true }), [[{ address: '93.184.216.34', family: 4 }, { address: '2606:2800:220:1::1', family: 6 }], undefined]);
    assert.deepEqual(await ask({ all: true, family: 'IPv4' }), [[{ address: '93.184.216.34', family: 4 }], undefined]);
  });
});
