/**
 * Security review finding: ajv's coerceTypes took "1e3", " 1", "0x1F", "+5", "1.0"… for integer query parameters
 * (any string JavaScript reads as the number). Integer and number query and path parameters now take canonical
 * decimal text only, checked before coercion: 400 naming the parameter and the rule otherwise.
 */
import { expect } from 'chai';
import { apiFixture, type ApiFixture } from '../api/fixture.js';

describe('security: numbers in query and path parameters are canonical decimal only', function () {
  this.timeout(120_000);
  let f: ApiFixture;

  before(async () => {
    f = await apiFixture({ data: false });
  });
  after(() => f?.close());

  const refused = async (path: string, parameter: string, where: 'query' | 'path') => {
    const r = await f.get(path, f.adminToken);
    expect(r.status, `${path}: ${r.text}`).to.equal(400);
    expect(r.body.error).to.equal('invalid_request');
    const d = r.body.details.find((x: any) => x.parameter === parameter);
    expect(d, `${path}: ${r.text}`).to.include({ in: where, rule: 'type' });
    expect(d.message).to.match(/plain decimal/);
  };

  it('integers: "1e3", " 1", "0x1F", "+5", "1.0", "01", "1 " and friends are 400 naming the parameter and the rule', async () => {
    for (const v of ['1e3', '1E3', '%201', '0x1F', '%2B5', '1.0', '01', '1%20', '%091', '0b11', '0o7', '5.', '.5', '1e-400', 'Infinity', '-', '']) {
      await refused(`/api/v1/metrics/customers/new?limit=${v}`, 'limit', 'query');
      await refused(`/api/v1/analytics/orders/overdue?min_days_overdue=${v}`, 'min_days_overdue', 'query');
    }
    for (const v of ['1e3', '0x1F', '%2B5', '1.0', '01', '%201']) await refused(`/api/v1/entities/orders/${v}`, 'id', 'path');
  });

  it('numbers: exponent, hex, sign +, spaces, a bare point are 400; plain decimals with a fraction are taken', async () => {
    for (const v of ['1e3', '4.8e1', '0x30', '%2B48', '%2048', '48%20', '.5', '5.', '048', 'Infinity', 'NaN', '1e-400']) {
      await refused(`/api/v1/metrics/summary?sla_hours=${v}`, 'sla_hours', 'query');
    }
    for (const v of ['48', '0.5', '48.0', '100000']) {
      const r = await f.get(`/api/v1/metrics/summary?sla_hours=${v}`, f.adminToken);
      expect(r.status, `${v}: ${r.text}`).to.equal(200);
      expect(r.body.sla_hours).to.equal(Number(v));
    }
  });

  it('canonical integers are taken and keep their range checks', async () => {
    for (const v of ['1', '10', '1000']) expect((await f.get(`/api/v1/metrics/customers/new?limit=${v}`, f.adminToken)).status, v).to.equal(200);
    const over = await f.get('/api/v1/metrics/customers/new?limit=1001', f.adminToken);
    expect(over.status).to.equal(400);
    expect(over.body.details[0]).to.include({ parameter: 'limit', rule: 'maximum' });
    const neg = await f.get('/api/v1/entities/orders/-1', f.adminToken);
    expect(neg.body.details[0]).to.include({ parameter: 'id', rule: 'minimum' });
    // Repeated: still "given once", from ajv.
    const twice = await f.get('/api/v1/metrics/customers/new?limit=1&limit=2', f.adminToken);
    expect(twice.status).to.equal(400);
    expect(twice.body.details[0]).to.include({ parameter: 'limit', rule: 'type', message: 'must be given once' });
  });
});
