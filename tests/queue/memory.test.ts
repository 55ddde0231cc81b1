import { createMemoryQueues } from '../../src/infra/queue/memory.ts';
import { runQueueSuite } from './queue-suite.ts';

runQueueSuite('the in-process queue', { open: createMemoryQueues, shared: false, cleanup: async () => {} });
