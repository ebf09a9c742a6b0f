// Secrets every process of one service shares (webhook signatures, signed blob URLs): made once, kept in the database.
import { randomBytes } from 'node:crypto';
import type { Queryable } from './database/database.js';

/** The secret called `name`, made with 32 random bytes the first time any process asks. */
export async function serviceSecret(database: Queryable, name: string): Promise<string> {
  await database.query('INSERT INTO pixelpipe.service_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING', [name, randomBytes(32).toString('base64url')]);
  const [row] = await database.query<{ value: string }>('SELECT value FROM pixelpipe.service_secrets WHERE name = $1', [name]);
  return row!.value;
}
