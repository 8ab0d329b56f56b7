/**
 * The open streams of one connection by id: at most a connection's concurrent-stream limit (100),
 * usually a handful. A packed array searched from the newest end, not a Map: a Map whose entries
 * come and go at request rate rebuilds its hash table every so often, and a table that lived long
 * enough to be promoted to V8's old generation keeps pointing at the streams that were open when it
 * was replaced, so each rebuild kept finished requests alive until the next full collection.
 */
export class StreamTable<S extends { readonly id: number }> {
  private readonly open: S[] = [];

  get size(): number {
    return this.open.length;
  }

  get(id: number): S | undefined {
    const open = this.open;
    for (let i = open.length - 1; i >= 0; i--) if (open[i].id === id) return open[i];
    return undefined;
  }

  has(id: number): boolean {
    return this.get(id) !== undefined;
  }

  /** Adds a stream whose id is not in the table. */
  add(stream: S): void {
    this.open.push(stream);
  }

  /** Removes the stream with this id; false when there was none. */
  delete(id: number): boolean {
    const open = this.open;
    for (let i = open.length - 1; i >= 0; i--) {
      if (open[i].id !== id) continue;
      const last = open.pop()!;
      if (i < open.length) open[i] = last;
      return true;
    }
    return false;
  }

  /** A copy of the open streams (safe to iterate while streams close). */
  list(): S[] {
    return this.open.slice();
  }
}
