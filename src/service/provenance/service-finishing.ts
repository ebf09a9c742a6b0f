// The finishing a process makes from its settings, the same for `serve`, `worker` and `pixelpipe generate`:
// the screening of its moderation policy, the watermark (unless turned off) and the C2PA signer (when it has keys).
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import type { Settings } from '../../config/settings.js';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import { loadFileSigner, writeDevelopmentCertificates } from './c2pa-keys.js';
import { hasManifest, signImage } from './c2pa-signing.js';
import { defaultRequestLimits } from '../generation/job-request.js';
import { bundledUpscaling, type ImageUpscaling } from '../upscaling/image-upscaling.js';
import { createImageFinishing, type FinishingParts, type ImageFinishing, type Signer, type Watermarker } from './image-finishing.js';
import { embedWatermark } from './watermark.js';
import { watermarkMinimumSide } from './watermark-pixels.js';
import sharp from 'sharp';

const { version } = createRequire(import.meta.url)('../../../package.json') as { version: string };

/** Hides the payload; an image under the watermark's minimum side is stored unmarked (its record says so). */
export const watermarker: Watermarker = async (image, payload) => {
  const { width = 0, height = 0 } = await sharp(image.bytes).metadata();
  if (Math.min(width, height) < watermarkMinimumSide) return { image, embedded: false };
  return { image: { bytes: await embedWatermark(image.bytes, image.mediaType, payload), mediaType: image.mediaType }, embedded: true };
};

/** Where `pixelpipe provenance init` puts development certificates by default, and where they are found without settings. */
export function provenanceDirectory(dataDir: string): string {
  return join(resolve(dataDir), 'provenance');
}

/**
 * The signer of PIXELPIPE_C2PA_CERT and PIXELPIPE_C2PA_KEY, else of the data directory's `provenance/`
 * certificates, checked now (a bad certificate stops the start, naming the file). Without any, it makes
 * development ones when `createDevelopment` (the CLI: images are signed from the first one), else
 * gives undefined and images are stored unsigned; either is said once through `onNotice`.
 */
export async function signerFromSettings(settings: Pick<Settings, 'c2paCert' | 'c2paKey' | 'dataDir'>, { onNotice, createDevelopment = false }: { onNotice: (message: string) => void; createDevelopment?: boolean }): Promise<Signer | undefined> {
  let { c2paCert, c2paKey } = settings;
  if (c2paCert === undefined && c2paKey === undefined) {
    const dir = provenanceDirectory(settings.dataDir);
    const files = { certificate: join(dir, 'c2pa-cert.pem'), key: join(dir, 'c2pa-key.pem') };
    if (!existsSync(files.certificate) || !existsSync(files.key)) {
      if (!createDevelopment) {
        onNotice(`no C2PA signing key: images are stored unsigned (their records say so); set PIXELPIPE_C2PA_CERT and PIXELPIPE_C2PA_KEY, or make development ones in ${dir} with \`pixelpipe provenance init\``);
        return undefined;
      }
      await writeDevelopmentCertificates(dir);
      onNotice(`made a development C2PA signing certificate in ${dir}: images are signed, and validators show the signer as untrusted; set PIXELPIPE_C2PA_CERT and PIXELPIPE_C2PA_KEY to sign with your own`);
    }
    ({ certificate: c2paCert, key: c2paKey } = files);
  }
  if (c2paCert === undefined || c2paKey === undefined) {
    const missing = c2paCert === undefined ? 'PIXELPIPE_C2PA_CERT' : 'PIXELPIPE_C2PA_KEY';
    throw new InvalidArgumentError({ argument: missing, value: undefined, message: `${missing} is not set while ${missing === 'PIXELPIPE_C2PA_CERT' ? 'PIXELPIPE_C2PA_KEY' : 'PIXELPIPE_C2PA_CERT'} is: set both (the certificate chain and its key), or neither` });
  }
  const signer = await loadFileSigner({ certificatePath: c2paCert, keyPath: c2paKey });
  return {
    name: signer.subject,
    async sign(image, context, original) {
      // A hosted provider's own credentials stay in the chain as the parent ingredient.
      const credentialed = context.hosted && (await hasManifest(original.bytes, original.mediaType));
      const claim = {
        generator: { name: 'pixelpipe' as const, version },
        softwareAgent: context.softwareAgent,
        recordId: context.recordId,
        settings: context.settings,
        ...(context.input ? { edit: { input: context.input } } : {}),
        ...(credentialed ? { hostedIngredient: original } : {}),
        ...(context.upscale ? { upscaled: { softwareAgent: context.upscale.model } } : {}),
      };
      return { bytes: await signImage(image.bytes, image.mediaType, claim, signer), mediaType: image.mediaType };
    },
  };
}

/** What finishing needs besides the settings. */
export interface FinishingDependencies {
  /** Told once what is off (no signing key). */
  onNotice?: (message: string) => void;
  /** The screening step, made by the caller (it needs the database for the audit log). */
  screen?: FinishingParts['screen'];
  /** Make development certificates in the data directory when none are set or there (see `signerFromSettings`). */
  createDevelopmentCertificates?: boolean;
  /** The largest image a request's `upscale` may make. Default `defaultRequestLimits.maxUpscalePixels`. */
  maxUpscalePixels?: number;
  /** The upscaler a request's `upscale` runs on; default the bundled one, under `maxUpscalePixels`. */
  upscaling?: ImageUpscaling;
}

/** The finishing the settings describe. */
export async function finishingFromSettings(settings: Settings, { onNotice = () => undefined, screen, createDevelopmentCertificates, maxUpscalePixels = defaultRequestLimits.maxUpscalePixels, upscaling = bundledUpscaling({ maxOutputPixels: maxUpscalePixels, threads: settings.threads }) }: FinishingDependencies = {}): Promise<ImageFinishing> {
  const signer = await signerFromSettings(settings, { onNotice, createDevelopment: createDevelopmentCertificates });
  return createImageFinishing({ ...(screen ? { screen } : {}), upscaling, ...(settings.watermark ? { watermark: watermarker } : {}), ...(signer ? { signer } : {}) });
}
