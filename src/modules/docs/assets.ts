// Imported as files: `bun build --compile` embeds them in the executable, and from source they
// are read from node_modules. Either way the docs pages need no CDN.

import cssPath from 'swagger-ui-dist/swagger-ui.css' with { type: 'file' };
import bundlePath from 'swagger-ui-dist/swagger-ui-bundle.js' with { type: 'file' };
// Scalar's package does not export its browser bundle (and package.json "imports" may not point
// into node_modules), so it is reached by its path.
import scalarBundlePath from '../../../node_modules/@scalar/api-reference/dist/browser/standalone.js' with { type: 'file' };
import { notFound } from '../../http/errors.ts';

type Asset = { body: () => Blob; type: string };

const javascript = 'text/javascript; charset=utf-8';
const fileAsset = (path: string, type: string): Asset => ({ body: () => Bun.file(path), type });

/** A set of files served under one route (`…/assets/:file`): unknown names are 404. */
function assetSet(files: Record<string, Asset>) {
  return {
    response(name: string): Response {
      const asset = Object.hasOwn(files, name) ? files[name] : undefined;
      if (!asset) throw notFound('Asset');
      return new Response(asset.body(), {
        headers: { 'content-type': asset.type, 'cache-control': 'public, max-age=86400' },
      });
    },
  };
}

/** Swagger UI's script and styles, for /swagger. */
export const swaggerAssets = assetSet({
  'swagger-ui-bundle.js': fileAsset(bundlePath, javascript),
  'swagger-ui.css': fileAsset(cssPath, 'text/css; charset=utf-8'),
});

/** Scalar's standalone bundle and the script that starts it (`bootScript`), for /docs. */
export function referenceAssets(bootScript: string) {
  const boot = new Blob([bootScript], { type: javascript });
  return assetSet({
    'scalar.js': fileAsset(scalarBundlePath, javascript),
    'reference.js': { body: () => boot, type: javascript },
  });
}
