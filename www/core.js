// The core's module, instantiated as this engine and page allow
// (scripts/build-wasm.sh makes the builds):
// - where the page is cross-origin isolated (shared memory can be posted to
//   workers) and the CPU path will run, the threads build: a shared memory
//   and a thread pool, one Web Worker per spare core (`thread-worker.js`),
//   each running the same module on the same memory, so the model is held
//   once and every core computes with it (crate/src/pool.rs); with relaxed
//   SIMD (a fused multiply-add instruction in the CPU loops) where the
//   engine validates it;
// - elsewhere, the WebGPU build: WebGPU (wgpu cannot be built with wasm
//   atomics) and the CPU path on this thread, where helper workers share
//   the batches instead (helpers.js), each with its own copy of the model.

// A tiny wasm module using one relaxed-SIMD instruction: where it
// validates, the engine has relaxed SIMD.
const RELAXED_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // \0asm, version 1
  0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, // type: () -> v128
  0x03, 0x02, 0x01, 0x00, // one function of that type
  0x0a, 0x3d, 0x01, 0x3b, 0x00, // its code: 59 bytes, no locals
  ...[0, 1, 2].flatMap(() => [0xfd, 0x0c, ...new Array(16).fill(0)]), // v128.const 0, three times
  0xfd, 0x85, 0x02, // f32x4.relaxed_madd
  0x0b, // end
]);

/**
 * The core's wasm-bindgen module (its exported functions), once
 * `instantiate` has chosen and started a build: the worker's modules call
 * the core through this binding.
 */
export let core = null;

/**
 * Which SIMD to run: 'simd128' where relaxed SIMD is missing or `wanted`
 * is 'simd128'; 'relaxed' where `wanted` is that; else 'auto' (the faster
 * here, timed). (`wanted`: the page's `?simd=`, for tests.)
 */
function simdLevel(wanted) {
  if (wanted === 'simd128' || !WebAssembly.validate(RELAXED_PROBE)) return 'simd128';
  return wanted === 'relaxed' ? 'relaxed' : 'auto';
}

/** Whether shared memory can reach other workers here. */
export const canShare = () => Boolean(self.crossOriginIsolated) && typeof SharedArrayBuffer === 'function';

/**
 * The module's imported memory, if any, and its limits in pages (the
 * shared memory the threads build imports is made here, to hand to each
 * thread). Reads the import section only (LEB128 integers).
 */
function memoryImport(bytes) {
  let at = 8;
  const leb = () => {
    let value = 0;
    let shift = 0;
    let byte;
    do {
      byte = bytes[at++];
      value += (byte & 0x7f) * 2 ** shift;
      shift += 7;
    } while (byte & 0x80);
    return value;
  };
  const skipName = () => {
    const length = leb();
    at += length;
  };
  while (at < bytes.length) {
    const id = bytes[at++];
    const size = leb();
    const end = at + size;
    if (id === 2) {
      for (let count = leb(); count > 0; count--) {
        skipName();
        skipName();
        const kind = bytes[at++];
        if (kind === 0) leb(); // function: its type
        else if (kind === 1) { at++; const flags = bytes[at++]; leb(); if (flags & 1) leb(); } // table
        else if (kind === 3) at += 2; // global: type, mutability
        else if (kind === 4) { at++; leb(); } // tag
        else if (kind === 2) {
          const flags = bytes[at++];
          const initial = leb();
          const maximum = flags & 1 ? leb() : undefined;
          return { imported: true, initial, maximum, shared: Boolean(flags & 2) };
        } else break;
      }
    }
    at = end;
  }
  return { imported: false }; // a build that makes its own memory
}

// The builds (scripts/build-wasm.sh) by SIMD level: each module with its
// own glue (the glue names a build's closure shims by number, and the linker
// numbers them differently in each build).
const BUILDS = {
  threads: {
    relaxed: { glue: './pkg/wav2lip_threads_relaxed.js', module: './pkg/wav2lip_threads_relaxed_bg.wasm' },
    simd128: { glue: './pkg/wav2lip_threads.js', module: './pkg/wav2lip_threads_bg.wasm' },
  },
  gpu: { simd128: { glue: './pkg/wav2lip.js', module: './pkg/wav2lip_bg.wasm' } },
};

/**
 * Compile and instantiate one build at a SIMD level, on that build's glue
 * (two levels may be tried side by side: each has its own glue file).
 */
async function start(name, simd) {
  simd = BUILDS[name][simd] ? simd : 'simd128';
  const build = BUILDS[name][simd];
  const [glue, response] = await Promise.all([import(build.glue), fetch(new URL(build.module, import.meta.url))]);
  if (!response.ok) throw new Error(`the core's module could not be loaded (${response.status}); reload the page`);
  const bytes = new Uint8Array(await response.arrayBuffer());
  const limits = memoryImport(bytes);
  const module = await WebAssembly.compile(bytes);
  const { shared } = limits;
  const memory = limits.imported ? new WebAssembly.Memory({ initial: limits.initial, maximum: limits.maximum, shared }) : undefined;
  const exports = await glue.default({ module_or_path: module, memory });
  return { build: name, glue, simd, module, memory: memory ?? exports.memory, shared };
}

/** The best of 5 times (ms) of a fixed piece of the CPU loops in a started build. */
function timeLoops({ glue }) {
  let best = Infinity;
  for (let i = 0; i < 5; i++) {
    const started = performance.now();
    glue.loopProbe();
    best = Math.min(best, performance.now() - started);
  }
  return best;
}

/**
 * The threads build at the faster SIMD level here: where relaxed SIMD
 * validates, both are timed on the same loops (fused multiply-adds are
 * faster on some CPUs and slower on others: on one AMD EPYC, one build
 * measured 107 vs 83 ms a frame and the next 74 vs 83), and the other is
 * dropped.
 */
async function fasterThreadsBuild(simd) {
  if (simd !== 'auto') return start('threads', simd);
  const baseline = await start('threads', 'simd128');
  const relaxed = await start('threads', 'relaxed');
  const [a, b] = [timeLoops(baseline), timeLoops(relaxed)];
  console.info(`core: the CPU loops take ${b.toFixed(1)} ms with relaxed SIMD, ${a.toFixed(1)} ms without`);
  return b < a ? relaxed : baseline;
}

/**
 * Start the core: the threads build where shared memory reaches workers
 * and the CPU path will run (`choose(core)`: 'cpu' or 'webgpu', asked of
 * the core itself), else the WebGPU build. Returns {build, simd, memory,
 * module, shared}; `core` is then set.
 */
export async function instantiate(wanted, choose) {
  const simd = simdLevel(wanted);
  let started = null;
  if (canShare()) {
    started = await fasterThreadsBuild(simd);
    if ((await choose(started.glue)) !== 'cpu') started = null;
  }
  started ??= await start('gpu', simd);
  core = started.glue;
  return started;
}

// Threads beyond this one: one per spare core.
const spareCores = () => Math.max(0, (navigator.hardwareConcurrency || 1) - 1);

/**
 * Start the pool's threads on a shared memory and wait (up to 10 s) until
 * they have joined (`joined()`: how many threads the core counts, itself
 * included). Returns that count; threads that join later are used then.
 */
export async function startThreads({ build, simd, module, memory }, joined, count = spareCores()) {
  // The threads load the same build's glue (by its full address: they are other workers).
  const glue = new URL(BUILDS[build][simd].glue, import.meta.url).href;
  for (let i = 0; i < count; i++) {
    const thread = new Worker(new URL('./thread-worker.js', import.meta.url), { type: 'module', name: `wav2lip thread ${i + 1}` });
    thread.onerror = (event) => {
      // Not the core's failure: the pool goes on with the threads it has.
      event.preventDefault();
      console.warn(`a CPU thread failed to start: ${event.message}`);
    };
    thread.postMessage({ glue, module, memory });
  }
  const deadline = performance.now() + 10_000;
  while (joined() < count + 1 && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  return joined();
}
