// Live mode's ears, in the audio thread (an AudioWorklet): the sound that
// reaches this node (the microphone, or the chosen voice as it plays),
// mixed to mono by the node (channelCount 1), sent in pieces of 20 ms
// straight to the core's worker through the port the page hands over; and
// to the page, how much has been heard (its clock for camera frames: live
// time is the sound's, seconds from the first sample).
class LiveSound extends AudioWorkletProcessor {
  #worker = null;
  #piece = new Float32Array(Math.round(sampleRate / 50));
  #filled = 0;
  #heard = 0;
  #stopped = false;

  constructor() {
    super();
    this.port.onmessage = ({ data }) => {
      if (data.worker) this.#worker = data.worker;
      if (data.stop) this.#stopped = true;
    };
  }

  process([input]) {
    if (this.#stopped) return false;
    const samples = input?.[0];
    // Nothing connected yet (a microphone still starting): no time passes.
    if (!samples || !this.#worker) return true;
    let from = 0;
    while (from < samples.length) {
      const take = Math.min(samples.length - from, this.#piece.length - this.#filled);
      this.#piece.set(samples.subarray(from, from + take), this.#filled);
      this.#filled += take;
      from += take;
      if (this.#filled === this.#piece.length) {
        this.#heard += this.#filled;
        const length = this.#piece.length;
        // Moved, not copied: the piece is unusable here afterwards.
        this.#worker.postMessage(this.#piece, [this.#piece.buffer]);
        this.port.postMessage({ heard: this.#heard });
        this.#piece = new Float32Array(length);
        this.#filled = 0;
      }
    }
    return true;
  }
}

registerProcessor('live-sound', LiveSound);
