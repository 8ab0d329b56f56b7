import { watch, type FSWatcher } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';

/**
 * Watches config files and directories and calls `onChange` once per burst of changes.
 * A file is watched through its directory, so editors' and kubelet's atomic-rename writes
 * (write a temp file, rename it over the old one) are seen too.
 */
export class ConfigWatcher {
  private readonly watchers: FSWatcher[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly paths: readonly string[],
    private readonly onChange: () => void,
    private readonly debounceMs = 100,
  ) {}

  /** Directories watched so far (a directory tree gains watchers as subdirectories appear). */
  private readonly watchedDirs = new Set<string>();

  async start(): Promise<void> {
    for (const p of this.paths) {
      const full = resolve(p);
      const isDir = (await stat(full)).isDirectory();
      if (isDir) await this.watchTree(full);
      else this.watchDir(dirname(full), basename(full));
    }
  }

  /**
   * Every directory of a tree, each watched on its own. Node's recursive watch on Linux follows
   * files by inode, so after an atomic rename it would miss the next in-place edit of that file;
   * a directory watch sees its entries by name, whatever inode they are.
   */
  private async watchTree(dir: string): Promise<void> {
    this.watchDir(dir, undefined);
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return; // gone: the next reload reports it
    }
    for (const e of entries) if (e.isDirectory() && !e.name.startsWith('.')) await this.watchTree(join(dir, e.name));
  }

  /** `only`: a file watched through its directory: just that name (or the ..data symlink swap). */
  private watchDir(dir: string, only: string | undefined): void {
    const key = `${dir}\u0000${only ?? ''}`;
    if (this.watchedDirs.has(key)) return;
    this.watchedDirs.add(key);
    const w = watch(dir, { persistent: false }, (_event, file) => {
      if (only !== undefined && file !== null && file !== only && !String(file).startsWith('..')) return;
      // a new subdirectory of a watched tree gets its own watcher
      if (only === undefined && file !== null) void this.watchTree(dir).catch(() => {});
      this.schedule();
    });
    w.on('error', () => {}); // a watched directory that disappears: the next reload reports it
    this.watchers.push(w);
  }

  private schedule(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.onChange(), this.debounceMs);
  }

  close(): void {
    clearTimeout(this.timer);
    for (const w of this.watchers) w.close();
  }
}
