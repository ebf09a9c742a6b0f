// Estimated cost of a call from the price table (data/prices.json): list prices, each with its source and date.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { ImageModelCost } from '../../spec/image-model-usage.js';

const priceTableSchema = z.object({
  entries: z.array(
    z.object({
      provider: z.string(),
      model: z.string(),
      perImage: z.number().nonnegative().optional(),
      perMegapixel: z.number().nonnegative().optional(),
      variants: z.record(z.string(), z.number().nonnegative()).optional(),
      source: z.string(),
      date: z.string().regex(/^\d{4}-\d{2}-\d{2}$/),
    }),
  ),
});

export type PriceEntry = z.infer<typeof priceTableSchema>['entries'][number];

let table: PriceEntry[] | undefined;

/** The table, read once; src/ and dist/ both sit three folders below the package root. */
export function priceTable(): PriceEntry[] {
  table ??= priceTableSchema.parse(JSON.parse(readFileSync(new URL('../../../data/prices.json', import.meta.url), 'utf8'))).entries;
  return table;
}

export interface CostQuery {
  provider: string;
  modelId: string;
  /** Images made (or to be made). */
  images: number;
  /** Output size, for per-megapixel prices. */
  width?: number;
  height?: number;
  /** The model's price variant, e.g. `medium 1024x1024` or `TURBO`. */
  variant?: string;
}

/** Undefined when the model has no entry (local models, custom Replicate models, Firefly's contract pricing). */
export function estimateCost({ provider, modelId, images, width, height, variant }: CostQuery, entries: PriceEntry[] = priceTable()): ImageModelCost | undefined {
  const entry = entries.find((candidate) => candidate.provider === provider && (candidate.model === modelId || modelId.startsWith(`${candidate.model}:`)));
  if (!entry) return undefined;
  const round = (value: number) => Math.round(value * 1e6) / 1e6;
  const variantPrice = variant === undefined ? undefined : entry.variants?.[variant];
  if (variantPrice !== undefined) return { amountUsd: round(images * variantPrice), basis: `${images} × $${variantPrice} (${variant})`, source: entry.source, priceDate: entry.date };
  if (entry.perMegapixel !== undefined && width !== undefined && height !== undefined) {
    const megapixels = Math.max(1, Math.ceil((width * height) / 1_000_000));
    return { amountUsd: round(images * megapixels * entry.perMegapixel), basis: `${images} × ${megapixels} MP × $${entry.perMegapixel}`, source: entry.source, priceDate: entry.date };
  }
  const perImage = entry.perImage ?? entry.perMegapixel;
  if (perImage === undefined) return undefined;
  return { amountUsd: round(images * perImage), basis: `${images} × $${perImage}${variant ? ` (no price for ${variant}; the model's base price)` : ''}`, source: entry.source, priceDate: entry.date };
}
