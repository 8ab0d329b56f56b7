/**
 * Rapid reset (CVE-2023-44487): streams the client resets before their response completes. Envoy
 * closes the connection when these outnumber completed streams past a floor; here: more than
 * PREMATURE_RESET_LIMIT within PREMATURE_RESET_WINDOW_MS → GOAWAY (ENHANCE_YOUR_CALM) and close.
 * Shared by both HTTP/2 codecs.
 */
export const PREMATURE_RESET_LIMIT = 200;
export const PREMATURE_RESET_WINDOW_MS = 10_000;

export class ResetBudget {
  private resets: number[] = [];

  /** Counts one premature reset; true when the budget is spent and the connection must be cut off. */
  spend(now = Date.now()): boolean {
    this.resets.push(now);
    while (this.resets.length && now - this.resets[0] > PREMATURE_RESET_WINDOW_MS) this.resets.shift();
    return this.resets.length > PREMATURE_RESET_LIMIT;
  }
}
