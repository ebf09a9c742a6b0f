// Chooses the database from configuration: embedded PGlite by default, a PostgreSQL server at scale.
import { join } from 'node:path';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import type { Database } from './database.js';
import { PGliteDatabase, type PGliteDatabaseConfig } from './pglite-database.js';
import { PostgresDatabase, type PostgresDatabaseConfig } from './postgres-database.js';

/** Which database keeps records and jobs, with its settings. */
export type DatabaseConfig = ({ type: 'pglite' } & PGliteDatabaseConfig) | ({ type: 'postgres' } & PostgresDatabaseConfig);

/** The values `type` may take. */
export const databaseTypes: readonly DatabaseConfig['type'][] = ['pglite', 'postgres'];

/** Where the settings of `defaultDatabaseConfig` come from. */
export interface DefaultDatabaseOptions {
  /** pixelpipe's data directory; PGlite keeps its files in its `database` folder. */
  dataDirectory: string;
  /** PIXELPIPE_DATABASE_URL, when set: use that PostgreSQL server instead. */
  url?: string;
}

/** A PostgreSQL server when a URL is given, else PGlite in the `database` folder of the data directory. */
export function defaultDatabaseConfig({ dataDirectory, url }: DefaultDatabaseOptions): DatabaseConfig {
  if (url) return { type: 'postgres', url };
  return { type: 'pglite', dataDir: join(dataDirectory, 'database') };
}

/** Opens the database `config.type` names; an unknown type is refused with an `InvalidArgumentError` listing the known ones. */
export async function createDatabase(config: DatabaseConfig): Promise<Database> {
  switch (config.type) {
    case 'pglite':
      return await PGliteDatabase.open(config);
    case 'postgres':
      return new PostgresDatabase(config);
    default: {
      const type = (config as { type?: unknown }).type;
      throw new InvalidArgumentError({
        argument: 'type',
        value: type,
        message: `database \`type\` must be one of ${databaseTypes.join(', ')}, got ${JSON.stringify(type)}`,
      });
    }
  }
}
