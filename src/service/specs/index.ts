// Spec files for `pixelpipe build`: load a project, count and expand its outputs, key them, and read and write the lockfile.
export { SpecFileError, type SpecFileErrorOptions } from './spec-file-error.js';
export { loadProject, projectFileNames } from './load-project.js';
export { countOutputs, expandProject, hardOutputLimit, type ExpandOptions } from './expand-project.js';
export { canonicalJson, outputKey, type OutputIdentity } from './output-key.js';
export { readLockfile, formatLockfile, writeLockfile } from './lockfile.js';
export { specJsonSchema, formatSpecJsonSchema } from './json-schema.js';
export { locateField, type LoadedSpec, type Project } from './project-types.js';
export type { DataRow, DataTable } from './data-files.js';
export type { Axis, Matrix } from './matrix.js';
export type { SeedRule } from './seeds.js';
export type { SizeTarget } from './sizes.js';
export type { SourceLocation } from './spec-files.js';
export type { Template } from './templates.js';
export type { RankerSetup } from './spec-schema.js';
