import type { Tx } from './types.ts';

/**
 * A repository's methods outside any transaction, plus `with(tx)`: the same methods inside
 * `tx`'s unit of work. `repo.with(tx).update(…)` is how an atomic write reads at its call site.
 */
export type Repository<M> = M & { with(tx: Tx): M };

/**
 * Builds a repository from `methods(tx)`, which must hand `tx` to every query it runs
 * (`db.run(work, tx)`, `prepared(values, tx)`, `db.raw(statement, tx)`); `tx` is undefined
 * for the methods used outside a transaction.
 */
export function repository<M extends object>(methods: (tx: Tx | undefined) => M): Repository<M> {
  return { ...methods(undefined), with: (tx: Tx) => methods(tx) };
}
