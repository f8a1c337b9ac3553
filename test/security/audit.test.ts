/**
 * `npm audit --omit=dev`: no high or critical advisory in what qbsync ships. Needs the registry's audit
 * endpoint; when it cannot be reached (offline, or a registry mirror without the advisory API) the test is
 * skipped with the reason, and the dependencies are checked by hand instead (see the commit that added this).
 */
import { execFile } from 'node:child_process';
import { expect } from 'chai';

interface AuditReport {
  metadata?: { vulnerabilities?: Record<string, number> };
  vulnerabilities?: Record<string, { severity: string; via: unknown[]; range?: string }>;
  error?: { summary?: string; detail?: string };
  message?: string;
}

function npmAudit(): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
    execFile(npm, ['audit', '--omit=dev', '--json'], { timeout: 90_000, maxBuffer: 32 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as NodeJS.ErrnoException & { code?: number }).code as unknown as number) ?? 1 : 0, stdout, stderr });
    });
  });
}

describe('security: npm audit of the production dependencies', function () {
  this.timeout(120_000);

  it('no high or critical advisory (skipped when the audit endpoint cannot be reached)', async function () {
    const r = await npmAudit();
    let report: AuditReport | undefined;
    try {
      report = JSON.parse(r.stdout) as AuditReport;
    } catch {
      report = undefined;
    }
    const counts = report?.metadata?.vulnerabilities;
    if (!counts) {
      const why = (report?.error?.summary || report?.message || r.stderr.split('\n').find((l) => /error|warn/i.test(l)) || 'no report').slice(0, 200);
      console.log(`      npm audit unavailable here: ${why}`);
      this.skip();
    }
    const serious = Object.entries(report!.vulnerabilities ?? {})
      .filter(([, v]) => v.severity === 'high' || v.severity === 'critical')
      .map(([name, v]) => `${name} (${v.severity}${v.range ? `, ${v.range}` : ''})`);
    console.log(`      npm audit: ${Object.entries(counts).map(([k, n]) => `${k} ${n}`).join(', ')}`);
    expect(serious, 'high or critical advisories in production dependencies').to.deep.equal([]);
  });
});
