/**
 * What becomes of the request, as shares of all such requests: a fault or a rate limit stops some
 * of them, weighted clusters split the rest. Shares add up to 100 once the walk settles.
 */

/** One way the request ends. */
export interface Outcome {
  /** The status the client gets, when the proxy answers (absent: the upstream's, or undecided). */
  readonly status?: number;
  /** Envoy's short response flag. */
  readonly flag?: string;
  /** Envoy's %RESPONSE_CODE_DETAILS%. */
  readonly details?: string;
  /** What decides it: a filter, the router, the listener. */
  readonly by: string;
  /** Proxied: the cluster and the host picked. */
  readonly cluster?: string;
  readonly host?: string;
  readonly summary: string;
}

export interface SharedOutcome extends Outcome {
  /** Percent of such requests that end so. */
  readonly share: number;
}

export class OutcomeShares {
  /** Percent of requests still going. */
  private remaining = 100;
  private readonly list: SharedOutcome[] = [];

  /** Nothing is left going: later steps see no request. */
  get done(): boolean {
    return this.remaining <= 1e-9;
  }

  /** `percent` of the requests still going end here with `o`. */
  stop(percent: number, o: Outcome): void {
    if (percent <= 0 || this.done) return;
    const share = (this.remaining * Math.min(percent, 100)) / 100;
    this.add(share, o);
    this.remaining -= share;
  }

  /** Every request still going ends with `o`. */
  settle(o: Outcome): void {
    this.stop(100, o);
  }

  /** The requests still going split by these parts (percent of them, adding up to 100). */
  split(parts: readonly { percent: number; outcome: Outcome }[]): void {
    const base = this.remaining;
    for (const p of parts) this.add((base * p.percent) / 100, p.outcome);
    this.remaining = 0;
  }

  private add(share: number, o: Outcome): void {
    if (share <= 0) return;
    const same = this.list.findIndex((x) => x.summary === o.summary);
    if (same >= 0) this.list[same] = { ...this.list[same], share: this.list[same].share + share };
    else this.list.push({ ...o, share });
  }

  /** The outcomes, largest share first. */
  outcomes(): SharedOutcome[] {
    return [...this.list].sort((a, b) => b.share - a.share).map((o) => ({ ...o, share: Math.round(o.share * 1000) / 1000 }));
  }
}
