// The field policy every decoder applies: read, warned about (nothing trusted more), or refused.
import { describe, expect, it } from 'vitest';
import { checkFields, type FieldPolicy } from '../../../../src/config/envoy/decode/fields.js';
import { collectingContext, plain } from './dumps.js';

const POLICY: FieldPolicy = {
  type: 'envoy.config.core.v3.TransportSocket',
  reads: ['name'],
  ignored: {},
  refused: { typed_config: 'no typed config here' },
};
const ref = { kind: 'Cluster', name: 'c' };

describe('checkFields', () => {
  it('passes the fields read, a oneof\'s name and fields at their default; refuses the rest naming the field', () => {
    expect(() => checkFields({ name: 'x', config_type: 'typed_config', typed_config: undefined }, POLICY, ref, 'transport_socket', collectingContext())).not.toThrow();
    const msg = plain<object>('envoy.config.core.v3.TransportSocket', { name: 'x', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer' } });
    expect(() => checkFields(msg, POLICY, ref, 'transport_socket', collectingContext())).toThrow('Cluster c, field transport_socket.typed_config: no typed config here');
  });

  it('warns about an ignored field and refuses one no policy names (fail closed)', () => {
    const ctx = collectingContext();
    checkFields({ name: 'x', typed_config: {} }, { ...POLICY, refused: {}, ignored: { typed_config: 'why it is safe' } }, ref, 'ts', ctx);
    expect(ctx.warnings).toEqual(['Cluster c: ts.typed_config is not applied (why it is safe)']);
    expect(() => checkFields({ typed_config: {} }, { type: POLICY.type, reads: ['name'] }, ref, 'ts', collectingContext())).toThrow('field ts.typed_config: not supported by Outrigger (refused rather than ignored)');
  });

  it('a policy naming a field the message does not have is a programming error', () => {
    expect(() => checkFields({}, { type: POLICY.type, reads: ['nmae'] }, ref, '', collectingContext())).toThrow('envoy.config.core.v3.TransportSocket has no field nmae');
  });
});
