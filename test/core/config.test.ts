import { expect } from 'chai';
import { loadConfig, ConfigError } from '../../core/index.js';

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe('configuration', () => {
  it('has working defaults for the demo (embedded Postgres, simulator)', () => {
    const c = loadConfig({});
    expect(c.databaseUrl).to.equal(undefined);
    expect(c.qbench.baseUrl).to.equal(undefined);
    expect(c.qbench.pageSize).to.equal(50);
    expect(c.qbench.rateLimit).to.be.at.most(300);
    expect(c.api.port).to.equal(8080);
    expect(c.slaHours).to.equal(48);
    expect(c.timezone).to.equal('UTC');
    expect(c.dataDir).to.match(/\.qbsync$/);
  });

  it('coerces numbers and trims values', () => {
    const c = loadConfig({ QBSYNC_API_PORT: ' 9090 ', QBENCH_PAGE_SIZE: '25', QBSYNC_SLA_HOURS: '72.5' });
    expect(c.api.port).to.equal(9090);
    expect(c.qbench.pageSize).to.equal(25);
    expect(c.slaHours).to.equal(72.5);
  });

  it('reports one line per bad variable, naming it', () => {
    const p = problems({ QBSYNC_API_PORT: 'eighty', DATABASE_URL: 'mysql://x', QBENCH_PAGE_SIZE: '500', QBSYNC_LOG_LEVEL: 'loud', QBSYNC_TIMEZONE: 'Mars/Base' });
    expect(p).to.have.length(5);
    expect(p.find((l) => l.startsWith('QBSYNC_API_PORT'))).to.match(/whole number.*"eighty"/);
    expect(p.find((l) => l.startsWith('DATABASE_URL'))).to.match(/postgres:\/\//);
    expect(p.find((l) => l.startsWith('QBENCH_PAGE_SIZE'))).to.match(/<= 50/);
    expect(p.find((l) => l.startsWith('QBSYNC_LOG_LEVEL'))).to.match(/one of error, warn, info, debug/);
    expect(p.find((l) => l.startsWith('QBSYNC_TIMEZONE'))).to.match(/IANA/);
  });

  it('never echoes a secret or database password in an error', () => {
    const p = problems({ DATABASE_URL: 'postgres://u:hunter2hunter2@', QBENCH_CLIENT_SECRET: 'x' });
    expect(p.join('\n')).to.not.include('hunter2');
    expect(p.find((l) => l.startsWith('QBENCH_CLIENT_SECRET'))).to.match(/must/);
  });

  it('needs credentials when pointed at a real QBench', () => {
    expect(problems({ QBENCH_BASE_URL: 'https://lab.qbench.net' })[0]).to.match(/QBENCH_CLIENT_ID and QBENCH_CLIENT_SECRET/);
    expect(problems({ QBENCH_BASE_URL: 'https://lab.qbench.net', QBENCH_CLIENT_ID: 'id', QBENCH_CLIENT_SECRET: 'secretsecret' })).to.deep.equal([]);
  });

  it('treats empty strings as unset', () => {
    expect(loadConfig({ QBSYNC_API_PORT: '', DATABASE_URL: '' }).api.port).to.equal(8080);
  });
});
