import { watch, type FSWatcher } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';

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

  async start(): Promise<void> {
    for (const p of this.paths) {
      const full = resolve(p);
      const isDir = (await stat(full)).isDirectory();
      const dir = isDir ? full : dirname(full);
      const name = basename(full);
      const w = watch(dir, { recursive: isDir, persistent: false }, (_event, file) => {
        // a directory: any config-looking file; a file: only that name (or the ..data symlink swap)
        if (!isDir && file !== null && file !== name && !String(file).startsWith('..')) return;
        this.schedule();
      });
      w.on('error', () => {}); // a watched directory that disappears: the next reload reports it
      this.watchers.push(w);
    }
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
