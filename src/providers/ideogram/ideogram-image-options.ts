// Provider options only Ideogram 3.0 understands (`providerOptions.ideogram`).
import { z } from 'zod';

/** Rendering speeds of Ideogram 3.0 (components.schemas.RenderingSpeed); each is priced differently. */
export const ideogramRenderingSpeeds = ['FLASH', 'TURBO', 'BALANCED', 'DEFAULT', 'QUALITY'] as const;

const colorPaletteSchema = z.union([
  z.object({
    /** A preset palette. */
    name: z.enum(['EMBER', 'FRESH', 'JUNGLE', 'MAGIC', 'MELON', 'MOSAIC', 'PASTEL', 'ULTRAMARINE']),
  }).strict(),
  z.object({
    /** 1–8 colours, e.g. `{ colorHex: '#b470b3', colorWeight: 0.5 }`, heaviest first. */
    members: z.array(z.object({ colorHex: z.string().regex(/^#(?:[0-9a-fA-F]{3}){1,2}$/), colorWeight: z.number().min(0.05).max(1).optional() }).strict()).min(1).max(8),
  }).strict(),
]);

/**
 * Request fields of POST /v1/ideogram-v3/generate, /edit and /remix
 * (https://developer.ideogram.ai/api-reference/api-reference/generate-v3) that have no generic call option,
 * in camelCase. Unknown keys are refused so a typo shows.
 */
export const ideogramImageOptionsSchema = z
  .object({
    /** FLASH, TURBO, BALANCED, DEFAULT (the API's default) or QUALITY: speed against quality, and the price (`rendering_speed`). */
    renderingSpeed: z.enum(ideogramRenderingSpeeds).optional(),
    /** AUTO, ON or OFF: whether Ideogram rewrites the prompt first (`magic_prompt`); the rewrite is reported as `revisedPrompt`. */
    magicPrompt: z.enum(['AUTO', 'ON', 'OFF']).optional(),
    /** AUTO, GENERAL, REALISTIC, DESIGN, FICTION, STYLIZED or CUSTOM (`style_type`). */
    styleType: z.enum(['AUTO', 'GENERAL', 'REALISTIC', 'DESIGN', 'FICTION', 'STYLIZED', 'CUSTOM']).optional(),
    /** A named artistic preset such as `WATERCOLOR` or `TRAVEL_POSTER` (`style_preset`). */
    stylePreset: z.string().regex(/^[A-Z0-9_]+$/, 'a preset name in capitals, e.g. WATERCOLOR').optional(),
    /** 8-digit hexadecimal style codes (`style_codes`); not together with `styleType`. */
    styleCodes: z.array(z.string().regex(/^[0-9a-fA-F]{8}$/)).min(1).optional(),
    /** A preset palette by name, or up to 8 colours with weights (`color_palette`). */
    colorPalette: colorPaletteSchema.optional(),
    /** A custom model, `model/<name>/version/<version>` (`custom_model_uri`). */
    customModelUri: z.string().regex(/^model\/[^/]+\/version\/[^/]+$/).optional(),
  })
  .strict()
  .refine((options) => !(options.styleCodes && options.styleType), { message: 'styleCodes cannot be used together with styleType', path: ['styleCodes'] });

export type IdeogramImageOptions = z.infer<typeof ideogramImageOptionsSchema>;
