// Login timing: a wrong password for a known email against an unknown email, in process on the
// real app (rate limits off). The two should take about the same time, so that response time does
// not tell an attacker which emails have accounts. Prints figures only; never asserts.
//
//   bun bench/login-timing.ts [rounds=30] [--postgres]
import { createTestApp, type StorageKind } from '../tests/helpers/app.ts';

const rounds = Number(process.argv.find((arg) => /^\d+$/.test(arg)) ?? 30);
const kind: StorageKind = process.argv.includes('--postgres')
  ? { database: 'postgres', kv: 'redis' }
  : { database: 'sqlite', kv: 'memory' };

const app = await createTestApp(kind, { RATE_LIMIT_ENABLED: 'false', LOG_LEVEL: 'warn' });
try {
  const email = `timing-${Date.now().toString(36)}@example.com`;
  const registered = await app.request('/api/v1/auth/register', { method: 'POST', json: { email, password: 'the real password' } });
  if (registered.status !== 201) throw new Error(`register failed: ${registered.status} ${await registered.text()}`);

  const login = async (loginEmail: string): Promise<number> => {
    const started = performance.now();
    const response = await app.request('/api/v1/auth/login', { method: 'POST', json: { email: loginEmail, password: 'a wrong password' } });
    await response.arrayBuffer();
    const elapsed = performance.now() - started;
    if (response.status !== 401) throw new Error(`expected 401, got ${response.status}`);
    return elapsed;
  };
  const unknownEmail = () => `nobody-${Math.random().toString(36).slice(2)}@example.com`;

  // Warm up both paths (the first unknown email also builds the decoy hash).
  for (let i = 0; i < 3; i++) {
    await login(email);
    await login(unknownEmail());
  }

  const wrongPassword: number[] = [];
  const unknown: number[] = [];
  // Interleaved, so drift in machine load affects both series alike.
  for (let i = 0; i < rounds; i++) {
    wrongPassword.push(await login(email));
    unknown.push(await login(unknownEmail()));
  }

  const quantile = (values: number[], q: number) => {
    const sorted = values.toSorted((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.floor(q * (sorted.length - 1) + 0.5))]!;
  };
  const row = (label: string, values: number[]) => ({
    case: label,
    n: values.length,
    'median ms': quantile(values, 0.5).toFixed(2),
    'p90 ms': quantile(values, 0.9).toFixed(2),
    'min ms': Math.min(...values).toFixed(2),
    'max ms': Math.max(...values).toFixed(2),
  });
  console.log(`login timing on ${kind.database}+${kind.kv}, ${rounds} rounds each (in process, rate limits off)`);
  console.table([row('wrong password (known email)', wrongPassword), row('unknown email', unknown)]);
  const ratio = quantile(unknown, 0.5) / quantile(wrongPassword, 0.5);
  console.log(`median ratio unknown / wrong password: ${ratio.toFixed(2)} (close to 1.00 means email existence does not show in timing)`);
} finally {
  await app.close();
}
