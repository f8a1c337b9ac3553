import { expect } from 'chai';
import { PassThrough } from 'node:stream';
import { createLogger, redact, redactString, registerSecret } from '../../core/index.js';

describe('secret redaction', () => {
  it('masks registered secrets, bearer tokens, JWTs and URL passwords', () => {
    registerSecret('s3cr3t-value-xyz');
    const s = redactString(
      'secret s3cr3t-value-xyz; Authorization: Bearer abc.def-123; eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl; postgres://me:pa55word@db:5432/x',
    );
    expect(s).to.not.include('s3cr3t-value-xyz');
    expect(s).to.not.include('abc.def-123');
    expect(s).to.not.include('eyJhbGciOiJIUzI1NiJ9');
    expect(s).to.not.include('pa55word');
    expect(s).to.include('postgres://me:[REDACTED]@db:5432/x');
  });

  it('masks secret-named keys in objects', () => {
    const out = redact({ client_secret: 'x', nested: { access_token: 'y', page: 2 } });
    expect(out).to.deep.equal({ client_secret: '[REDACTED]', nested: { access_token: '[REDACTED]', page: 2 } });
  });

  it('the logger writes JSON lines with run_id and no secret', async () => {
    registerSecret('another-secret-123');
    const stream = new PassThrough();
    const chunks: string[] = [];
    stream.on('data', (c) => chunks.push(String(c)));
    const log = createLogger({ level: 'info', runId: 'run-1', console: false, stream });
    log.info('token is another-secret-123', { header: 'Bearer zzz.yyy', client_secret: 'another-secret-123' });
    await new Promise((r) => setTimeout(r, 20));
    const line = JSON.parse(chunks.join('').trim().split('\n')[0]);
    expect(line.run_id).to.equal('run-1');
    expect(JSON.stringify(line)).to.not.include('another-secret-123');
    expect(JSON.stringify(line)).to.not.include('zzz.yyy');
  });
});
