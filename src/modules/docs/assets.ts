// Imported as files: `bun build --compile` embeds them in the executable, and from source they
// are read from node_modules. Either way the docs page needs no CDN.

import cssPath from 'swagger-ui-dist/swagger-ui.css' with { type: 'file' };
import bundlePath from 'swagger-ui-dist/swagger-ui-bundle.js' with { type: 'file' };
import { notFound } from '../../http/errors.ts';

const files: Record<string, { path: string; type: string }> = {
  'swagger-ui-bundle.js': { path: bundlePath, type: 'text/javascript; charset=utf-8' },
  'swagger-ui.css': { path: cssPath, type: 'text/css; charset=utf-8' },
};

export const swaggerAssets = {
  response(name: string): Response {
    const asset = files[name];
    if (!asset) throw notFound('Asset');
    return new Response(Bun.file(asset.path), {
      headers: { 'content-type': asset.type, 'cache-control': 'public, max-age=86400' },
    });
  },
};
