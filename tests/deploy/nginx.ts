// Runs Debian's nginx with the guide's site file (deploy/nginx.conf), only its ports and paths
// moved: a minimal main configuration (what /etc/nginx/nginx.conf gives a conf.d file: an http
// block, mime types off, temp paths) includes the rewritten file. Each rewrite must match exactly
// where expected, so a changed guide file fails here instead of being tested half-rewritten.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Subprocess } from 'bun';

function findNginx(): string | undefined {
  for (const path of ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/local/nginx/sbin/nginx']) if (existsSync(path)) return path;
  return Bun.which('nginx') ?? undefined;
}

/** The nginx executable, if installed (apt-get install -y nginx). */
export const nginxPath: string | undefined = findNginx();

export type SiteRewrite = {
  upstreamPort: number;
  httpPort: number;
  httpsPort: number;
  certificate: string;
  certificateKey: string;
  acmeRoot: string;
};

/** Replaces `from` in `text` exactly `count` times, or throws naming what was expected. */
function replaceExactly(text: string, from: RegExp, to: string, count: number): string {
  const found = text.match(new RegExp(from.source, `${from.flags.replace('g', '')}g`))?.length ?? 0;
  if (found !== count) throw new Error(`deploy/nginx.conf: expected ${count} × ${from} but found ${found}`);
  return text.replace(new RegExp(from.source, `${from.flags.replace('g', '')}g`), to);
}

/** The guide's site file with the upstream, listen ports, certificate and ACME paths moved. */
export function rewriteSite(site: string, r: SiteRewrite): string {
  let text = site;
  text = replaceExactly(text, /^(\s*server )127\.0\.0\.1:3000;/m, `$1127.0.0.1:${r.upstreamPort};`, 1);
  text = replaceExactly(text, /^(\s*listen )80;/m, `$1127.0.0.1:${r.httpPort};`, 1);
  text = replaceExactly(text, /^(\s*listen )\[::\]:80;/m, `$1[::1]:${r.httpPort};`, 1);
  text = replaceExactly(text, /^(\s*listen )443 ssl http2;/m, `$1127.0.0.1:${r.httpsPort} ssl http2;`, 1);
  text = replaceExactly(text, /^(\s*listen )\[::\]:443 ssl http2;/m, `$1[::1]:${r.httpsPort} ssl http2;`, 1);
  text = replaceExactly(text, /^(\s*ssl_certificate )\S+;/m, `$1${r.certificate};`, 1);
  text = replaceExactly(text, /^(\s*ssl_certificate_key )\S+;/m, `$1${r.certificateKey};`, 1);
  text = replaceExactly(text, /^(\s*root )\/var\/www\/letsencrypt;/m, `$1${r.acmeRoot};`, 1);
  return text;
}

export type RunningNginx = { proc: Subprocess; errorLog: string; stop(): Promise<void> };

/** Writes a main configuration around `site` in `dir` and starts nginx in the foreground. */
export async function startNginx(dir: string, site: string, options: { user?: string; ports: number[] }): Promise<RunningNginx> {
  if (!nginxPath) throw new Error('nginx is not installed');
  for (const sub of ['logs', 'temp']) mkdirSync(join(dir, sub), { recursive: true });
  const sitePath = join(dir, 'parley.conf');
  writeFileSync(sitePath, site);
  const errorLog = join(dir, 'logs/error.log');
  const temp = (name: string) => `${name}_temp_path ${join(dir, 'temp', name)};`;
  writeFileSync(
    join(dir, 'nginx.conf'),
    [
      // As Debian's nginx.conf: workers drop to www-data when the master runs as root.
      options.user ? `user ${options.user};` : '',
      'worker_processes 1;',
      `pid ${join(dir, 'nginx.pid')};`,
      `error_log ${errorLog} info;`,
      'events { worker_connections 1024; }',
      'http {',
      `  access_log ${join(dir, 'logs/access.log')};`,
      `  ${temp('client_body')} ${temp('proxy')} ${temp('fastcgi')} ${temp('uwsgi')} ${temp('scgi')}`,
      '  default_type application/octet-stream;',
      `  include ${sitePath};`,
      '}',
      '',
    ].join('\n'),
  );
  const check = Bun.spawnSync([nginxPath, '-t', '-p', dir, '-c', join(dir, 'nginx.conf')], { stderr: 'pipe' });
  if (check.exitCode !== 0) throw new Error(`nginx -t failed:\n${check.stderr.toString()}`);
  const proc = Bun.spawn([nginxPath, '-p', dir, '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'], {
    stdin: 'ignore',
    stdout: 'ignore',
    stderr: 'pipe',
  });
  // Ready when every port accepts a connection.
  const deadline = Date.now() + 10_000;
  for (const port of options.ports) {
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`nginx exited with ${proc.exitCode}: ${await Bun.file(errorLog).text()}`);
      try {
        const socket = await Bun.connect({ hostname: '127.0.0.1', port, socket: { data() {} } });
        socket.end();
        break;
      } catch {
        if (Date.now() > deadline) throw new Error(`nginx did not open port ${port}`);
        await Bun.sleep(50);
      }
    }
  }
  return {
    proc,
    errorLog,
    async stop() {
      if (proc.exitCode === null) proc.kill('SIGQUIT');
      await proc.exited;
    },
  };
}

/** A self-signed certificate for chat.example.com, 127.0.0.1 and ::1 (openssl), as PEM files in `dir`. */
export function selfSignedCertificate(dir: string): { certificate: string; key: string } {
  const certificate = join(dir, 'fullchain.pem');
  const key = join(dir, 'privkey.pem');
  const result = Bun.spawnSync(
    [
      'openssl',
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '2',
      '-subj',
      '/CN=chat.example.com',
      '-addext',
      'subjectAltName=DNS:chat.example.com,IP:127.0.0.1,IP:::1',
      '-keyout',
      key,
      '-out',
      certificate,
    ],
    { stdout: 'ignore', stderr: 'pipe' },
  );
  if (result.exitCode !== 0) throw new Error(`openssl req failed: ${result.stderr.toString()}`);
  return { certificate, key };
}
