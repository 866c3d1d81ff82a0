// The CPU path on every core where the page has no shared memory (not
// cross-origin isolated; elsewhere the core's threads do it, core.js):
// helper workers, each a core of its own with
// its own copy of the model (read from the kept OPFS copy), take a share of
// each batch of frames (crate/src/web/helpers.rs splits and joins them).
// Nothing else crosses between workers, so no shared memory is needed.
import { Core } from './bridge.js';

// Each helper holds the model (~150 MB): a few at most.
const MOST = 3;

export class Helpers {
  #core;
  #helpers = [];
  #starting = Promise.resolve();

  /** `core`: this worker's wasm core (its setHelpers). */
  constructor(core) {
    this.#core = core;
  }

  get count() {
    return this.#helpers.length;
  }

  /** Once the helpers under way (if any) have started. */
  ready() {
    return this.#starting;
  }

  /**
   * One helper per spare core, with the kept model of `kind`; they join
   * once all have loaded it (a job meanwhile runs on this worker alone).
   */
  start(kind) {
    const starting = this.stop().then(async () => {
      const wanted = Math.min(MOST, (navigator.hardwareConcurrency || 1) - 1);
      const helpers = [];
      for (let i = 0; i < wanted; i++) {
        const helper = new Core();
        try {
          // One at a time: an OPFS file has one reader at a time.
          await helper.call('start', { backend: 'cpu', helper: true });
          if (!(await helper.call('loadCachedModel', { kind, remember: false }))) throw new Error('no kept copy of the model');
          helpers.push(helper);
        } catch (error) {
          helper.terminate();
          console.warn(`the CPU path uses ${helpers.length + 1} of ${wanted + 1} cores: a helper failed to start (${error.message})`);
          break;
        }
      }
      if (this.#starting !== starting) return helpers.forEach((h) => h.terminate());
      this.#helpers = helpers;
      const run = (i, mel, face, batch) => helpers[i].call('generate', { mel, face, batch }, [mel.buffer, face.buffer]).then(({ out }) => out);
      this.#core.setHelpers(helpers.length ? run : null, helpers.length);
    });
    this.#starting = starting;
    return starting;
  }

  /** The helpers' wasm memories, in bytes, added up. */
  async memory() {
    const reports = await Promise.all(this.#helpers.map((helper) => helper.call('memory')));
    return reports.reduce((sum, { wasm }) => sum + wasm, 0);
  }

  /** Stop sharing and end the helpers (after any start under way). */
  async stop() {
    const starting = this.#starting;
    this.#starting = Promise.resolve();
    await starting.catch(() => {});
    this.#core.setHelpers(null, 0);
    for (const helper of this.#helpers) helper.terminate();
    this.#helpers = [];
  }
}
