// The page's one way to reach the core: a module worker, and calls to it by name.
// Every call returns a promise; the worker answers in order, and a long call
// may report progress on the way.

/** A WebGPU adapter's name, from the core's start report (`adapter`). */
export function adapterName(adapter) {
  return [adapter?.vendor, adapter?.architecture, adapter?.description].filter(Boolean).join(' / ') || 'unnamed';
}

export class Core {
  #worker;
  #next = 1;
  #pending = new Map();

  constructor() {
    this.#worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
    this.#worker.onmessage = ({ data: { id, result, error, cancelled, progress } }) => {
      const call = this.#pending.get(id);
      if (!call) return;
      if (progress) {
        call.onProgress?.(progress);
        return;
      }
      this.#pending.delete(id);
      error ? call.reject(Object.assign(new Error(error), { cancelled: Boolean(cancelled) })) : call.resolve(result);
    };
    this.#worker.onerror = (event) => {
      const error = new Error(`the core stopped: ${event.message ?? 'unknown error'}; reload the page`);
      for (const call of this.#pending.values()) call.reject(error);
      this.#pending.clear();
    };
  }

  /**
   * Call `method` in the worker with a plain-object argument. Buffers in
   * `transfer` move to the worker instead of being copied (frames are large)
   * and are unusable here afterwards. `onProgress` hears the call's progress
   * reports, if it makes any.
   */
  call(method, args = {}, transfer = [], onProgress = null) {
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, onProgress });
      this.#worker.postMessage({ id, method, args }, transfer);
    });
  }

  /** Ask the running job to stop; its call then rejects with `cancelled` set. */
  cancel() {
    return this.call('cancel');
  }

  terminate() {
    this.#worker.terminate();
  }
}
