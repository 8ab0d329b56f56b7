import { mkdir, readlink, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

let generation = 0;

/**
 * Writes a secret the way kubelet mounts one (its atomic writer): the files in a fresh
 * `..<timestamp>` directory, `..data` swapped to it with one rename, and each key a symlink through
 * `..data`. A second call is a rotation: readers see the old files or the new ones, never a mix.
 */
export async function writeMountedSecret(root: string, name: string, files: Record<string, string>): Promise<void> {
  const dir = join(root, name);
  await mkdir(dir, { recursive: true });
  const stamp = `..${Date.now()}_${++generation}`;
  await mkdir(join(dir, stamp));
  for (const [k, v] of Object.entries(files)) await writeFile(join(dir, stamp, k), v);
  const previous = await readlink(join(dir, '..data')).catch(() => undefined);
  await symlink(stamp, join(dir, '..data_tmp'));
  await rename(join(dir, '..data_tmp'), join(dir, '..data'));
  for (const k of Object.keys(files)) await symlink(join('..data', k), join(dir, k)).catch((e: NodeJS.ErrnoException) => (e.code === 'EEXIST' ? undefined : Promise.reject(e)));
  if (previous) await rm(join(dir, previous), { recursive: true, force: true });
}
