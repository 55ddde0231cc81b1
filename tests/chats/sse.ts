// The chats suites' SSE client lives in tests/helpers/sse.ts (shared with the realtime suites);
// re-exported here so the chats and models tests keep importing from './sse.ts'.
export { compareEventIds, parseSseBlock, readSse, type SseData, type SseEvent, SseReader, type SseTranscript } from '../helpers/sse.ts';
