/**
 * The module a worker thread starts from. By default the compiled worker/main.js next to this
 * module's directory (the layout of dist/); the shipped bundle's entry (src/entry/main.ts) points it
 * at the bundled worker entry beside itself before anything starts a worker.
 */
let entry = new URL('../worker/main.js', import.meta.url);

export function workerEntry(): URL {
  return entry;
}

export function setWorkerEntry(url: URL): void {
  entry = url;
}
