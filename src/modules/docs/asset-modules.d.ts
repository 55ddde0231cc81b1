// Bun resolves these imports to file paths (`with { type: 'file' }`); TypeScript needs telling.
declare module 'swagger-ui-dist/swagger-ui-bundle.js' {
  const path: string;
  export default path;
}
declare module 'swagger-ui-dist/swagger-ui.css' {
  const path: string;
  export default path;
}
// Scalar's browser bundle, imported by its path in node_modules (see assets.ts).
declare module '*/@scalar/api-reference/dist/browser/standalone.js' {
  const path: string;
  export default path;
}
