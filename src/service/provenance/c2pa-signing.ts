// Signs an image with a C2PA manifest: which model made it, from which input, and the pixelpipe record it belongs to.
import { Builder, Reader } from '@contentauth/c2pa-node';
import { detectImageMediaType } from '../../providers/shared/image-data.js';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import { extensionOfMediaType } from '../image-files.js';
import type { ProvenanceSigner } from './c2pa-keys.js';

/** IPTC's digital source type for media a trained model made. */
export const trainedAlgorithmicMedia = 'http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia';
/** Label of the assertion holding the pixelpipe record. */
export const recordAssertionLabel = 'ai.pixelpipe.record';
/** Formats pixelpipe signs. */
export const signableMediaTypes: readonly string[] = ['image/png', 'image/jpeg', 'image/webp'];

/** An encoded image that went into the one being signed. */
export interface ProvenanceImage {
  bytes: Uint8Array;
  mediaType: string;
  /** A name to show for it, e.g. its file name. */
  title?: string;
}

/** What the manifest says about the image. */
export interface ProvenanceClaim {
  /** The claim generator, `pixelpipe/<version>`. */
  generator: { name: 'pixelpipe'; version: string };
  /** What made the image: the model id, or `provider:model` for a hosted one. */
  softwareAgent: string;
  /** The pixelpipe record the image belongs to (a UUID). */
  recordId: string;
  /** The settings the record holds (prompt, seed, steps, ...); JSON-serialisable. */
  settings: object;
  /** The input of an image-to-image, inpaint, outpaint or upscale; its own credentials, if any, are kept. */
  edit?: { input: ProvenanceImage };
  /**
   * A hosted provider's output that carries the provider's own C2PA manifest (OpenAI's, Adobe's).
   * It becomes the parent ingredient, so the provider's claim stays in the chain instead of being stripped.
   */
  hostedIngredient?: ProvenanceImage;
  /** The image was upscaled after it was made (`c2pa.resized`), by this upscaler. */
  upscaled?: { softwareAgent: string };
}

interface Action {
  action: string;
  digitalSourceType?: string;
  softwareAgent?: { name: string };
  parameters?: { ingredientIds: string[] };
}

interface Ingredient {
  label: string;
  relationship: 'parentOf' | 'inputTo';
  image: ProvenanceImage;
}

// The image itself is the picture a viewer shows; a claim thumbnail would roughly double the file.
const builderSettings = { builder: { thumbnail: { enabled: false } } };

/**
 * `bytes` with a C2PA manifest embedded (PNG, JPEG or WebP, as `mediaType` says). Whatever else the
 * file holds (a PNG's `parameters` and `pixelpipe` chunks, EXIF, XMP) stays, under the hard binding.
 *
 * A new image gets `c2pa.created`; an edit opens its input as the parent ingredient and adds
 * `c2pa.edited`; both name the model and IPTC's trainedAlgorithmicMedia. A hosted provider's
 * credentialed output is opened as the parent instead, since its own manifest says what its model
 * did; an edit's input then goes in as `inputTo`. An upscale after the model adds `c2pa.resized`,
 * naming the upscaler.
 */
export async function signImage(bytes: Uint8Array, mediaType: string, claim: ProvenanceClaim, signer: ProvenanceSigner): Promise<Uint8Array> {
  checkImage(bytes, mediaType, 'bytes');
  if (claim.edit) checkImage(claim.edit.input.bytes, claim.edit.input.mediaType, 'edit.input');
  if (claim.hostedIngredient) checkImage(claim.hostedIngredient.bytes, claim.hostedIngredient.mediaType, 'hostedIngredient');
  else if (await hasManifest(bytes, mediaType)) {
    throw new InvalidArgumentError({ argument: 'bytes', value: `<${bytes.byteLength} bytes>`, message: 'the image already carries C2PA credentials, which signing would replace; pass the credentialed original as `hostedIngredient` to keep them in the chain' });
  }

  const { actions, ingredients } = describe(claim);
  if (claim.upscaled) actions.push({ action: 'c2pa.resized', softwareAgent: { name: claim.upscaled.softwareAgent } });
  const builder = Builder.withJson(
    {
      claim_generator_info: [claim.generator],
      title: `${claim.recordId}${extensionOfMediaType[mediaType]}`,
      format: mediaType,
      assertions: [
        { label: 'c2pa.actions', data: { actions } },
        { label: recordAssertionLabel, data: { recordId: claim.recordId, settings: claim.settings } },
      ],
    },
    builderSettings,
  );
  for (const { label, relationship, image } of ingredients) {
    await builder.addIngredient(JSON.stringify({ label, relationship, title: image.title ?? `${label}${extensionOfMediaType[image.mediaType]}`, format: image.mediaType }), { buffer: Buffer.from(image.bytes), mimeType: image.mediaType });
  }
  return new Uint8Array(await signer.sign(builder, { buffer: Buffer.from(bytes), mimeType: mediaType }));
}

function describe({ softwareAgent, edit, hostedIngredient }: ProvenanceClaim): { actions: Action[]; ingredients: Ingredient[] } {
  const agent = { name: softwareAgent };
  if (hostedIngredient) {
    const hosted: Ingredient = { label: 'hosted-output', relationship: 'parentOf', image: hostedIngredient };
    return {
      actions: [{ action: 'c2pa.opened', parameters: { ingredientIds: [hosted.label] } }],
      ingredients: [hosted, ...(edit ? [{ label: 'edit-input', relationship: 'inputTo', image: edit.input } as const] : [])],
    };
  }
  if (edit) {
    return {
      actions: [
        { action: 'c2pa.opened', parameters: { ingredientIds: ['edit-input'] } },
        { action: 'c2pa.edited', digitalSourceType: trainedAlgorithmicMedia, softwareAgent: agent },
      ],
      ingredients: [{ label: 'edit-input', relationship: 'parentOf', image: edit.input }],
    };
  }
  return { actions: [{ action: 'c2pa.created', digitalSourceType: trainedAlgorithmicMedia, softwareAgent: agent }], ingredients: [] };
}

function checkImage(bytes: Uint8Array, mediaType: string, argument: string): void {
  if (!signableMediaTypes.includes(mediaType)) {
    throw new InvalidArgumentError({ argument, value: mediaType, message: `\`${argument}\` must be ${signableMediaTypes.join(', ')} to carry C2PA credentials here, got ${JSON.stringify(mediaType)}; convert it first` });
  }
  const detected = detectImageMediaType(bytes);
  if (detected !== mediaType) {
    throw new InvalidArgumentError({ argument, value: mediaType, message: `\`${argument}\` is said to be ${mediaType} but its bytes are ${detected ?? 'not a PNG, JPEG, WebP or GIF image'}; pass the media type the bytes really have` });
  }
}

/** Whether the image carries C2PA credentials (valid or not), read without validating them. */
export async function hasManifest(bytes: Uint8Array, mediaType: string): Promise<boolean> {
  return (await Reader.fromAsset({ buffer: Buffer.from(bytes), mimeType: mediaType }, { verify: { verify_after_reading: false } }).catch(() => null)) !== null;
}
