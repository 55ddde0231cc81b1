// `bun run.ts <baseUrl>`: runs both examples against a server and prints what they got, as JSON.
import { edenExample } from './eden.ts';
import { openapiFetchExample } from './openapi-fetch.ts';

const baseUrl = process.argv[2] ?? 'http://localhost:3000';
console.log(JSON.stringify({ eden: await edenExample(baseUrl), openapiFetch: await openapiFetchExample(baseUrl) }));
