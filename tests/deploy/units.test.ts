// The systemd units of docs/vps.md, checked by systemd itself as far as it runs here (no systemd
// as PID 1): `systemd-analyze verify` on parley.service, parley-backup.service and the timer, in a
// root holding the executables they name; `systemd-analyze security` rates the service's sandbox,
// and the guide quotes that rating.
import { expect, test } from 'bun:test';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { repoRoot } from '../helpers/binary.ts';

const required = process.env.REQUIRE_SERVICES === '1' || Boolean(process.env.CI);
const guide = readFileSync(join(repoRoot, 'docs/vps.md'), 'utf8');

test('happy: both units and the timer pass `systemd-analyze verify`, and the service’s hardening rates OK', async () => {
  if (!Bun.which('systemd-analyze')) {
    if (required) throw new Error('systemd-analyze is not installed (apt-get install -y systemd)');
    console.warn('[skip] systemd-analyze is not installed: the units are not verified');
    return;
  }
  // A root holding the executables the units name, and systemd's own units (sysinit.target …).
  const verifyRoot = mkdtempSync(join(tmpdir(), 'parley-units-'));
  try {
    for (const path of ['/usr/local/bin/parley', '/usr/local/lib/parley/parley-backup.sh']) {
      mkdirSync(dirname(join(verifyRoot, path)), { recursive: true });
      writeFileSync(join(verifyRoot, path), '#!/bin/sh\n', { mode: 0o755 });
    }
    mkdirSync(join(verifyRoot, 'etc/systemd/system'), { recursive: true });
    mkdirSync(join(verifyRoot, 'usr/lib/systemd'), { recursive: true });
    Bun.spawnSync(['cp', '-r', '/usr/lib/systemd/system', join(verifyRoot, 'usr/lib/systemd/')]);
    const units = ['parley.service', 'parley-backup.service', 'parley-backup.timer'];
    for (const name of units) copyFileSync(join(repoRoot, 'deploy', name), join(verifyRoot, 'etc/systemd/system', name));
    const verify = Bun.spawnSync(
      [
        'systemd-analyze',
        'verify',
        `--root=${verifyRoot}`,
        '--man=no',
        '--generators=no',
        ...units.map((name) => `/etc/systemd/system/${name}`),
      ],
      { stdout: 'pipe', stderr: 'pipe' },
    );
    // Unknown keys and bad values are only warnings: any output at all is a failure.
    expect(`${verify.stdout.toString()}${verify.stderr.toString()}`).toBe('');
    expect(verify.exitCode).toBe(0);
  } finally {
    rmSync(verifyRoot, { recursive: true, force: true });
  }
  const security = Bun.spawnSync(['systemd-analyze', 'security', '--offline=true', join(repoRoot, 'deploy/parley.service')], {
    stdout: 'pipe',
    stderr: 'pipe',
  });
  const exposure = /Overall exposure level for parley\.service: ([\d.]+) (\w+)/.exec(
    security.stdout.toString() + security.stderr.toString(),
  );
  expect(exposure).not.toBeNull();
  expect(Number(exposure![1])).toBeLessThanOrEqual(2);
  expect(guide).toContain(`about ${exposure![1]} "${exposure![2]}"`);
}, 30_000);
