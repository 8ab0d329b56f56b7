import { ConnPoolBase } from '../pool-base.js';
import { H1Connection } from './connection.js';

/**
 * Keep-alive HTTP/1.1 connections to one endpoint: one exchange per connection at a time; idle
 * connections are reused most recently used first and closed after the idle timeout (all of
 * which, and the circuit breakers, ConnPoolBase does).
 */
export class H1Pool extends ConnPoolBase<H1Connection> {
  protected override createClient(): H1Connection {
    return new H1Connection(this);
  }

  protected override expectedStreams(): number {
    return 1;
  }
}
