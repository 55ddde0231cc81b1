import pkg from '../package.json' with { type: 'json' };

// Replaced by `bun build --define` (scripts/compile.ts); undeclared, hence `typeof`, when run from source.
declare const PARLEY_COMMIT: string | undefined;
declare const PARLEY_BUILT_AT: string | undefined;

/** The release version, from package.json (bundled into the executable). */
export const version: string = pkg.version;

/** The git commit the executable was built from (`-dirty` when the work tree had changes), or `source` when run from source. */
const commit: string = typeof PARLEY_COMMIT === 'string' ? PARLEY_COMMIT : 'source';

/** When the executable was built (ISO 8601 UTC), or null when run from source. */
const builtAt: string | null = typeof PARLEY_BUILT_AT === 'string' ? PARLEY_BUILT_AT : null;

/** What `parley --version` prints: `parley 0.1.0 (commit <sha>, built <time>)`, or `parley 0.1.0 (run from source)`. */
export function versionLine(): string {
  return builtAt === null ? `parley ${version} (run from source)` : `parley ${version} (commit ${commit}, built ${builtAt})`;
}
