// The output's sound, decided before the job starts so that a job never
// fails at its last step: the voice's own packets where the output's
// container takes its codec (no generation loss), else the voice decoded
// again and re-encoded in a form this browser's encoder takes — surround
// folded to stereo and the rate changed by the core (`audio::remix`) where
// the encoder needs it, each choice checked with the encoder first.
import { core } from './core.js';
import {
  ALL_FORMATS, AudioSample, AudioSampleSink, AudioSampleSource, BlobSource, EncodedAudioPacketSource, EncodedPacketSink,
  Input, canEncodeAudio,
} from './lib/mediabunny.js';
import { VOICE_TRACK, checkSameFormat, decodableTrack } from './media.js';

/** Codecs copied as they are into each container (players take them there). */
const COPIED = { mp4: ['aac', 'opus'], webm: ['opus', 'vorbis'] };
/** Codecs encoded for each container, best first. */
const ENCODED = { mp4: ['aac', 'opus'], webm: ['opus', 'vorbis'] };
/** Rates tried after the voice's own, most common first. */
const RATES = [48000, 44100, 32000, 24000, 16000, 8000];

/** Bits per second for `channels` channels: 128 kb/s for stereo, as before. */
const bitrateFor = (channels) => Math.min(512e3, 64e3 * Math.max(2, channels));

const unique = (list) => [...new Set(list)];

/**
 * The first form of sound this browser encodes for `container`: codec,
 * channels (the voice's, else stereo, else mono) and rate (the voice's,
 * else a common one), each asked of the encoder (`isConfigSupported`).
 */
export async function encodableSound(container, channels, rate) {
  const layouts = channels <= 2 ? unique([channels, 2, 1]) : [channels, 2, 1];
  for (const codec of ENCODED[container]) {
    for (const numberOfChannels of layouts) {
      for (const sampleRate of unique([rate, ...RATES])) {
        const bitrate = bitrateFor(numberOfChannels);
        if (await canEncodeAudio(codec, { numberOfChannels, sampleRate, bitrate })) {
          return { codec, channels: numberOfChannels, rate: sampleRate, bitrate };
        }
      }
    }
  }
  return null;
}

const describe = ({ codec, channels, rate }) => `${codec.toUpperCase()} ${channels === 1 ? 'mono' : channels === 2 ? 'stereo' : `${channels} channels`} ${rate / 1000} kHz`;

/**
 * The voice in `file` as the output's sound track for `container` ('mp4'
 * or 'webm'): `{source, codec, description, copied, until(seconds), dispose()}`. Add
 * `source` to the output, then call `until` as the video advances (and
 * with Infinity at the end); the sound starts where the voice's first
 * decoded sample does, as the spectrogram did.
 */
export async function openSoundtrack(file, container) {
  const input = new Input({ source: new BlobSource(file), formats: ALL_FORMATS });
  try {
    const track = await decodableTrack(input, 'audio', VOICE_TRACK);
    const samples = new AudioSampleSink(track).samples();
    const { value: first, done: empty } = await samples.next();
    if (empty) throw new Error('its sound track is empty');
    const voice = { codec: track.codec, channels: first.numberOfChannels, rate: first.sampleRate };
    const start = first.timestamp;
    if (COPIED[container].includes(track.codec)) {
      first.close();
      await samples.return();
      return copied(input, track, start, `${describe(voice)}, copied from the voice`);
    }
    const form = await encodableSound(container, voice.channels, voice.rate);
    if (!form) {
      throw new Error(`this browser cannot encode sound for ${container.toUpperCase()} (no ${ENCODED[container].join(' or ').toUpperCase()} encoder takes ${voice.channels} channels, nor stereo or mono, at any common rate); try Chrome or Edge`);
    }
    const remix = form.channels !== voice.channels || form.rate !== voice.rate;
    const description = `${describe(form)}${remix ? `, from ${describe({ ...voice, codec: voice.codec ?? 'PCM' })}` : ''}`;
    return reencoded(input, samples, first, voice, form, description);
  } catch (error) {
    input.dispose?.();
    throw error;
  }
}

/** The voice's packets into the output as they are. */
async function copied(input, track, start, description) {
  const source = new EncodedAudioPacketSource(track.codec);
  const decoderConfig = await track.getDecoderConfig();
  const packets = new EncodedPacketSink(track).packets();
  let first = true;
  let done = false;
  return {
    source, description, codec: track.codec, copied: true,
    async until(seconds) {
      while (!done) {
        const { value: packet, done: ended } = await packets.next();
        if (ended) {
          done = true;
          break;
        }
        // Shifted as the decoded samples were: the voice's first sound at 0
        // (an encoder's priming, before it, stays before it and is trimmed).
        const at = packet.timestamp - start;
        await source.add(packet.clone({ timestamp: at }), first ? { decoderConfig } : undefined);
        first = false;
        if (at > seconds) break;
      }
    },
    dispose: () => input.dispose?.(),
  };
}

/**
 * An encoder for sound of `voice`'s rate and channels in `form`
 * (`encodableSound`'s): `push(interleaved)` adds f32 samples, remixed by
 * the core where the two differ (`audio/remix.rs`), timed from 0;
 * `finish()` adds what the remix still holds; `seconds()` is how much is
 * in. Add `source` to the output.
 */
export function soundEncoder(voice, form) {
  const source = new AudioSampleSource({ codec: form.codec, bitrate: form.bitrate });
  const remix = form.channels !== voice.channels || form.rate !== voice.rate;
  if (remix) core.soundStart(voice.rate, voice.channels, form.rate, form.channels);
  // Output frames so far: the next sample's timestamp.
  let frames = 0;
  const emit = async (interleaved) => {
    const count = interleaved.length / form.channels;
    if (count === 0) return;
    const sample = new AudioSample({ data: interleaved, format: 'f32', numberOfChannels: form.channels, sampleRate: form.rate, timestamp: frames / form.rate });
    frames += count;
    await source.add(sample);
    sample.close();
  };
  return {
    source,
    push: (interleaved) => emit(remix ? core.soundPush(interleaved) : interleaved),
    finish: async () => remix && emit(core.soundFinish()),
    seconds: () => frames / form.rate,
  };
}

/** The voice decoded, remixed by the core when `form` differs from it, encoded. */
function reencoded(input, samples, first, voice, form, description) {
  const encoder = soundEncoder(voice, form);
  let pending = first;
  let done = false;
  return {
    source: encoder.source, description, codec: form.codec, copied: false,
    async until(seconds) {
      while (!done) {
        let sample = pending;
        pending = null;
        if (!sample) {
          const next = await samples.next();
          if (next.done) {
            done = true;
            await encoder.finish();
            break;
          }
          sample = next.value;
        }
        try {
          checkSameFormat(voice, sample);
          const interleaved = new Float32Array(sample.numberOfFrames * sample.numberOfChannels);
          sample.copyTo(interleaved, { planeIndex: 0, format: 'f32' });
          await encoder.push(interleaved);
        } finally {
          sample.close();
        }
        if (encoder.seconds() > seconds) break;
      }
    },
    dispose() {
      pending?.close();
      input.dispose?.();
    },
  };
}
