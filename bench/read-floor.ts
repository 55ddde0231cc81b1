// The floor for bench/reads.ts: the least a server can do to answer GET /api/v1/auth/me and
// GET /api/v1/chats?limit=20 — verify an HS256 Bearer JWT, run one prepared query on the same
// table shape and indexes as Parley, return the same JSON. No framework, no session check, no
// validation, no log. reads.ts compiles it with dist/parley's flags; it is not run by hand.
//
//   FLOOR_DB=/path/floor.sqlite | postgres://…   JWT_SECRET=…   FLOOR_USER_ID=…   PORT=…
// On start it creates its tables and seeds one user with 50 chats when they are empty.
import { Database } from 'bun:sqlite';
import { timingSafeEqual } from 'node:crypto';
import { SQL } from 'bun';

const secret = process.env.JWT_SECRET!;
const userId = process.env.FLOOR_USER_ID ?? 'floor-user';
const target = process.env.FLOOR_DB!;
const chatCount = 50;

type UserRow = {
  id: string;
  email: string | null;
  name: string | null;
  role: string;
  tier: string;
  email_verified: unknown;
  created_at: number | Date;
};
type ChatRow = UserRow & {
  title: string | null;
  provider: string | null;
  model: string | null;
  system_prompt: string | null;
  category: string | null;
};
type ChatFlags = { pinned: unknown; archived: unknown; featured: unknown; updated_at: number | Date };
type Store = { user(id: string): Promise<UserRow | undefined>; chats(id: string): Promise<(ChatRow & ChatFlags)[]> };

// Parley's list asks for limit+1 rows to know whether a next page exists; so does the floor.
const listSql = `SELECT * FROM chats WHERE user_id = $1 AND archived = $2 ORDER BY pinned DESC, updated_at DESC, id DESC LIMIT 21`;
const userSql = `SELECT * FROM users WHERE id = $1 LIMIT 1`;

function schema(bool: string, time: string): string {
  return `CREATE TABLE IF NOT EXISTS users (id text PRIMARY KEY, email text, name text, password_hash text,
      role text NOT NULL DEFAULT 'user', tier text NOT NULL DEFAULT 'free', email_verified ${bool} NOT NULL DEFAULT false,
      avatar_url text, preferences text NOT NULL DEFAULT '{}', disabled ${bool} NOT NULL DEFAULT false,
      created_at ${time} NOT NULL, updated_at ${time} NOT NULL);
    CREATE TABLE IF NOT EXISTS chats (id text PRIMARY KEY, user_id text NOT NULL REFERENCES users(id) ON DELETE CASCADE,
      title text, provider text, model text, system_prompt text, category text,
      pinned ${bool} NOT NULL DEFAULT false, archived ${bool} NOT NULL DEFAULT false, featured ${bool} NOT NULL DEFAULT false,
      created_at ${time} NOT NULL, updated_at ${time} NOT NULL);
    CREATE INDEX IF NOT EXISTS chats_user_updated_idx ON chats (user_id, updated_at);
    CREATE INDEX IF NOT EXISTS chats_featured_idx ON chats (featured);`;
}

const seedRows = (now: number) =>
  Array.from({ length: chatCount }, (_, i) => [`chat-${String(i).padStart(4, '0')}`, userId, `Bench chat ${i}`, now + i] as const);

async function openStore(): Promise<Store> {
  const now = Date.now();
  if (target.startsWith('postgres')) {
    const sql = new SQL({ url: target, max: 10 }); // Parley's postgres.js pool is 10 too
    await sql.unsafe(schema('boolean', 'timestamptz(3)')).simple();
    const [{ n }] = await sql`SELECT count(*)::int AS n FROM users`;
    if (n === 0) {
      await sql`INSERT INTO users (id, email, name, created_at, updated_at) VALUES (${userId}, 'floor@example.com', 'Floor', ${new Date(now)}, ${new Date(now)})`;
      for (const [id, user, title, at] of seedRows(now)) {
        await sql`INSERT INTO chats (id, user_id, title, created_at, updated_at) VALUES (${id}, ${user}, ${title}, ${new Date(at)}, ${new Date(at)})`;
      }
    }
    // Bun's SQL prepares a statement per query text on each connection, once.
    return { user: async (id) => (await sql.unsafe(userSql, [id]))[0], chats: (id) => sql.unsafe(listSql, [id, false]) };
  }
  const db = new Database(target, { create: true, strict: true });
  db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000');
  db.exec(schema('integer', 'integer'));
  if ((db.query('SELECT count(*) AS n FROM users').get() as { n: number }).n === 0) {
    db.query(`INSERT INTO users (id, email, name, created_at, updated_at) VALUES (?, 'floor@example.com', 'Floor', ?, ?)`).run(
      userId,
      now,
      now,
    );
    const insert = db.query('INSERT INTO chats (id, user_id, title, created_at, updated_at) VALUES (?, ?, ?, ?, ?)');
    for (const [id, user, title, at] of seedRows(now)) insert.run(id, user, title, at, at);
  }
  const user = db.query(userSql.replace('$1', '?1'));
  const list = db.query(listSql.replace('$1', '?1').replace('$2', '?2'));
  return { user: async (id) => user.get(id) as UserRow | undefined, chats: async (id) => list.all(id, 0) as (ChatRow & ChatFlags)[] };
}

const iso = (value: number | Date) => (value instanceof Date ? value : new Date(value)).toISOString();
const unauthorized = () => Response.json({ error: { code: 'unauthorized' } }, { status: 401 });

/** The `sub` of a correctly signed, unexpired HS256 token with iss "parley"; null otherwise. */
function verify(request: Request): string | null {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.get('authorization') ?? '');
  const parts = match?.[1]?.split('.');
  if (parts?.length !== 3) return null;
  const expected = new Bun.CryptoHasher('sha256', secret).update(`${parts[0]}.${parts[1]}`).digest();
  const given = Buffer.from(parts[2]!, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
  const header = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString()) as { alg?: string };
  const claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString()) as { sub?: unknown; exp?: unknown; iss?: unknown };
  if (header.alg !== 'HS256' || claims.iss !== 'parley' || typeof claims.sub !== 'string') return null;
  if (typeof claims.exp !== 'number' || claims.exp * 1000 <= Date.now()) return null;
  return claims.sub;
}

const store = await openStore();
const server = Bun.serve({
  port: Number(process.env.PORT ?? 3000),
  hostname: process.env.HOST ?? '127.0.0.1',
  routes: {
    '/health': () => Response.json({ status: 'ok' }),
    '/api/v1/auth/me': async (request) => {
      const sub = verify(request);
      const row = sub ? await store.user(sub) : undefined;
      if (!row) return unauthorized();
      return Response.json({
        id: row.id,
        email: row.email,
        name: row.name,
        role: row.role,
        tier: row.tier,
        emailVerified: Boolean(row.email_verified),
        createdAt: iso(row.created_at),
      });
    },
    '/api/v1/chats': async (request) => {
      const sub = verify(request);
      if (!sub) return unauthorized();
      const rows = await store.chats(sub);
      const data = rows.slice(0, 20).map((row) => ({
        id: row.id,
        title: row.title,
        provider: row.provider,
        model: row.model,
        systemPrompt: row.system_prompt,
        category: row.category,
        pinned: Boolean(row.pinned),
        archived: Boolean(row.archived),
        featured: Boolean(row.featured),
        createdAt: iso(row.created_at),
        updatedAt: iso(row.updated_at),
      }));
      const last = rows.length > 20 ? rows[19]! : undefined;
      const nextCursor = last
        ? Buffer.from(JSON.stringify([Boolean(last.pinned), +new Date(last.updated_at), last.id])).toString('base64url')
        : null;
      return Response.json({ data, nextCursor });
    },
  },
  fetch: () => new Response('not found', { status: 404 }),
});
process.on('SIGTERM', () => server.stop().then(() => process.exit(0)));
