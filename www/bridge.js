// The page's one way to reach the core: a module worker, and calls to it by name.
// Every call returns a promise; the worker answers in order.

export class Core {
  #worker;
  #next = 1;
  #pending = new Map();

  constructor() {
    this.#worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
    this.#worker.onmessage = ({ data: { id, result, error } }) => {
      const call = this.#pending.get(id);
      if (!call) return;
      this.#pending.delete(id);
      error ? call.reject(new Error(error)) : call.resolve(result);
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
   * and are unusable here afterwards.
   */
  call(method, args = {}, transfer = []) {
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#worker.postMessage({ id, method, args }, transfer);
    });
  }

  terminate() {
    this.#worker.terminate();
  }
}
