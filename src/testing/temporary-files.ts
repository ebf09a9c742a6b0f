// Temporary folders for one test file, removed when its tests end, and files written into them.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after } from 'node:test';

const folders: string[] = [];
after(() => Promise.all(folders.map((folder) => rm(folder, { recursive: true, force: true }))));

/** A new empty folder under the system's temporary folder. */
export async function temporaryFolder(prefix: string): Promise<string> {
  const folder = await mkdtemp(join(tmpdir(), prefix));
  folders.push(folder);
  return folder;
}

/** A new folder holding these files (paths relative to it; folders are made as needed). */
export async function writeProject(files: Record<string, string>, prefix = 'pixelpipe-specs-'): Promise<string> {
  const root = await temporaryFolder(prefix);
  for (const [name, text] of Object.entries(files)) {
    await mkdir(dirname(join(root, name)), { recursive: true });
    await writeFile(join(root, name), text);
  }
  return root;
}
