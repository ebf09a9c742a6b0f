// Reads and validates an image's C2PA manifest: whether it holds, who signed it, what was done, and the pixelpipe record it names.
import { Reader } from '@contentauth/c2pa-node';
import { detectImageMediaType } from '../../providers/shared/image-data.js';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import { recordAssertionLabel } from './c2pa-signing.js';

/** One action of the active manifest. */
export interface ProvenanceAction {
  /** e.g. `c2pa.created`, `c2pa.opened`, `c2pa.edited`. */
  action: string;
  /** The software or model that did it. */
  softwareAgent?: string;
  /** IPTC digital source type, e.g. trainedAlgorithmicMedia for AI-made content. */
  digitalSourceType?: string;
}

/** What one manifest says: who signed it, with what, what was done and from what. */
export interface ProvenanceStep {
  /** The signing certificate's common name and organisation. */
  signer?: string;
  /** e.g. `pixelpipe/0.1.0`. */
  claimGenerator?: string;
  actions: ProvenanceAction[];
  ingredients: ProvenanceIngredient[];
  /** The pixelpipe record the manifest names, when pixelpipe signed it. */
  record?: { recordId: string; settings: Record<string, unknown> };
}

/** One ingredient of a manifest. */
export interface ProvenanceIngredient {
  title?: string;
  /** `parentOf` (what this image was made from), `componentOf` or `inputTo`. */
  relationship: string;
  /** Whether the ingredient came with its own C2PA manifest, kept in this file's store. */
  hasManifest: boolean;
  /** Whether the ingredient's own manifest validated; absent when it had none. */
  state?: 'valid' | 'invalid';
  /** What the ingredient's own manifest says, so a chain of edits reads back to the first image. */
  manifest?: ProvenanceStep;
}

/** What an image's content credentials say and whether they hold; the rest describes the active manifest. */
export interface ProvenanceReading extends ProvenanceStep {
  /** `valid`: the manifest and its hard binding to these bytes hold; `invalid`: something fails (`errors`); `absent`: no manifest. */
  state: 'valid' | 'invalid' | 'absent';
  /** Whether the signing certificate chains to a trust anchor; a valid manifest by an unknown signer is valid and untrusted. */
  trusted: boolean;
  /** Each failed check, as `code: explanation`; trust failures are in `trusted` instead. */
  errors: string[];
}

export interface ReadProvenanceOptions {
  /** Certificates whose chains count as trusted, e.g. the C2PA trust list (PEM); without them no signer is trusted. */
  trustAnchors?: string;
  /** What to call the bytes in messages, e.g. the file's path. */
  name?: string;
}

interface StatusEntry {
  code: string;
  explanation?: string;
}
interface ValidationResults {
  activeManifest?: { failure?: StatusEntry[] };
}
interface ManifestJson {
  claim_generator?: string;
  claim_generator_info?: { name: string; version?: string }[];
  signature_info?: { common_name?: string; issuer?: string };
  assertions?: { label: string; data: unknown }[];
  ingredients?: { title?: string; relationship?: string; active_manifest?: string; validation_status?: StatusEntry[]; validation_results?: ValidationResults }[];
}
interface StoreJson {
  active_manifest?: string;
  manifests?: Record<string, ManifestJson>;
  validation_status?: StatusEntry[];
  validation_results?: ValidationResults;
  validation_state?: string;
}
interface ActionJson {
  action: string;
  softwareAgent?: string | { name?: string };
  digitalSourceType?: string;
}

// Failures that say only that no trust anchor vouches for the signer, not that anything was altered.
const trustCodes = new Set(['signingCredential.untrusted', 'timeStamp.untrusted']);

/**
 * The content credentials in `bytes`, validated by c2pa-rs: the claim signature, every assertion's
 * hash, and the hard binding to the bytes (one changed pixel fails it). `mediaType` is checked
 * against the bytes when given; a file that is not an image is refused.
 */
export async function readProvenance(bytes: Uint8Array, mediaType?: string, { trustAnchors, name = 'the file' }: ReadProvenanceOptions = {}): Promise<ProvenanceReading> {
  const detected = detectImageMediaType(bytes);
  if (detected === undefined) {
    const start = bytes.byteLength === 0 ? 'it is empty' : `its first bytes are ${Buffer.from(bytes.subarray(0, 8)).toString('hex').replace(/(..)(?!$)/g, '$1 ')}`;
    throw new InvalidArgumentError({ argument: 'bytes', value: name, message: `${name} is not a PNG, JPEG, WebP or GIF image (${start}); give the image file itself` });
  }
  if (mediaType !== undefined && mediaType !== detected) {
    throw new InvalidArgumentError({ argument: 'mediaType', value: mediaType, message: `\`mediaType\` says ${mediaType} but ${name} is ${detected}; leave it out to go by the bytes` });
  }
  const settings = trustAnchors ? { trust: { verify_trust_list: true, trust_anchors: trustAnchors } } : undefined;
  let store: StoreJson;
  try {
    const reader = await Reader.fromAsset({ buffer: Buffer.from(bytes), mimeType: detected }, settings);
    if (reader === null) return { state: 'absent', trusted: false, actions: [], ingredients: [], errors: [] };
    store = reader.json() as StoreJson;
  } catch (cause) {
    // The file is an image, so what failed is its C2PA data or the structure the binding covers.
    return { state: 'invalid', trusted: false, actions: [], ingredients: [], errors: [`the C2PA data cannot be read: ${(cause as Error).message}`] };
  }
  const manifest = store.active_manifest === undefined ? undefined : store.manifests?.[store.active_manifest];
  if (!manifest) return { state: 'invalid', trusted: false, actions: [], ingredients: [], errors: ['the manifest store has no active manifest'] };

  const errors = failures(store.validation_results?.activeManifest?.failure ?? store.validation_status);
  const state = errors.length > 0 ? 'invalid' : 'valid';
  return {
    state,
    trusted: state === 'valid' && store.validation_state === 'Trusted',
    ...stepOf(manifest, store.manifests ?? {}, new Set([store.active_manifest!])),
    errors,
  };
}

/** What `manifest` says, its ingredients' manifests followed through the store (each once, so a malformed store cannot loop). */
function stepOf(manifest: ManifestJson, manifests: Record<string, ManifestJson>, seen: Set<string>): ProvenanceStep {
  const generator = manifest.claim_generator_info?.[0];
  const signature = manifest.signature_info;
  const signer = [signature?.common_name, signature?.issuer && signature.issuer !== signature.common_name ? `(${signature.issuer})` : undefined].filter(Boolean).join(' ');
  const claimGenerator = generator ? (generator.version ? `${generator.name}/${generator.version}` : generator.name) : manifest.claim_generator;
  const record = manifest.assertions?.find((assertion) => assertion.label === recordAssertionLabel)?.data as ProvenanceStep['record'] | undefined;
  return {
    ...(signer ? { signer } : {}),
    ...(claimGenerator ? { claimGenerator } : {}),
    actions: actionsOf(manifest),
    ingredients: (manifest.ingredients ?? []).map((ingredient) => {
      const label = ingredient.active_manifest;
      const own = label !== undefined && !seen.has(label) ? manifests[label] : undefined;
      if (own) seen.add(label!);
      const ingredientErrors = failures(ingredient.validation_results?.activeManifest?.failure ?? ingredient.validation_status);
      return {
        ...(ingredient.title !== undefined ? { title: ingredient.title } : {}),
        relationship: ingredient.relationship ?? 'componentOf',
        hasManifest: label !== undefined,
        ...(label !== undefined ? { state: ingredientErrors.length > 0 ? ('invalid' as const) : ('valid' as const) } : {}),
        ...(own ? { manifest: stepOf(own, manifests, seen) } : {}),
      };
    }),
    ...(record ? { record: { recordId: record.recordId, settings: record.settings } } : {}),
  };
}

function failures(entries: StatusEntry[] | undefined): string[] {
  return (entries ?? []).filter((entry) => !trustCodes.has(entry.code)).map((entry) => (entry.explanation ? `${entry.code}: ${entry.explanation}` : entry.code));
}

function actionsOf(manifest: ManifestJson): ProvenanceAction[] {
  const assertions = (manifest.assertions ?? []).filter((assertion) => /^c2pa\.actions(\.v\d+)?$/.test(assertion.label));
  return assertions.flatMap((assertion) =>
    ((assertion.data as { actions?: ActionJson[] }).actions ?? []).map(({ action, softwareAgent, digitalSourceType }) => {
      const agent = typeof softwareAgent === 'string' ? softwareAgent : softwareAgent?.name;
      return { action, ...(agent ? { softwareAgent: agent } : {}), ...(digitalSourceType ? { digitalSourceType } : {}) };
    }),
  );
}
