import pkg from '../package.json' with { type: 'json' };

/** The release version, from package.json (bundled into the executable). */
export const version: string = pkg.version;
