import type { NetworkPolicy } from '../../src/domain/received.js';

/** Our documented network (DESIGN.md, policy.json), as the sample parser's tests use it. */
export const network: NetworkPolicy = {
  pools: {
    normal: ['203.0.113.0/26', '2001:db8:25::/48'],
    'high-risk': ['203.0.113.64/26'],
    relay: ['203.0.113.128/26'],
  },
  hostSuffix: '.outbound.example.net',
  tenantHeader: 'X-Tenant-Id',
};
