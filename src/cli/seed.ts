// `parley seed`: demo data for a new deployment, written through the same services the routes
// use (accounts, chats, replies), so it is exactly what the API would have stored. The replies
// come from the built-in echo provider whatever else is configured: seeding never calls (or
// pays) an upstream.
import { createServices } from '../app.ts';
import type { Config } from '../config/index.ts';
import type { UserCaller } from '../http/auth.ts';
import { closeInfra, openInfra } from '../infra/index.ts';
import type { Logger } from '../infra/log/index.ts';
import { describeDatabase } from './migrate.ts';

type DemoUser = { email: string; name: string; role: 'admin' | 'user'; tier: 'free' | 'pro' | 'enterprise' };
type DemoChat = { owner: string; title: string; category?: string; featured?: boolean; turns: string[] };

const demoUsers: DemoUser[] = [
  { email: 'admin@parley.demo', name: 'Ada Admin', role: 'admin', tier: 'enterprise' },
  { email: 'alice@parley.demo', name: 'Alice', role: 'user', tier: 'pro' },
  { email: 'bob@parley.demo', name: 'Bob', role: 'user', tier: 'free' },
];

const demoChats: DemoChat[] = [
  {
    owner: 'admin@parley.demo',
    title: 'Welcome to Parley',
    category: 'getting-started',
    featured: true,
    turns: ['Hello Parley, what can you do?', 'Show me how streaming replies look.'],
  },
  {
    owner: 'alice@parley.demo',
    title: 'Weekend in Lisbon',
    category: 'travel',
    turns: ['Plan two relaxed days in Lisbon.', 'Add a good place for pastéis de nata.'],
  },
  { owner: 'alice@parley.demo', title: 'Sourdough basics', category: 'cooking', turns: ['How do I keep a starter alive?'] },
  { owner: 'bob@parley.demo', title: 'Learning Rust', category: 'code', turns: ['Explain ownership in one paragraph.', 'And borrowing?'] },
];

/** Thrown when the database already holds users and `force` was not given. */
export class NotEmptyError extends Error {
  constructor(readonly users: number) {
    super(`the database already has ${users} user(s); run \`parley seed --force\` to add the demo data anyway`);
    this.name = 'NotEmptyError';
  }
}

const password = () => `demo-${Buffer.from(crypto.getRandomValues(new Uint8Array(12))).toString('base64url')}`;

/**
 * Migrates, then loads demo users (an admin, a pro and a free user, each with a new random
 * password printed once), their chats with a few exchanges, and a featured chat, into an empty
 * database. A database with users is refused (NotEmptyError) unless `force`; with it, demo users
 * that exist already are left as they are, with their chats. Writes what it did to `write`.
 */
export async function seed(config: Config, log: Logger, { force, write }: { force: boolean; write: (text: string) => void }) {
  const infra = await openInfra(config, log);
  try {
    await infra.db.migrate();
    const existing = await infra.db.run((q) => q.$count(infra.db.tables.users));
    if (existing > 0 && !force) throw new NotEmptyError(existing);
    const services = createServices(infra);
    try {
      write(`seeding ${describeDatabase(config)}\n`);
      const callers = new Map<string, UserCaller>();
      for (const demo of demoUsers) {
        if (await services.users.findByEmail(demo.email)) {
          write(`  user ${demo.email}: exists, left as it is\n`);
          continue;
        }
        const secret = password();
        const { user } = await services.auth.accounts.register(
          { email: demo.email, password: secret, name: demo.name },
          { ip: null, userAgent: 'parley seed' },
          null,
        );
        const { user: seeded } = await services.users.adminUpdate(user.id, { role: demo.role, tier: demo.tier });
        callers.set(demo.email, {
          user: { ...seeded, createdAt: new Date(seeded.createdAt) },
          isAdmin: demo.role === 'admin',
          via: 'token',
          sessionId: null,
          tokenId: null,
          tokenExpiresAt: null,
          apiKeyId: null,
          apiKeyExpiresAtMs: null,
        });
        write(`  user ${demo.email} (${demo.role}, ${demo.tier}) password: ${secret}\n`);
      }
      let messages = 0;
      for (const demo of demoChats) {
        const caller = callers.get(demo.owner);
        if (!caller) continue;
        const chat = await services.chats.create(caller.user.id, { title: demo.title, category: demo.category });
        for (const content of demo.turns) {
          const started = await services.chats.send(caller, 'seed', chat.id, { content, provider: 'echo' });
          await services.replies.result(started);
          messages += 2;
        }
        if (demo.featured) await services.chats.setFeatured(chat.id, true);
        write(`  chat "${demo.title}" of ${demo.owner}${demo.featured ? ' (featured)' : ''}: ${demo.turns.length} exchange(s)\n`);
      }
      // One demo pipeline for the first seeded user: a template feeding two echo steps.
      const owner = callers.values().next().value;
      if (owner) {
        const pipeline = await services.pipelines.create(owner.user.id, {
          name: 'Summarise and title',
          description: 'A demo: the input as a brief, then a summary and a title from it',
          steps: [
            { id: 'brief', type: 'template', template: 'Notes: {{input.notes}}' },
            { id: 'summary', type: 'llm', provider: 'echo', prompt: 'Summarise: {{steps.brief.output}}' },
            { id: 'title', type: 'llm', provider: 'echo', prompt: 'A title for: {{steps.summary.output}}' },
          ],
        } as Parameters<typeof services.pipelines.create>[1]);
        write(`  pipeline "${pipeline.name}" of ${owner.user.email}\n`);
      }
      write(`done: ${callers.size} user(s), ${messages} message(s)\n`);
    } finally {
      await services.replies.drain(10_000);
      await services.close();
    }
  } finally {
    await closeInfra(infra);
  }
}
