import { and, desc, eq, gte, lt, type SQL } from 'drizzle-orm';
import type { Database, Tx } from '../../infra/db/index.ts';
import { repository } from '../../infra/db/repository.ts';

export type AuditRow = Database['tables']['auditLog']['$inferSelect'];
export type NewAuditRow = Database['tables']['auditLog']['$inferInsert'];

/** What a page of the audit log may be narrowed to; `actorCredential` picks the admin key's actions. */
export type AuditFilter = {
  action?: string;
  actorUserId?: string;
  actorCredential?: AuditRow['actorCredential'];
  targetId?: string;
  targetType?: string;
  since?: Date;
  until?: Date;
};

/** The audit log's table: written once per admin action, read newest first. */
export function createAuditRepository(db: Database) {
  const { auditLog } = db.tables;
  return repository((tx: Tx | undefined) => ({
    async insert(row: NewAuditRow): Promise<void> {
      await db.run((q) => q.insert(auditLog).values(row), tx);
    },
    /** Newest first (ids are UUIDv7: id order is time order), after `beforeId` when paging on. */
    async list({ limit, beforeId, filter }: { limit: number; beforeId?: string; filter: AuditFilter }): Promise<AuditRow[]> {
      const conditions: SQL[] = [];
      if (beforeId) conditions.push(lt(auditLog.id, beforeId));
      if (filter.action) conditions.push(eq(auditLog.action, filter.action));
      if (filter.actorUserId) conditions.push(eq(auditLog.actorUserId, filter.actorUserId));
      if (filter.actorCredential) conditions.push(eq(auditLog.actorCredential, filter.actorCredential));
      if (filter.targetId) conditions.push(eq(auditLog.targetId, filter.targetId));
      if (filter.targetType) conditions.push(eq(auditLog.targetType, filter.targetType));
      if (filter.since) conditions.push(gte(auditLog.createdAt, filter.since));
      if (filter.until) conditions.push(lt(auditLog.createdAt, filter.until));
      return db.run(
        (q) =>
          q
            .select()
            .from(auditLog)
            .where(conditions.length ? and(...conditions) : undefined)
            .orderBy(desc(auditLog.id))
            .limit(limit),
        tx,
      );
    },
  }));
}

export type AuditRepository = ReturnType<typeof createAuditRepository>;
