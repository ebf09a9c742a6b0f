// Which webhook destinations may be called: http(s) URLs without credentials whose every address is public, checked before a request and again at connect time.
import { promises as dnsPromises, type LookupAddress, type LookupOptions } from 'node:dns';
import { BlockList, isIP } from 'node:net';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';

/** The argument refusals name, as a job request spells it. */
export const destinationArgument = 'webhook.url';

/** The variable that lets webhooks reach private addresses. */
export const allowPrivateVariable = 'PIXELPIPE_WEBHOOK_ALLOW_PRIVATE';

/** Resolves a host name to all its addresses, shaped like `dns.promises.lookup` with `{ all: true }`. */
export type DestinationLookup = (hostname: string, options: { all: true }) => Promise<LookupAddress[]>;

/** What `http.request({ lookup })` and `net.connect({ lookup })` take. */
export type ConnectLookup = (
  hostname: string,
  options: LookupOptions,
  callback: (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void,
) => void;

/** Options of `checkWebhookDestination`. */
export interface DestinationOptions {
  /** Let private, loopback and link-local addresses through (PIXELPIPE_WEBHOOK_ALLOW_PRIVATE). */
  allowPrivate: boolean;
  /** Resolves host names; default `dns.promises.lookup`. */
  lookup?: DestinationLookup;
}

function rules(type: 'ipv4' | 'ipv6', subnets: [string, number][]): BlockList {
  const list = new BlockList();
  for (const [network, prefix] of subnets) list.addSubnet(network, prefix, type);
  return list;
}

// Each kind of address a webhook must not reach, named in the refusal. BlockList matches an
// IPv4-mapped IPv6 address (::ffff:127.0.0.1) against the IPv4 rules, so those are covered too.
const refused: { kind: string; list: BlockList }[] = [
  { kind: 'unspecified', list: rules('ipv4', [['0.0.0.0', 8]]) },
  { kind: 'unspecified', list: rules('ipv6', [['::', 128]]) },
  { kind: 'loopback', list: rules('ipv4', [['127.0.0.0', 8]]) },
  { kind: 'loopback', list: rules('ipv6', [['::1', 128]]) },
  { kind: 'private', list: rules('ipv4', [['10.0.0.0', 8], ['172.16.0.0', 12], ['192.168.0.0', 16]]) },
  { kind: 'unique-local', list: rules('ipv6', [['fc00::', 7]]) },
  { kind: 'link-local (cloud metadata lives here)', list: rules('ipv4', [['169.254.0.0', 16]]) },
  { kind: 'link-local', list: rules('ipv6', [['fe80::', 10]]) },
  { kind: 'carrier-grade NAT', list: rules('ipv4', [['100.64.0.0', 10]]) },
  { kind: 'multicast', list: rules('ipv4', [['224.0.0.0', 4]]) },
  { kind: 'multicast', list: rules('ipv6', [['ff00::', 8]]) },
  // 240/4 is reserved and holds the broadcast address 255.255.255.255.
  { kind: 'reserved or broadcast', list: rules('ipv4', [['240.0.0.0', 4]]) },
  { kind: 'special-purpose', list: rules('ipv4', [['192.0.0.0', 24], ['198.18.0.0', 15]]) },
  // Deprecated IPv4-compatible addresses (::a.b.c.d); nothing public lives there.
  { kind: 'IPv4-compatible', list: rules('ipv6', [['::', 96]]) },
];

// NAT64 (RFC 6052) carries an IPv4 address in its last 32 bits; a gateway would forward to it.
const nat64 = rules('ipv6', [['64:ff9b::', 96]]);

function embeddedIpv4(address: string): string | undefined {
  if (!nat64.check(address, 'ipv6')) return undefined;
  const groups = address.split(':');
  const last = groups.at(-1)!;
  if (last.includes('.')) return last;
  const low = parseInt(last || '0', 16);
  const high = parseInt(groups.at(-2) || '0', 16);
  return [high >> 8, high & 255, low >> 8, low & 255].join('.');
}

/** Why `address` may not be called (`loopback`, `private`, ...), or undefined for a public address. */
export function refusedKind(address: string): string | undefined {
  const bare = address.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  const version = isIP(bare);
  if (version === 0) return 'not an IP address';
  const type = version === 4 ? 'ipv4' : 'ipv6';
  const found = refused.find(({ list }) => list.check(bare, type))?.kind;
  if (found) return found;
  const inner = version === 6 ? embeddedIpv4(bare) : undefined;
  return inner === undefined ? undefined : refusedKind(inner);
}

function refusal(url: string, message: string): InvalidArgumentError {
  return new InvalidArgumentError({ argument: destinationArgument, value: url, message });
}

function privateRefusal(url: string, host: string, address: string, kind: string): InvalidArgumentError {
  const via = host === address ? '' : ` resolves to ${address}, which`;
  const where = url === host ? '' : ` ${JSON.stringify(url)}`;
  return refusal(
    url,
    `\`${destinationArgument}\`${where}: ${host}${via} is ${kind}, and webhooks are not sent to private, loopback or link-local addresses; ` +
      `use a public address, or set ${allowPrivateVariable}=true (allowPrivate) where the receiver is on a trusted network`,
  );
}

/**
 * Checks what can be checked without DNS: an absolute http or https URL without user name or
 * password. Gives back the parsed URL; throws an `InvalidArgumentError` naming `webhook.url`.
 */
export function parseWebhookUrl(url: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw refusal(url, `\`${destinationArgument}\` must be an absolute http:// or https:// URL, got ${JSON.stringify(url)}`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw refusal(url, `\`${destinationArgument}\` must use http:// or https://, got ${JSON.stringify(parsed.protocol)} in ${JSON.stringify(url)}`);
  }
  if (parsed.username || parsed.password) {
    // The refused value is shown to callers, so it keeps no secret.
    const redacted = new URL(parsed);
    redacted.username = '***';
    redacted.password = '';
    throw refusal(redacted.href, `\`${destinationArgument}\` must not carry a user name or password; the signature authenticates pixelpipe to the receiver (drop the "user:password@" part)`);
  }
  return parsed;
}

// RFC 6761: these names are loopback whatever a resolver says.
const isLocalhostName = (host: string) => /(^|\.)localhost\.?$/.test(host);

/**
 * Refuses a webhook URL that is not http(s), carries credentials, or names a host any of whose
 * addresses is loopback, private, link-local, carrier-grade NAT, unique-local, unspecified,
 * multicast or broadcast (IPv4-mapped IPv6 forms included), unless `allowPrivate`. DNS errors
 * pass through unchanged: they may clear up, so callers retry them.
 */
export async function checkWebhookDestination(url: string, { allowPrivate, lookup = dnsPromises.lookup }: DestinationOptions): Promise<void> {
  const parsed = parseWebhookUrl(url);
  if (allowPrivate) return;
  const host = parsed.hostname.replace(/^\[|\]$/g, '');
  if (isLocalhostName(host)) throw privateRefusal(url, host, host, 'loopback');
  const addresses = isIP(host) ? [host] : (await lookup(host, { all: true })).map(({ address }) => address);
  if (addresses.length === 0) throw new Error(`${host} (${destinationArgument} ${JSON.stringify(url)}) resolved to no address`);
  for (const address of addresses) {
    const kind = refusedKind(address);
    if (kind) throw privateRefusal(url, host, address, kind);
  }
}

/**
 * A `lookup` for `http.request` that resolves like `dns.lookup` but refuses, at connect time, a
 * host any of whose addresses `checkWebhookDestination` would refuse; so a name that resolved to a
 * public address when checked and to a private one a moment later (DNS rebinding) is never called.
 * `resolve` is injectable for tests; default `dns.promises.lookup`.
 */
export function createGuardedLookup(resolve: DestinationLookup = dnsPromises.lookup): ConnectLookup {
  return (hostname, options, callback) => {
    if (isLocalhostName(hostname.toLowerCase())) return callback(privateRefusal(hostname, hostname, hostname, 'loopback'), []);
    // Every address is checked whatever family the caller asked for: any one of them may be dialled.
    resolve(hostname, { all: true }).then(
      (addresses) => {
        for (const { address } of addresses) {
          const kind = refusedKind(address);
          if (kind) return callback(privateRefusal(hostname, hostname, address, kind), []);
        }
        const family = options.family === 'IPv4' ? 4 : options.family === 'IPv6' ? 6 : options.family;
        const wanted = family === 4 || family === 6 ? addresses.filter((address) => address.family === family) : addresses;
        if (wanted.length === 0) return callback(Object.assign(new Error(`${hostname} has no ${family ? `IPv${family} ` : ''}address`), { code: 'ENOTFOUND', hostname }), []);
        if (options.all) return callback(null, wanted);
        callback(null, wanted[0]!.address, wanted[0]!.family);
      },
      (error: NodeJS.ErrnoException) => callback(error, []),
    );
  };
}

/** The guarded `lookup` on the system resolver; pass it as `http.request(url, { lookup })`. */
export const lookup: ConnectLookup = createGuardedLookup();
