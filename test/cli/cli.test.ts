import { expect } from 'chai';
import { runCli } from '../helpers/cli.js';

const env = (extra: Record<string, string> = {}) => ({ PATH: process.env.PATH, HOME: process.env.HOME, ...extra });

describe('qbsync CLI', function () {
  this.timeout(30_000);

  it('--help lists the commands and exits 0', async () => {
    const r = await runCli(['--help'], env());
    expect(r.code).to.equal(0);
    for (const c of ['sync', 'status', 'migrate', 'sim', 'list-entities', 'config']) expect(r.stdout).to.match(new RegExp(`\\n\\s+${c}\\b`));
  });

  it('every command has --help', async () => {
    for (const c of ['sync', 'status', 'migrate', 'sim', 'list-entities', 'config']) {
      const r = await runCli([c, '--help'], env());
      expect(r.code, c).to.equal(0);
      expect(r.stdout, c).to.match(/Usage: qbsync/);
    }
  });

  it('an unknown command or option is a usage error (exit 2)', async () => {
    expect((await runCli(['frobnicate'], env())).code).to.equal(2);
    const r = await runCli(['sync', '--entity', 'widgets'], env());
    expect(r.code).to.equal(2);
    expect(r.stderr).to.match(/Unknown QBench entity "widgets"/);
    expect((await runCli(['sim', '--port', 'abc'], env())).code).to.equal(2);
  });

  it('a bad DATABASE_URL or port is one clear line and exit 2, no stack trace', async () => {
    const r = await runCli(['status'], env({ DATABASE_URL: 'not a url', QBSYNC_API_PORT: 'eighty' }));
    expect(r.code).to.equal(2);
    expect(r.stderr).to.match(/DATABASE_URL is not a valid URL/);
    expect(r.stderr).to.match(/QBSYNC_API_PORT must be a whole number \(got "eighty"\)/);
    expect(r.stderr).to.not.match(/\n\s+at /);
  });

  it('an unreachable database fails with exit 1 and names where it tried', async () => {
    const r = await runCli(['status'], env({ DATABASE_URL: 'postgres://u:secretpw123@127.0.0.1:1/db' }));
    expect(r.code).to.equal(1);
    expect(r.stderr).to.match(/Cannot connect to PostgreSQL at 127\.0\.0\.1:1\/db/);
    expect(r.stderr).to.not.include('secretpw123');
  });

  it('list-entities prints the catalog in dependency order', async () => {
    const r = await runCli(['list-entities', '--json'], env());
    expect(r.code).to.equal(0);
    expect(JSON.parse(r.stdout).map((e: { name: string }) => e.name)).to.deep.equal(['customers', 'orders', 'samples', 'batches', 'tests', 'assays', 'reports']);
  });
});
