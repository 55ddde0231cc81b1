// The two dialect schemas are written twice; this keeps them one design.
import { expect, test } from 'bun:test';
import { getTableConfig as pgTableConfig } from 'drizzle-orm/pg-core';
import { getTableConfig as sqliteTableConfig } from 'drizzle-orm/sqlite-core';
import * as pg from '../../src/infra/db/schema.pg.ts';
import * as sqlite from '../../src/infra/db/schema.sqlite.ts';

type Shape = { name: string; columns: string[]; notNull: string[]; primaryKeys: string[]; indexes: string[]; foreignKeys: string[] };

function describeTables(
  tables: Record<string, unknown>,
  config: (table: never) => ReturnType<typeof pgTableConfig> | ReturnType<typeof sqliteTableConfig>,
) {
  return Object.fromEntries(
    Object.entries(tables).map(([key, table]) => {
      const c = config(table as never);
      const shape: Shape = {
        name: c.name,
        columns: c.columns.map((col) => col.name).sort(),
        notNull: c.columns
          .filter((col) => col.notNull)
          .map((col) => col.name)
          .sort(),
        primaryKeys: [
          ...c.columns.filter((col) => col.primary).map((col) => col.name),
          ...c.primaryKeys.flatMap((pk) => pk.columns.map((col) => col.name)),
        ].sort(),
        indexes: c.indexes.map((index) => `${index.config.name}:${index.config.unique ? 'unique' : 'plain'}`).sort(),
        foreignKeys: c.foreignKeys
          .map(
            (fk) =>
              `${fk
                .reference()
                .columns.map((col) => col.name)
                .join(',')}->${fk.reference().foreignTable ? 'table' : ''}:${fk.onDelete}`,
          )
          .sort(),
      };
      return [key, shape];
    }),
  );
}

test('happy: SQLite and Postgres schemas define the same tables, columns, keys and indexes', () => {
  const pgShapes = describeTables(pg, pgTableConfig as never);
  const sqliteShapes = describeTables(sqlite, sqliteTableConfig as never);
  expect(Object.keys(sqliteShapes).sort()).toEqual(Object.keys(pgShapes).sort());
  expect(Object.keys(pgShapes).length).toBeGreaterThanOrEqual(7);
  for (const key of Object.keys(pgShapes)) expect(sqliteShapes[key]).toEqual(pgShapes[key]!);
});
