// One thread of the core's pool (www/core.js): the core's module, with its
// own glue, on the core's shared memory, working on the pool's tasks until
// the core's worker ends (which ends this one).
self.onmessage = async ({ data: { glue, module, memory } }) => {
  const core = await import(glue);
  await core.default({ module_or_path: module, memory });
  // Blocks this worker for good: it waits on the pool (memory.atomic.wait32).
  core.serveThreads();
};
