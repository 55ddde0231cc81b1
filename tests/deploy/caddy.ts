// Runs Debian's Caddy with the guide's Caddyfile (deploy/Caddyfile), only its name, ports and
// upstream moved: the site answers for 127.0.0.1 and ::1 on a free HTTPS port with a certificate
// from Caddy's own internal authority (as it does for any IP address), redirects a free HTTP port
// to it, and has no admin endpoint. Its data (the internal authority) lives in a directory of the test.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Subprocess } from 'bun';

/** The caddy executable, if installed (apt-get install -y caddy). */
export const caddyPath: string | undefined = existsSync('/usr/bin/caddy') ? '/usr/bin/caddy' : (Bun.which('caddy') ?? undefined);

/** The Caddyfile with its site address and upstream moved, and global options for a test run in front. */
export function rewriteCaddyfile(caddyfile: string, r: { upstreamPort: number; httpPort: number; httpsPort: number }): string {
  const sites = caddyfile.match(/^chat\.example\.com \{$/gm)?.length ?? 0;
  const upstreams = caddyfile.match(/reverse_proxy 127\.0\.0\.1:3000 /g)?.length ?? 0;
  if (sites !== 1 || upstreams !== 1)
    throw new Error(`deploy/Caddyfile: expected one chat.example.com site and one upstream, found ${sites} and ${upstreams}`);
  const global = ['{', '\tadmin off', '\tskip_install_trust', `\thttp_port ${r.httpPort}`, `\thttps_port ${r.httpsPort}`, '}', ''].join(
    '\n',
  );
  return (
    global +
    caddyfile
      .replace(/^chat\.example\.com \{$/m, `127.0.0.1, [::1] {`)
      .replace('reverse_proxy 127.0.0.1:3000 ', `reverse_proxy 127.0.0.1:${r.upstreamPort} `)
  );
}

export type RunningCaddy = { proc: Subprocess; rootCertificate: string; stop(): Promise<void> };

/** Starts `caddy run` on the Caddyfile written into `dir`; resolves once the ports accept connections and the root certificate exists. */
export async function startCaddy(dir: string, caddyfile: string, ports: number[]): Promise<RunningCaddy> {
  if (!caddyPath) throw new Error('caddy is not installed');
  const file = join(dir, 'Caddyfile');
  await Bun.write(file, caddyfile);
  const env = { PATH: process.env.PATH ?? '', HOME: dir, XDG_DATA_HOME: join(dir, 'data'), XDG_CONFIG_HOME: join(dir, 'config') };
  const validate = Bun.spawnSync([caddyPath, 'validate', '--config', file, '--adapter', 'caddyfile'], {
    env,
    stdout: 'pipe',
    stderr: 'pipe',
  });
  if (validate.exitCode !== 0) throw new Error(`caddy validate failed:\n${validate.stderr.toString()}`);
  let log = '';
  const proc = Bun.spawn([caddyPath, 'run', '--config', file, '--adapter', 'caddyfile'], {
    env,
    stdin: 'ignore',
    stdout: 'ignore',
    stderr: 'pipe',
  });
  void (async () => {
    for await (const chunk of proc.stderr) log += new TextDecoder().decode(chunk);
  })();
  const rootCertificate = join(dir, 'data/caddy/pki/authorities/local/root.crt');
  const deadline = Date.now() + 20_000;
  for (const port of ports) {
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`caddy exited with ${proc.exitCode}:\n${log}`);
      try {
        const socket = await Bun.connect({ hostname: '127.0.0.1', port, socket: { data() {} } });
        socket.end();
        break;
      } catch {
        if (Date.now() > deadline) throw new Error(`caddy did not open port ${port}:\n${log}`);
        await Bun.sleep(50);
      }
    }
  }
  while (!existsSync(rootCertificate)) {
    if (Date.now() > deadline) throw new Error(`caddy made no root certificate:\n${log}`);
    await Bun.sleep(50);
  }
  return {
    proc,
    rootCertificate: await Bun.file(rootCertificate).text(),
    async stop() {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      await proc.exited;
    },
  };
}
