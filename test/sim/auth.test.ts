import { expect } from 'chai';
import { signAssertion, type Simulator } from '../../sim/index.js';
import { api, CLIENT_ID, CLIENT_SECRET, getToken, JWT_GRANT, startSim, tokenRequest } from './helpers.js';

describe('sim: JWT-bearer token endpoint', () => {
  let sim: Simulator;
  before(async () => {
    sim = await startSim();
  });
  after(() => sim.close());

  const now = (): number => Math.floor(Date.now() / 1000);

  it('issues an opaque bearer token for a valid HS256 assertion', async () => {
    const res = await tokenRequest(sim, { grant_type: JWT_GRANT, assertion: signAssertion(CLIENT_ID, CLIENT_SECRET) });
    expect(res.status).to.equal(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).to.have.all.keys('access_token', 'token_type', 'expires_in');
    expect(body.token_type).to.equal('Bearer');
    expect(body.expires_in).to.equal(3600);
    expect(body.access_token).to.be.a('string').with.length.above(20);
    expect(String(body.access_token).split('.')).to.have.length(1); // opaque, not a JWT
    const list = await api(sim, String(body.access_token), 'assay');
    expect(list.status).to.equal(200);
  });

  it('serves the /oauth/token alias', async () => {
    const res = await tokenRequest(sim, { grant_type: JWT_GRANT, assertion: signAssertion(CLIENT_ID, CLIENT_SECRET) }, '/oauth/token');
    expect(res.status).to.equal(200);
  });

  it('accepts exp - iat of exactly 3600 s', async () => {
    const iat = now();
    const res = await tokenRequest(sim, { grant_type: JWT_GRANT, assertion: signAssertion(CLIENT_ID, CLIENT_SECRET, { iat, exp: iat + 3600 }) });
    expect(res.status).to.equal(200);
  });

  const cases: { name: string; form: () => Record<string, string>; status: number; error: string }[] = [
    { name: 'a wrong grant_type', form: () => ({ grant_type: 'client_credentials', assertion: signAssertion(CLIENT_ID, CLIENT_SECRET) }), status: 400, error: 'unsupported_grant_type' },
    { name: 'a missing assertion', form: () => ({ grant_type: JWT_GRANT }), status: 400, error: 'invalid_request' },
    { name: 'a structurally broken JWT', form: () => ({ grant_type: JWT_GRANT, assertion: 'not-a.jwt' }), status: 400, error: 'invalid_request' },
    {
      name: 'alg none',
      form: () => ({ grant_type: JWT_GRANT, assertion: signAssertion(CLIENT_ID, CLIENT_SECRET, { header: { alg: 'none', typ: 'JWT' } }) }),
      status: 400,
      error: 'invalid_request',
    },
    { name: 'a bad signature (wrong secret)', form: () => ({ grant_type: JWT_GRANT, assertion: signAssertion(CLIENT_ID, 'wrong-secret') }), status: 401, error: 'invalid_client' },
    { name: 'a wrong client id (sub)', form: () => ({ grant_type: JWT_GRANT, assertion: signAssertion('someone-else', CLIENT_SECRET) }), status: 401, error: 'invalid_client' },
    {
      name: 'an expired assertion',
      form: () => ({ grant_type: JWT_GRANT, assertion: signAssertion(CLIENT_ID, CLIENT_SECRET, { iat: now() - 4000, exp: now() - 400 }) }),
      status: 400,
      error: 'invalid_grant',
    },
    {
      name: 'a lifetime over 3600 s',
      form: () => ({ grant_type: JWT_GRANT, assertion: signAssertion(CLIENT_ID, CLIENT_SECRET, { iat: now(), exp: now() + 3601 }) }),
      status: 400,
      error: 'invalid_grant',
    },
    {
      name: 'iat far in the future',
      form: () => ({ grant_type: JWT_GRANT, assertion: signAssertion(CLIENT_ID, CLIENT_SECRET, { iat: now() + 600, exp: now() + 900 }) }),
      status: 400,
      error: 'invalid_grant',
    },
  ];
  for (const c of cases) {
    it(`rejects ${c.name} with ${c.status} ${c.error}`, async () => {
      const res = await tokenRequest(sim, c.form());
      expect(res.status).to.equal(c.status);
      const body = (await res.json()) as Record<string, unknown>;
      expect(body.error).to.equal(c.error);
      expect(body.error_description).to.be.a('string').that.is.not.empty;
    });
  }

  it('does not count token requests as API requests', async () => {
    sim.resetStats();
    await getToken(sim);
    const s = sim.stats();
    expect(s.tokenRequests).to.equal(1);
    expect(s.requests).to.equal(0);
  });
});

describe('sim: bearer token checks on API requests', () => {
  let sim: Simulator;
  before(async () => {
    sim = await startSim();
  });
  after(() => sim.close());

  it('answers 400 invalid_request for a missing Authorization header', async () => {
    const res = await fetch(`${sim.url}/qbench/api/v1/customer`);
    expect(res.status).to.equal(400);
    expect(await res.json()).to.deep.equal({ error: 'invalid_request', error_description: 'Invalid Authorization header format' });
  });

  it('answers 400 invalid_request for a garbled Authorization header', async () => {
    for (const header of ['Token abc', 'Bearer', 'Bearer a b', 'Basic dXNlcjpwYXNz']) {
      const res = await fetch(`${sim.url}/qbench/api/v1/customer`, { headers: { authorization: header } });
      expect(res.status, header).to.equal(400);
      expect(((await res.json()) as Record<string, unknown>).error_description).to.equal('Invalid Authorization header format');
    }
  });

  it('answers 401 for an unknown token', async () => {
    const r = await api(sim, 'deadbeef', 'customer');
    expect(r.status).to.equal(401);
    expect(r.json.error).to.be.a('string');
  });

  it('answers 400 invalid_grant "Access token has expired." after expireTokens(), and a new token works', async () => {
    const token = await getToken(sim);
    expect((await api(sim, token, 'customer')).status).to.equal(200);
    sim.expireTokens();
    const r = await api(sim, token, 'customer');
    expect(r.status).to.equal(400);
    expect(r.json).to.deep.equal({ error: 'invalid_grant', error_description: 'Access token has expired.' });
    const fresh = await getToken(sim);
    expect((await api(sim, fresh, 'customer')).status).to.equal(200);
  });

  it('expires tokens by their lifetime on the real clock', async () => {
    const short = await startSim({ tokenLifetimeSeconds: 1 });
    try {
      const res = await tokenRequest(short, { grant_type: JWT_GRANT, assertion: signAssertion(CLIENT_ID, CLIENT_SECRET) });
      const body = (await res.json()) as { access_token: string; expires_in: number };
      expect(body.expires_in).to.equal(1);
      expect((await api(short, body.access_token, 'assay')).status).to.equal(200);
      await new Promise((r) => setTimeout(r, 1100));
      const r = await api(short, body.access_token, 'assay');
      expect(r.status).to.equal(400);
      expect(r.json.error_description).to.equal('Access token has expired.');
    } finally {
      await short.close();
    }
  });

  it('expires tokens through POST /_sim/expire-tokens', async () => {
    const token = await getToken(sim);
    const res = await fetch(`${sim.url}/_sim/expire-tokens`, { method: 'POST' });
    expect(res.status).to.equal(200);
    expect((await api(sim, token, 'customer')).status).to.equal(400);
  });
});
