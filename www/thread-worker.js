// One thread of the core's pool (www/core.js): the core's module on the
// core's shared memory, working on the pool's tasks until the core's
// worker ends (which ends this one).
import init, { serveThreads } from './pkg/wav2lip_threads.js';

self.onmessage = async ({ data: { module, memory } }) => {
  await init({ module_or_path: module, memory });
  // Blocks this worker for good: it waits on the pool (memory.atomic.wait32).
  serveThreads();
};
