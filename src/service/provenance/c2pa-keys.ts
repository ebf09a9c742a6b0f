// The C2PA signer: a certificate chain and its key from files, or a remote signing hook, checked against C2PA's certificate profile when loaded.
// @peculiar/x509 2.x needs a Reflect metadata polyfill loaded before it.
import 'reflect-metadata';
import { LocalSigner, type Builder, type SourceBufferAsset } from '@contentauth/c2pa-node';
import * as x509 from '@peculiar/x509';
import { createPrivateKey, createPublicKey, randomBytes, verify, webcrypto, type KeyObject } from 'node:crypto';
import { access, chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';

/** A signer ready for `signImage`, its certificate checked. */
export interface ProvenanceSigner {
  /** The signing certificate's subject, e.g. `CN=pixelpipe development signer, O=pixelpipe`: who validators say signed. */
  readonly subject: string;
  /** When the signing certificate stops being valid. */
  readonly notAfter: Date;
  /** Signs the builder's manifest into `input`, giving the signed file. */
  sign(builder: Builder, input: SourceBufferAsset): Promise<Buffer>;
}

/** Where the certificate chain and key are; the paths of `PIXELPIPE_C2PA_CERT` and `PIXELPIPE_C2PA_KEY`. */
export interface FileSignerOptions {
  /** PEM certificate chain: the signing certificate first, then the certificates that issued it. */
  certificatePath: string;
  /** PEM private key of the signing certificate (PKCS#8 or SEC1), not encrypted. */
  keyPath: string;
  /** An RFC 3161 time-stamp authority, so signatures stay valid after the certificate expires. */
  timestampAuthorityUrl?: string;
  /** The time the certificate must be valid at; now by default. */
  now?: Date;
}

/** A signer whose key lives elsewhere (a KMS or an HSM): it signs, and the chain comes from a file. */
export interface RemoteSignerOptions {
  /** PEM certificate chain of the remote key: the signing certificate first. */
  certificatePath: string;
  /** Signs the bytes with the certificate's P-256 key, ECDSA with SHA-256; the signature as DER or as raw r‖s (64 bytes). */
  sign: (bytesToSign: Uint8Array) => Promise<Uint8Array>;
  /** An RFC 3161 time-stamp authority, so signatures stay valid after the certificate expires. */
  timestampAuthorityUrl?: string;
  /** The time the certificate must be valid at; now by default. */
  now?: Date;
}

const certificateSetting = 'PIXELPIPE_C2PA_CERT';
const keySetting = 'PIXELPIPE_C2PA_KEY';
const initHint = 'run `pixelpipe provenance init` to make development ones';

/** Extended key usages C2PA's certificate profile accepts on a claim-signing certificate, as c2pa-rs checks them. */
export const claimSigningUsages: Readonly<Record<string, string>> = {
  '1.3.6.1.5.5.7.3.4': 'emailProtection',
  '1.3.6.1.5.5.7.3.36': 'documentSigning',
  '1.3.6.1.4.1.62558.2.1': 'c2pa-kp-claimSigning',
  '1.3.6.1.4.1.311.76.59.1.9': 'Microsoft C2PA signing',
};
const anyExtendedKeyUsage = '2.5.29.37.0';

/** Loads `PIXELPIPE_C2PA_CERT` and `PIXELPIPE_C2PA_KEY`, checks them, and makes a signer that signs in this process. */
export async function loadFileSigner({ certificatePath, keyPath, timestampAuthorityUrl, now = new Date() }: FileSignerOptions): Promise<ProvenanceSigner> {
  const chain = await readChain(certificatePath, now);
  const key = parsePrivateKey(await readSetting(keySetting, keyPath, 'the PEM private key of the signing certificate'), keyPath);
  const leafKey = publicKeyOf(chain[0]!);
  if (!createPublicKey(key).export({ type: 'spki', format: 'der' }).equals(leafKey.export({ type: 'spki', format: 'der' }))) {
    throw new InvalidArgumentError({ argument: keySetting, value: keyPath, message: `${keySetting} (${keyPath}) is not the key of the signing certificate in ${certificateSetting} (${certificatePath}); give the key that certificate was issued for, or ${initHint} as a pair` });
  }
  const pkcs8 = Buffer.from(key.export({ type: 'pkcs8', format: 'pem' }));
  const signer = LocalSigner.newSigner(Buffer.from(chainPem(chain)), pkcs8, 'es256', timestampAuthorityUrl);
  return {
    subject: chain[0]!.subject,
    notAfter: chain[0]!.notAfter,
    async sign(builder, input) {
      const output: { buffer: Buffer | null } = { buffer: null };
      builder.sign(signer, input, output);
      return output.buffer!;
    },
  };
}

/** Checks the chain in `certificatePath` and that `sign` signs with its key (one test signature), and makes a signer that calls it. */
export async function createRemoteSigner({ certificatePath, sign, timestampAuthorityUrl, now = new Date() }: RemoteSignerOptions): Promise<ProvenanceSigner> {
  const chain = await readChain(certificatePath, now);
  const probe = randomBytes(32);
  const signature = await Promise.resolve()
    .then(() => sign(probe))
    .catch((cause: unknown) => {
      throw new InvalidArgumentError({ argument: 'sign', value: sign, cause, message: `the remote C2PA signer failed to make a test signature: ${(cause as Error).message}; check its credentials and that it can reach the key` });
    });
  if (!verifiesWith(publicKeyOf(chain[0]!), probe, signature)) {
    throw new InvalidArgumentError({ argument: 'sign', value: sign, message: `the remote C2PA signer's test signature does not verify with the signing certificate in ${certificateSetting} (${certificatePath}); it must sign with that certificate's P-256 key, ECDSA with SHA-256` });
  }
  const config = {
    alg: 'es256' as const,
    certs: [Buffer.from(chainPem(chain))],
    // Room for the COSE signature: the chain, the signature and a time-stamp token, as c2pa-rs reserves for its own signers.
    reserveSize: chain.reduce((total, certificate) => total + certificate.rawData.byteLength, 12 * 1024),
    directCoseHandling: false,
    ...(timestampAuthorityUrl ? { tsaUrl: timestampAuthorityUrl } : {}),
  };
  const callback = async (bytes: Buffer) => Buffer.from(await sign(new Uint8Array(bytes)));
  return {
    subject: chain[0]!.subject,
    notAfter: chain[0]!.notAfter,
    // Per call, not a long-lived CallbackSigner: after signing with one, c2pa-node keeps the process alive until it is garbage-collected.
    async sign(builder, input) {
      const output: { buffer: Buffer | null } = { buffer: null };
      await builder.signConfigAsync(callback, config, input, output);
      return output.buffer!;
    },
  };
}

function verifiesWith(key: KeyObject, data: Uint8Array, signature: Uint8Array): boolean {
  return (['der', 'ieee-p1363'] as const).some((dsaEncoding) => {
    try {
      return verify('sha256', data, { key, dsaEncoding }, signature);
    } catch {
      return false;
    }
  });
}

async function readSetting(setting: string, path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (cause) {
    const missing = (cause as NodeJS.ErrnoException).code === 'ENOENT';
    throw new InvalidArgumentError({ argument: setting, value: path, cause, message: `${setting} (${path}) ${missing ? 'does not exist' : `cannot be read: ${(cause as Error).message}`}; set it to ${what}, or ${initHint}` });
  }
}

function parsePrivateKey(pem: string, path: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch (cause) {
    throw new InvalidArgumentError({ argument: keySetting, value: path, cause, message: `${keySetting} (${path}) is not an unencrypted PEM private key (\`BEGIN PRIVATE KEY\` or \`BEGIN EC PRIVATE KEY\`): ${(cause as Error).message}; ${initHint}` });
  }
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (key.asymmetricKeyType !== 'ec' || curve !== 'prime256v1') {
    throw new InvalidArgumentError({ argument: keySetting, value: path, message: `${keySetting} (${path}) is a ${key.asymmetricKeyType}${curve ? ` ${curve}` : ''} key; pixelpipe signs with ES256, which needs an EC P-256 key; ${initHint}` });
  }
  return key;
}

function publicKeyOf(certificate: x509.X509Certificate): KeyObject {
  return createPublicKey({ key: Buffer.from(certificate.publicKey.rawData), format: 'der', type: 'spki' });
}

function chainPem(chain: readonly x509.X509Certificate[]): string {
  return `${chain.map((certificate) => certificate.toString('pem')).join('\n')}\n`;
}

/** The chain in `path`, the signing certificate checked against what c2pa-rs refuses, with the reason and fix for each. */
async function readChain(path: string, now: Date): Promise<x509.X509Certificate[]> {
  const text = await readSetting(certificateSetting, path, 'the PEM certificate chain (signing certificate first)');
  const refuse = (problem: string, fix: string): never => {
    throw new InvalidArgumentError({ argument: certificateSetting, value: path, message: `${certificateSetting} (${path}): ${problem}; ${fix}` });
  };
  const blocks = x509.PemConverter.decodeWithHeaders(text).filter((block) => block.type === 'CERTIFICATE');
  if (blocks.length === 0) refuse('holds no PEM certificate (`-----BEGIN CERTIFICATE-----`)', `set it to the certificate chain, signing certificate first, or ${initHint}`);
  const chain = blocks.map((block, index) => {
    try {
      return new x509.X509Certificate(block.rawData);
    } catch (cause) {
      return refuse(`certificate ${index + 1} cannot be parsed: ${(cause as Error).message}`, 'replace it with the certificate as its CA issued it');
    }
  });
  for (let index = 0; index + 1 < chain.length; index++) {
    if (!(await chain[index]!.verify({ publicKey: chain[index + 1]!.publicKey, signatureOnly: true }, webcrypto))) {
      refuse(`certificate ${index + 2} (${chain[index + 1]!.subject}) did not issue certificate ${index + 1} (${chain[index]!.subject})`, 'order the file as the signing certificate first, then each certificate followed by the one that issued it');
    }
  }
  const leaf = chain[0]!;
  const name = `the signing certificate (${leaf.subject})`;
  if (leaf.notAfter.getTime() < now.getTime()) refuse(`${name} expired on ${leaf.notAfter.toISOString()}`, `renew it with its CA, or ${initHint} (with --force to replace the old ones)`);
  if (leaf.notBefore.getTime() > now.getTime()) refuse(`${name} is not valid until ${leaf.notBefore.toISOString()}`, "check this machine's clock, or use a certificate that is valid now");
  const key = publicKeyOf(leaf);
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    refuse(`${name} has a ${key.asymmetricKeyType} ${key.asymmetricKeyDetails?.namedCurve ?? ''} key`.trimEnd(), `pixelpipe signs with ES256, which needs an EC P-256 key; get a P-256 certificate, or ${initHint}`);
  }
  if (leaf.subject === leaf.issuer) refuse(`${name} is self-signed`, `C2PA needs a signing certificate issued by a CA; ${initHint} (a CA and a certificate it issued)`);
  if (leaf.getExtension(x509.BasicConstraintsExtension)?.ca) refuse(`${name} is a CA certificate`, 'sign with an end-entity certificate (basicConstraints CA:FALSE) that the CA issued');
  const keyUsage = leaf.getExtension(x509.KeyUsagesExtension);
  if (!keyUsage || (keyUsage.usages & x509.KeyUsageFlags.digitalSignature) === 0) {
    refuse(`${name} lacks the digitalSignature key usage, which C2PA requires of a signing certificate`, 'have it issued with keyUsage digitalSignature');
  }
  const usages = leaf.getExtension(x509.ExtendedKeyUsageExtension)?.usages.map(String) ?? [];
  const accepted = Object.entries(claimSigningUsages).map(([oid, label]) => `${label} (${oid})`).join(', ');
  if (usages.includes(anyExtendedKeyUsage)) refuse(`${name} has anyExtendedKeyUsage, which C2PA forbids on a signing certificate`, `have it issued with one of ${accepted} instead`);
  if (!usages.some((usage) => usage in claimSigningUsages)) {
    refuse(`${name} has no extended key usage C2PA accepts for signing (it has ${usages.length ? usages.join(', ') : 'none'})`, `have it issued with one of ${accepted}`);
  }
  if (!leaf.getExtension(x509.AuthorityKeyIdentifierExtension)) refuse(`${name} has no authorityKeyIdentifier extension, which C2PA requires`, 'have its CA issue it with one');
  // c2pa-rs (0.82, in c2pa-node 0.5) reports a valid signature by a certificate without O= as claimSignature.mismatch.
  if (leaf.subjectName.getField('O').length === 0) refuse(`${name} has no organization (O=) in its subject, and c2pa-rs then reports every signature it makes as claimSignature.mismatch`, 'have it issued with an O= attribute naming who signs');
  return chain;
}

/** The files `writeDevelopmentCertificates` wrote. */
export interface DevelopmentCertificates {
  /** `c2pa-cert.pem`: the signing certificate, then the development CA; the value of PIXELPIPE_C2PA_CERT. */
  certificatePath: string;
  /** `c2pa-key.pem`: the signing certificate's key (PKCS#8, readable by its owner only); the value of PIXELPIPE_C2PA_KEY. */
  keyPath: string;
  /** `c2pa-ca.pem`: the development CA alone, for a validator's trust anchors. */
  caPath: string;
  /** When the signing certificate expires. */
  notAfter: Date;
}

const day = 24 * 60 * 60 * 1000;
const ecdsa = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };

/**
 * Makes a development CA and a signing certificate it issued, both ES256, in `dir`. C2PA refuses a
 * self-signed signing certificate, so there are two; validators show the signer as untrusted,
 * since no trust list holds the CA. Refuses to replace files there unless `overwrite`.
 */
export async function writeDevelopmentCertificates(dir: string, { overwrite = false, now = new Date() }: { overwrite?: boolean; now?: Date } = {}): Promise<DevelopmentCertificates> {
  const folder = resolve(dir);
  const paths = { certificatePath: join(folder, 'c2pa-cert.pem'), keyPath: join(folder, 'c2pa-key.pem'), caPath: join(folder, 'c2pa-ca.pem') };
  if (!overwrite) {
    const existing = await Promise.all(Object.values(paths).map((path) => access(path).then(() => path, () => undefined)));
    const found = existing.filter((path) => path !== undefined);
    if (found.length > 0) {
      throw new InvalidArgumentError({ argument: 'dir', value: folder, message: `${found.join(', ')} already exist${found.length === 1 ? 's' : ''}; replace them with --force (\`overwrite\`), or choose another folder with --dir` });
    }
  }
  // A few minutes back, so a verifier whose clock is slightly behind still sees the certificates as valid.
  const notBefore = new Date(now.getTime() - 5 * 60 * 1000);
  const caKeys = (await webcrypto.subtle.generateKey(ecdsa, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const ca = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: serialNumber(),
      name: 'CN=pixelpipe development CA, O=pixelpipe development',
      notBefore,
      notAfter: new Date(now.getTime() + 10 * 365 * day),
      keys: caKeys,
      signingAlgorithm: ecdsa,
      extensions: [new x509.BasicConstraintsExtension(true, 0, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true), await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey, false, webcrypto)],
    },
    webcrypto,
  );
  const signerKeys = (await webcrypto.subtle.generateKey(ecdsa, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const notAfter = new Date(now.getTime() + 2 * 365 * day);
  const signer = await x509.X509CertificateGenerator.create(
    {
      serialNumber: serialNumber(),
      subject: 'CN=pixelpipe development signer, O=pixelpipe development',
      issuer: ca.subject,
      notBefore,
      notAfter,
      publicKey: signerKeys.publicKey,
      signingKey: caKeys.privateKey,
      signingAlgorithm: ecdsa,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.emailProtection]),
        await x509.SubjectKeyIdentifierExtension.create(signerKeys.publicKey, false, webcrypto),
        await x509.AuthorityKeyIdentifierExtension.create(caKeys.publicKey, false, webcrypto),
      ],
    },
    webcrypto,
  );
  const key = x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', signerKeys.privateKey), 'PRIVATE KEY');
  await mkdir(folder, { recursive: true });
  await writeFile(paths.keyPath, `${key}\n`, { mode: 0o600 });
  // `mode` applies only to a new file; a replaced key must not stay readable by others.
  await chmod(paths.keyPath, 0o600);
  await writeFile(paths.certificatePath, chainPem([signer, ca]));
  await writeFile(paths.caPath, chainPem([ca]));
  return { ...paths, notAfter };
}

/** A random positive 128-bit serial number, as CAs are asked to use. */
function serialNumber(): string {
  const bytes = randomBytes(16);
  // The top bit clear keeps it positive; the next set keeps its DER encoding minimal.
  bytes[0] = (bytes[0]! & 0x3f) | 0x40;
  return bytes.toString('hex');
}
