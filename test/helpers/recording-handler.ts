import type { UpstreamError, UpstreamHandler } from '../../src/upstream/exchange.js';

/** An UpstreamHandler that keeps the status, whether the response ended, and the error, for pool tests. */
export class RecordingHandler implements UpstreamHandler {
  status = 0;
  ended = false;
  error: UpstreamError | undefined;
  onUpstreamHeaders(status: number): void {
    this.status = status;
  }
  onUpstreamData(): boolean {
    return true;
  }
  onUpstreamEnd(): void {
    this.ended = true;
  }
  onUpstreamError(err: UpstreamError): void {
    this.error = err;
  }
}
