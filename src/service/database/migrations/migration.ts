// The shape of one schema migration: a number that orders it, a name, and the SQL it runs once.

/** One step of the schema, applied once per database, in `version` order. */
export interface Migration {
  /** Position in the sequence, from 1; never reused or renumbered once released. */
  version: number;
  /** Short kebab-case name, kept in `pixelpipe.schema_migrations` beside the version. */
  name: string;
  /** Statements to run, separated by `;`, without parameters; they run in one transaction. */
  sql: string;
}
