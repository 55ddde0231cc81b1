// The API reference page at /docs: Scalar's standalone bundle, served from the executable like
// Swagger UI's (see assets.ts), reading the same document as /swagger. Its page has no inline
// script (the bundle is started by a small script of ours, reference.js), so its CSP allows
// scripts from this origin only; nothing on it reaches another host: no fonts from Scalar's CDN,
// no telemetry, no request proxy (the request runner calls this server directly), no AI agent.

/** Where the page lives; `/api-docs` and `/redoc` (the paths older docs used) redirect here. */
export const referencePath = '/docs';
export const referenceRedirects = ['/api-docs', '/redoc'] as const;

/**
 * Scalar's configuration (see @scalar/api-reference's `createApiReference`): the document by an
 * absolute URL, so /docs and /docs/ both find it; every option that would reach Scalar's own
 * servers switched off.
 */
export function referenceConfig(documentUrl: string) {
  return {
    url: documentUrl,
    withDefaultFonts: false,
    telemetry: false,
    agent: { disabled: true },
    mcp: { disabled: true },
    // The client button opens Scalar's hosted client; "Test Request" runs requests right here.
    hideClientButton: true,
    hideTestRequestButton: false,
    showDeveloperTools: 'never',
    documentDownloadType: 'json',
    persistAuth: true,
    defaultOpenFirstTag: true,
    orderRequiredPropertiesFirst: true,
  };
}

/** The script that mounts the reference into `#reference` once the bundle has loaded. */
export function referenceBootScript(documentUrl: string): string {
  return `Scalar.createApiReference('#reference', ${JSON.stringify(referenceConfig(documentUrl))});\n`;
}

/** The page itself: the mount point, the bundle and the boot script, all from `${referencePath}/assets/`. */
export function referencePageHtml(title: string): string {
  const escaped = title.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
  return `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>${escaped}</title>
    <link rel="icon" href="data:," />
  </head>
  <body>
    <div id="reference"></div>
    <script src="${referencePath}/assets/scalar.js"></script>
    <script src="${referencePath}/assets/reference.js"></script>
  </body>
</html>
`;
}
