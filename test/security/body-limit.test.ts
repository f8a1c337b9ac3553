/**
 * Security review finding: a request declaring a Content-Length over the body limit made body-parser wait for (and
 * read) the whole refused body, so a client declaring 300 kB and sending nothing held a connection until
 * requestTimeout (60 s). The declared length is now checked before any byte of the body is read: 413 JSON at
 * once, Connection: close, and the server closes the connection after the answer.
 */
import net from 'node:net';
import { expect } from 'chai';
import { apiFixture, type ApiFixture } from '../api/fixture.js';
import { errorShapeProblems, rawSocket, type RawResponse } from './lib.js';

interface SocketOutcome {
  /** ms from the end of the headers to the first byte of the answer, and to the server's end of the connection. */
  answeredMs: number;
  closedMs: number;
  /** The server ended the connection (FIN) before the client did anything. */
  serverEnded: boolean;
  response: RawResponse;
}

/** Sends `head` (request line and headers only) and never a body; waits (at most `limitMs`) for the server to close. */
function declareAndSendNothing(url: string, head: string, limitMs: number): Promise<SocketOutcome> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let sentAt = 0;
    let answeredMs = -1;
    let serverEnded = false;
    const s = net.connect(Number(u.port), u.hostname, () => {
      s.write(head, () => (sentAt = Date.now()));
    });
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`the server neither answered nor closed within ${limitMs} ms (answered: ${answeredMs >= 0}, ${Buffer.concat(chunks).toString('utf8').slice(0, 200)})`));
    }, limitMs);
    s.on('data', (c: Buffer) => {
      if (answeredMs < 0) answeredMs = Date.now() - sentAt;
      chunks.push(c);
    });
    s.on('end', () => (serverEnded = true));
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(timer);
      const all = Buffer.concat(chunks).toString('utf8');
      const end = all.indexOf('\r\n\r\n');
      const lines = all.slice(0, Math.max(0, end)).split('\r\n');
      const headers: Record<string, string> = {};
      for (const l of lines.slice(1)) {
        const i = l.indexOf(':');
        if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
      }
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '')?.[1] ?? 0);
      resolve({ answeredMs, closedMs: Date.now() - sentAt, serverEnded, response: { status, headers, text: end >= 0 ? all.slice(end + 4) : '' } });
    });
  });
}

describe('security: a declared Content-Length over the body limit is refused before the body is read', function () {
  this.timeout(120_000);
  let f: ApiFixture;

  before(async () => {
    f = await apiFixture({ data: false });
  });
  after(() => f?.close());

  for (const [method, path, auth] of [
    ['POST', '/api/auth/login', false],
    ['POST', '/api/v1/sync', true],
    ['GET', '/api/v1/metrics/summary', true],
  ] as Array<[string, string, boolean]>) {
    it(`${method} ${path} declaring 10 MB and sending nothing: 413 JSON within 2 s, Connection: close, socket closed by the server`, async () => {
      const head =
        `${method} ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10000000\r\n` +
        (auth ? `Authorization: Bearer ${f.adminToken}\r\n` : '') + '\r\n';
      const out = await declareAndSendNothing(f.server.url, head, 2_000);
      expect(out.response.status, out.response.text).to.equal(413);
      expect(out.answeredMs).to.be.within(0, 2_000);
      expect(out.closedMs).to.be.below(2_000);
      expect(out.serverEnded, 'the server ended the connection').to.equal(true);
      expect(String(out.response.headers.connection).toLowerCase()).to.equal('close');
      expect(errorShapeProblems(out.response, method)).to.deep.equal([]);
      const body = JSON.parse(out.response.text);
      expect(body.error).to.equal('payload_too_large');
      expect(body.message).to.match(/32kb/);
    });
  }

  it('the limit itself is accepted (a body of exactly 32 kB is read and validated, not refused for its size)', async () => {
    const padding = 'x'.repeat(32 * 1024 - JSON.stringify({ username: 'ann', password: '' }).length);
    const body = JSON.stringify({ username: 'ann', password: padding });
    expect(Buffer.byteLength(body)).to.equal(32 * 1024);
    const r = await rawSocket(f.server.url, Buffer.from(`POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`));
    expect(r.status, r.text).to.equal(400); // the password is over its 1024-character maximum: validated, so read
    expect(JSON.parse(r.text).details[0]).to.include({ parameter: 'password', rule: 'maxLength' });
  });
});
