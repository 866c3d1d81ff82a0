// The page: starts the core, shows what it runs on, takes a model, a face
// and a voice, and runs the lip-sync job with progress, cancel and the result.
import { adapterName, Core } from './bridge.js';
import { startOffline } from './offline.js';
import { missing, unsupported } from './support.js';
import { recordWith } from './record.js';
import { compareWith } from './compare.js';
import { describeTurns, turnedSpans } from './turns.js';
import { Live } from './live.js';

/** The page's address's options: ?backend=, ?simd=, ?camera= (tests, benchmarks, troubleshooting). */
const params = new URLSearchParams(location.search);
const status = document.querySelector('#backend');
const modelFile = document.querySelector('#model-file');
const modelStatus = document.querySelector('#model-status');
const voiceFile = document.querySelector('#voice-file');
const voiceStatus = document.querySelector('#voice-status');
const faceFile = document.querySelector('#face-file');
const faceStatus = document.querySelector('#face-status');
const facePreview = document.querySelector('#face-preview');
const runButton = document.querySelector('#run');
const cancelButton = document.querySelector('#cancel');
const runProgress = document.querySelector('#run-progress');
const runStatus = document.querySelector('#run-status');
const runNotice = document.querySelector('#run-notice');
const result = document.querySelector('#result');
const resultVideo = document.querySelector('#result-video');
const download = document.querySelector('#download');

/** What a job needs, as far as the page knows: set when each loads; whether a job or live mode runs. */
const inputs = { model: false, face: null, voice: null, running: false, live: false };

/** Set a status line's text and state (none, loading, ready, error). */
function show(element, state, text) {
  element.textContent = text;
  element.dataset.state = state;
}

const showModel = (state, text) => show(modelStatus, state, text);
const showVoice = (state, text) => show(voiceStatus, state, text);

/**
 * Hand `files` to a file input as if the user had chosen them: dropped,
 * downloaded or recorded files take the chosen files' one way in.
 */
function choose(input, files) {
  if (!(files instanceof FileList)) {
    const transfer = new DataTransfer();
    [files].flat().forEach((file) => transfer.items.add(file));
    files = transfer.files;
  }
  input.files = files;
  input.dispatchEvent(new Event('change'));
}

/**
 * When the user chooses a file in `input`: say `loading(file)`, run
 * `load(file)`, and say what it gave (or why it failed) through `say`.
 * The input is disabled meanwhile.
 */
function onFileChosen(input, say, { loading, load }) {
  input.disabled = false;
  // Dropping a file anywhere on the input's section chooses it too.
  const zone = input.closest('section');
  zone.addEventListener('dragover', (event) => {
    if (input.disabled || !event.dataTransfer.types.includes('Files')) return;
    event.preventDefault();
    zone.dataset.dropping = 'true';
  });
  zone.addEventListener('dragleave', () => delete zone.dataset.dropping);
  zone.addEventListener('drop', (event) => {
    delete zone.dataset.dropping;
    if (input.disabled || event.dataTransfer.files.length === 0) return;
    event.preventDefault();
    choose(input, event.dataTransfer.files);
  });
  input.addEventListener('change', async () => {
    const [file] = input.files;
    if (!file) return;
    input.disabled = true;
    say('loading', loading(file));
    try {
      say('ready', await load(file));
    } catch (error) {
      say('error', `${file.name}: ${error.message}`);
    } finally {
      input.disabled = false;
      // A new input: the job's line goes back to saying what is still needed.
      if (!inputs.running) runStatus.dataset.hint = 'true';
      updateRun();
    }
  });
}

const KIND = { plain: 'plain', gan: 'GAN' };

function describeModel({ name, kind, seconds, cached }, origin) {
  const what = name || 'the Wav2Lip generator';
  return `Model: ${what} (${KIND[kind]}) ${origin}, ready (${seconds.toFixed(1)} s)${cached ? '' : '; it could not be kept for the next visit'}.`;
}

const NO_MODEL = 'No model yet: choose wav2lip.pth or wav2lip_gan.pth.';

/**
 * The kept models, under the status line: which is in use (a choice when
 * both kinds are kept), and a button to remove it from this browser.
 */
async function showKept(core) {
  const { kept, current } = await core.call('keptModels');
  const use = document.querySelector('#model-use');
  use.replaceChildren(...kept.map(({ kind, name, bytes }) =>
    new Option(`${KIND[kind]}: ${name ?? 'unnamed'} (${(bytes / 1e6).toFixed(0)} MB kept)`, kind, false, kind === current)));
  use.hidden = kept.length < 2;
  document.querySelector('#model-kept').hidden = kept.length === 0;
  await showStorage();
}

/** What this site keeps on the machine (models, the last video, the app's files). */
async function showStorage() {
  const storage = await navigator.storage?.estimate?.();
  const text = storage ? `This site stores ${(storage.usage / 1e6).toFixed(0)} MB here.` : '';
  document.querySelector('#model-storage').textContent = text;
  document.querySelector('#storage').textContent = text;
}

/** Models a deployment offers from its own origin (`models/manifest.json`). */
async function showOffers() {
  const offers = document.querySelector('#model-offers');
  let manifest;
  try {
    const response = await fetch(new URL('../models/manifest.json', import.meta.url));
    manifest = response.ok ? await response.json() : { models: [] };
  } catch {
    return; // no manifest: the user brings the file
  }
  offers.replaceChildren(...(manifest.models ?? []).map(({ name, url, bytes }) => {
    const button = Object.assign(document.createElement('button'), {
      type: 'button',
      textContent: `Get ${name} from this site${bytes ? ` (${(bytes / 1e6).toFixed(0)} MB)` : ''}`,
    });
    button.addEventListener('click', async () => {
      button.disabled = true;
      showModel('loading', `Downloading ${name}…`);
      try {
        const response = await fetch(new URL(url, location.href));
        if (!response.ok) throw new Error(`the site answered HTTP ${response.status}`);
        choose(modelFile, new File([await response.blob()], name));
      } catch (error) {
        showModel('error', `${name} could not be downloaded (${error.message}); choose the file from your disk instead.`);
      } finally {
        button.disabled = false;
      }
    });
    return button;
  }));
}

async function startModel(core) {
  try {
    const cached = await core.call('loadCachedModel');
    if (cached) {
      inputs.model = true;
      showModel('ready', describeModel(cached, 'from an earlier visit'));
    } else {
      showModel('none', NO_MODEL);
    }
  } catch (error) {
    showModel('none', `The model kept from an earlier visit could not be loaded (${error.message}); choose the checkpoint again.`);
  }
  onFileChosen(modelFile, showModel, {
    loading: (file) => `Reading ${file.name} (${(file.size / 1e6).toFixed(0)} MB)…`,
    load: async (file) => {
      try {
        // A refused file leaves the model loaded before (if any) in place.
        const report = await core.call('loadCheckpoint', { file });
        inputs.model = true;
        return describeModel(report, 'loaded');
      } finally {
        await showKept(core);
      }
    },
  });
  const use = document.querySelector('#model-use');
  use.addEventListener('change', async () => {
    use.disabled = true;
    showModel('loading', `Switching to the ${KIND[use.value]} model…`);
    try {
      const report = await core.call('loadCachedModel', { kind: use.value });
      await showKept(core);
      showModel('ready', describeModel(report, 'kept here'));
    } catch (error) {
      showModel('error', `The kept model could not be loaded (${error.message}); choose the checkpoint again.`);
    } finally {
      use.disabled = false;
    }
  });
  document.querySelector('#model-remove').addEventListener('click', async () => {
    const { current } = await core.call('keptModels');
    if (!current) return;
    await core.call('forgetModel', { kind: current, unload: true });
    inputs.model = false;
    // The other kind, if kept, takes its place.
    const other = await core.call('loadCachedModel');
    await showKept(core);
    if (other) {
      inputs.model = true;
      showModel('ready', `Removed the ${KIND[current]} model. ${describeModel(other, 'kept here')}`);
    } else {
      showModel('none', `Removed the ${KIND[current]} model from this browser. ${NO_MODEL}`);
    }
    updateRun();
  });
  const clear = document.querySelector('#clear-storage');
  clear.hidden = false;
  clear.addEventListener('click', async () => {
    await core.call('clearStorage');
    inputs.model = false;
    updateRun();
    showModel('none', `Removed the kept models and videos. ${NO_MODEL}`);
    await showKept(core);
  });
  await Promise.all([showKept(core), showOffers()]);
}

function describeVoice({ name, duration, sampleRate, channels, warning }) {
  const layout = channels === 1 ? 'mono' : channels === 2 ? 'stereo' : `${channels} channels`;
  const about = `Voice: ${name}, ${duration.toFixed(1)} s (${(sampleRate / 1000).toFixed(1)} kHz ${layout}).`;
  return warning ? `${about} Note: ${warning}.` : about;
}

function startVoice(core) {
  onFileChosen(voiceFile, showVoice, {
    loading: (file) => `Listening to ${file.name}…`,
    load: async (file) => {
      inputs.voice = null;
      const report = await core.call('loadVoice', { file });
      inputs.voice = file;
      return describeVoice(report);
    },
  });
}

/**
 * The face input as the page knows it: its first picture and the faces
 * found there (`opened`, null until a file is opened), and the one chosen
 * (by a click, else the best).
 */
const face = { opened: null, chosen: 0 };

function drawFaces() {
  const { picture, faces } = face.opened;
  facePreview.width = picture.width;
  facePreview.height = picture.height;
  const g = facePreview.getContext('2d');
  g.drawImage(picture, 0, 0);
  const line = Math.max(2, picture.width / 320);
  faces.forEach(({ crop: [x1, y1, x2, y2] }, i) => {
    g.lineWidth = i === face.chosen ? line * 1.5 : line;
    g.strokeStyle = i === face.chosen ? '#2ecc71' : '#f1c40f';
    g.setLineDash(i === face.chosen ? [] : [line * 3, line * 2]);
    g.strokeRect(x1, y1, x2 - x1, y2 - y1);
  });
  facePreview.hidden = false;
  facePreview.dataset.chosen = String(face.chosen);
}

function describeFace({ name, kind, width, height, faces }) {
  const about = `Face: ${name}, ${kind} ${width}×${height}`;
  if (faces.length === 0) {
    return kind === 'photo'
      ? `${about}. No face found in this photo: lip sync needs a visible face, roughly towards the camera. Try another photo.`
      : `${about}. No face in the first frame; the whole video will be searched when lip sync runs.`;
  }
  if (faces.length === 1) return `${about}: one face found (green box).`;
  return `${about}: ${faces.length} faces found. Click the one who speaks (green box = chosen).`;
}

/**
 * Frames over 4K are more than a job can hold: choose the shrink they need
 * in Options (the person may shrink more, not less), and say so.
 */
function shrinkFor({ width, height, shrink }) {
  const resize = document.querySelector('#resize');
  if (shrink <= 1 || Number(resize.value) >= shrink) return '';
  resize.value = String(shrink);
  return ` At ${width}×${height} the frames are shrunk by ${shrink} for lip sync (Options), to ${Math.floor(width / shrink)}×${Math.floor(height / shrink)}: larger frames need more memory than a browser tab has.`;
}

const faceTurns = document.querySelector('#face-turns');
const faceTurnsText = document.querySelector('#face-turns-text');

/** Name where the face turns away, from the scan's samples and the limit in Options. */
function showTurns() {
  const scan = face.turns;
  const text = scan?.samples ? describeTurns(turnedSpans(scan.samples, scan.step, number('#turned-limit') || 35), scan.duration, scan.kind) : (scan?.text ?? '');
  faceTurnsText.textContent = text;
  faceTurns.hidden = !text;
  faceTurns.querySelector('label').hidden = !scan?.samples;
}

/** Look through the face input for turned-away spans (after its first picture is shown). */
async function scanTurns(core, file) {
  const chosen = face.opened?.faces[face.chosen];
  const point = chosen && [(chosen.box[0] + chosen.box[2]) / 2, (chosen.box[1] + chosen.box[3]) / 2];
  face.turns = { text: 'Looking at which way the face turns…' };
  showTurns();
  let scan = null;
  try {
    scan = await core.call('scanPoses', { file, point });
  } catch {
    // Only a warning is lost: the run itself says what is wrong with the file.
  }
  // Another file may have been opened meanwhile: its own scan answers for it.
  if (face.openedFile !== file) return;
  face.turns = scan;
  showTurns();
}

function startFace(core) {
  document.querySelector('#turned-limit').addEventListener('input', showTurns);
  onFileChosen(faceFile, (state, text) => show(faceStatus, state, text), {
    loading: (file) => `Looking at ${file.name}…`,
    load: async (file) => {
      face.opened?.picture.close();
      face.opened = null;
      inputs.face = null;
      facePreview.hidden = true;
      face.turns = null;
      showTurns();
      const opened = await core.call('openFace', { file });
      face.opened = opened;
      face.openedFile = file;
      face.chosen = 0;
      drawFaces();
      // A video may show a face later on; a photo without one cannot work.
      if (opened.kind === 'video' || opened.faces.length > 0) inputs.face = file;
      scanTurns(core, file);
      return describeFace(opened) + shrinkFor(opened);
    },
  });
  facePreview.addEventListener('click', (event) => {
    if (!face.opened?.faces.length) return;
    // Canvas pixels from the click, whatever size the canvas is shown at.
    const rect = facePreview.getBoundingClientRect();
    const x = ((event.clientX - rect.left) / rect.width) * facePreview.width;
    const y = ((event.clientY - rect.top) / rect.height) * facePreview.height;
    const distance = ({ crop: [x1, y1, x2, y2] }) =>
      x >= x1 && x < x2 && y >= y1 && y < y2 ? 0 : Math.hypot(x - (x1 + x2) / 2, y - (y1 + y2) / 2);
    const distances = face.opened.faces.map(distance);
    face.chosen = distances.indexOf(Math.min(...distances));
    drawFaces();
  });
}

/** The job's status line: what happened, or (a hint) what is still needed. */
function showRun(state, text) {
  show(runStatus, state, text);
  runStatus.dataset.hint = 'false';
}

function updateRun() {
  const missing = [!inputs.model && 'a model', !inputs.face && 'a face', !inputs.voice && 'a voice'].filter(Boolean);
  runButton.disabled = inputs.running || inputs.live || missing.length > 0;
  updateLive();
  if (!inputs.running && runStatus.dataset.hint !== 'false') {
    show(runStatus, 'none', missing.length ? `Still needed: ${missing.join(', ')}.` : 'Ready.');
  }
}

const number = (id) => Number(document.querySelector(id).value) || 0;

/** The framing options as the core takes them (`framing::Options`). */
function readOptions() {
  const resizeFactor = Number(document.querySelector('#resize').value);
  const options = {
    pads: { top: number('#pad-top'), bottom: number('#pad-bottom'), left: number('#pad-left'), right: number('#pad-right') },
    smoothing: document.querySelector('#smoothing').checked ? 5 : 1,
    resizeFactor,
    mask: document.querySelector('#mask').value,
    sharpen: document.querySelector('#sharpen').checked,
    turnedAway: number('#turned-limit') || 35,
    keepTurnedAway: document.querySelector('#keep-turned').checked,
  };
  // The face clicked in the first picture, in the (shrunk) frame's pixels.
  const chosen = face.opened?.faces[face.chosen];
  if (chosen) {
    const [x1, y1, x2, y2] = chosen.crop;
    options.point = [(x1 + x2) / 2 / resizeFactor, (y1 + y2) / 2 / resizeFactor];
  }
  return options;
}

function duration(seconds) {
  if (!Number.isFinite(seconds)) return '…';
  if (seconds < 90) return `${Math.ceil(seconds)} s`;
  return `${Math.round(seconds / 60)} min`;
}

let resultUrl = null;

async function runJob(core) {
  inputs.running = true;
  updateRun();
  result.hidden = true;
  cancelButton.hidden = false;
  cancelButton.disabled = false;
  runProgress.hidden = false;
  runProgress.value = 0;
  showRun('loading', 'Starting…');
  runNotice.hidden = true;
  const onProgress = ({ done, total, seconds, batch, notice }) => {
    // Something the person should know about the run (the GPU lost, the
    // job moved to the CPU); the page's compute line follows.
    if (notice) {
      runNotice.textContent = notice;
      runNotice.hidden = false;
      status.dataset.backend = 'cpu';
      status.firstChild.textContent = 'Compute: CPU (WebAssembly) — the GPU stopped working during the last job.';
    }
    runProgress.value = done / total;
    const fps = done / seconds;
    showRun('loading', `${done} / ${total} frames · ${fps.toFixed(1)} fps · about ${duration((total - done) / fps)} left`);
    runStatus.title = `${batch} frames a batch`;
  };
  try {
    const args = { face: inputs.face, voice: inputs.voice, options: readOptions(), label: document.querySelector('#label').checked, quality: document.querySelector('#quality').value };
    const made = await core.call('lipSync', args, [], onProgress);
    if (resultUrl) URL.revokeObjectURL(resultUrl);
    resultUrl = URL.createObjectURL(made.file);
    resultVideo.src = resultUrl;
    download.href = resultUrl;
    download.download = made.name;
    download.textContent = `Download ${made.name} (${(made.file.size / 1e6).toFixed(1)} MB)`;
    compareWith(args.face, made);
    result.hidden = false;
    runProgress.value = 1;
    showRun('ready', `Done: ${made.frames} frames, ${made.width}×${made.height} at ${made.fps.toFixed(2)} fps, ${made.videoCodec} (${made.quality} quality) + ${made.sound}, in ${duration(made.seconds)}.`);
  } catch (error) {
    runProgress.hidden = true;
    if (error.cancelled) showRun('none', 'Cancelled. Your files and settings are as they were; press the button to start again.');
    else showRun('error', `Lip sync failed: ${error.message}`);
  } finally {
    inputs.running = false;
    cancelButton.hidden = true;
    updateRun();
  }
}

function startRun(core) {
  runButton.addEventListener('click', () => runJob(core));
  cancelButton.addEventListener('click', () => {
    cancelButton.disabled = true;
    showRun('loading', 'Cancelling…');
    core.cancel();
  });
  updateRun();
}

function describe({ backend, reason, adapter, softwareAdapter, simd, threads }) {
  const cores = threads > 1 ? `, ${threads} threads` : '';
  const engine = backend === 'webgpu' ? 'WebGPU' : `CPU (WebAssembly, ${simd === 'relaxed' ? 'relaxed SIMD' : 'SIMD'}${cores})`;
  const lines = [`Compute: ${engine} — ${reason}.`];
  if (adapter) {
    lines.push(`WebGPU adapter: ${adapterName(adapter)}${softwareAdapter ? ' (software adapter)' : ''}`);
  } else {
    lines.push('WebGPU adapter: none');
  }
  return lines;
}

const liveStart = document.querySelector('#live-start');
const liveRecord = document.querySelector('#live-record');
const liveStatus = document.querySelector('#live-status');
const liveStats = document.querySelector('#live-stats');
const liveView = document.querySelector('#live-view');
const liveResult = document.querySelector('#live-result');
const liveDownload = document.querySelector('#live-download');
let live = null;

/** Live mode's start button and line: it needs a model, and no job running. */
function updateLive() {
  liveStart.disabled = !live || !inputs.model || (inputs.running && !inputs.live);
  if (!inputs.live && liveStatus.dataset.state === 'none') {
    show(liveStatus, 'none', inputs.model ? 'Ready: press Start and talk.' : 'Choose a model first.');
  }
}

function showLiveStats({ latency, parts, fps, made, dropped, detectEvery, compute }) {
  const s = (seconds) => `${seconds.toFixed(2)} s`;
  liveStats.textContent = `Latency ${s(latency)} from sound heard to its frame on screen: ${s(parts.waited)} waiting for the sound the frame needs (and the frame before), ${s(parts.making)} making it, ${s(parts.passing)} passing it around · ${fps.toFixed(1)} frames/s · ${made} made, ${dropped} dropped to keep up${detectEvery ? ` · face detector on 1 frame in ${detectEvery.toFixed(1)}` : ''}`;
  // For benchmarks and tests: the core's time a frame (ms), and the latency's parts (s).
  Object.assign(liveStats.dataset, {
    latency: latency.toFixed(3), waited: parts.waited.toFixed(3), making: parts.making.toFixed(3), passing: parts.passing.toFixed(3),
    fps: fps.toFixed(2), made, dropped, compute: compute.toFixed(1),
  });
  liveStats.hidden = false;
}

let liveUrl = null;

async function saveRecording() {
  liveRecord.disabled = true;
  try {
    const saved = await live.stopRecording();
    if (liveUrl) URL.revokeObjectURL(liveUrl);
    liveUrl = URL.createObjectURL(saved.file);
    liveDownload.href = liveUrl;
    liveDownload.download = saved.name;
    liveDownload.textContent = `Download ${saved.name} (${saved.seconds.toFixed(1)} s, ${saved.frames} frames, ${(saved.file.size / 1e6).toFixed(1)} MB)`;
    liveResult.hidden = false;
  } catch (error) {
    show(liveStatus, 'error', `The recording could not be saved: ${error.message}`);
  } finally {
    liveRecord.textContent = 'Record';
    liveRecord.dataset.recording = 'false';
    liveRecord.disabled = false;
  }
}

function liveEnded(error) {
  inputs.live = false;
  inputs.running = false;
  liveStart.textContent = 'Start live';
  liveRecord.hidden = true;
  liveRecord.textContent = 'Record';
  liveRecord.dataset.recording = 'false';
  updateRun();
  if (error) show(liveStatus, 'error', `Live mode stopped: ${error.message}`);
  else show(liveStatus, 'none', 'Stopped. Press Start to go live again.');
}

function startLive(core) {
  live = new Live(core, liveView, showLiveStats);
  liveStart.addEventListener('click', async () => {
    if (inputs.live) {
      liveStart.disabled = true;
      if (liveRecord.dataset.recording === 'true') await saveRecording();
      live.stop();
      liveEnded(null);
      return;
    }
    const faceChoice = document.querySelector('#live-face').value;
    const voiceChoice = document.querySelector('#live-voice').value;
    if (faceChoice === 'file' && !inputs.face) return show(liveStatus, 'error', 'Choose a video or photo under Face first, or use the camera.');
    if (voiceChoice === 'file' && !inputs.voice) return show(liveStatus, 'error', 'Choose a voice under Voice first, or use the microphone.');
    const options = readOptions();
    // The face clicked in the chosen file's first picture means nothing to a camera.
    if (faceChoice === 'camera') delete options.point;
    inputs.live = true;
    inputs.running = true;
    updateRun();
    liveStart.disabled = true;
    show(liveStatus, 'loading', 'Starting…');
    try {
      await live.start({
        face: faceChoice === 'camera' ? 'camera' : inputs.face,
        voice: voiceChoice === 'microphone' ? 'microphone' : inputs.voice,
        options, label: document.querySelector('#label').checked, quality: document.querySelector('#quality').value,
        // `?camera=1280x720` asks the camera for more (benchmarks).
        camera: params.get('camera')?.split('x').map(Number),
      }, liveEnded, (text) => show(liveStatus, 'loading', text));
    } catch (error) {
      inputs.live = false;
      inputs.running = false;
      show(liveStatus, 'error', error.message);
      updateRun();
      return;
    }
    liveView.hidden = false;
    liveStart.textContent = 'Stop live';
    liveStart.disabled = false;
    liveRecord.hidden = false;
    show(liveStatus, 'ready', 'Live: talk, and the face follows. Each frame waits for the 0.2 s of sound after it and then for the time to make it, so it shows a little later than you speak: the latency below is measured as you go.');
  });
  liveRecord.addEventListener('click', async () => {
    if (liveRecord.dataset.recording === 'true') return saveRecording();
    live.record();
    liveRecord.textContent = 'Stop recording';
    liveRecord.dataset.recording = 'true';
  });
  updateLive();
}

async function main() {
  const lacks = missing();
  if (lacks.length) {
    status.textContent = unsupported(lacks);
    status.dataset.backend = 'unsupported';
    return;
  }
  const core = new Core();
  // ?backend=webgpu|cpu overrides the automatic choice (tests, troubleshooting).
  const backend = params.get('backend') ?? 'auto';
  try {
    const report = await core.call('start', { backend, simd: params.get('simd') });
    status.replaceChildren(...describe(report).map((line) => Object.assign(document.createElement('p'), { textContent: line })));
    status.dataset.backend = report.backend;
  } catch (error) {
    status.textContent = `The core could not start: ${error.message}`;
    status.dataset.backend = 'error';
    return;
  }
  window.wav2lip = core; // for the console and the end-to-end tests
  startOffline(document.querySelector('#offline'), document.querySelector('#update'));
  startFace(core);
  startVoice(core);
  recordWith(document.querySelector('#face-record'), { video: true, audio: true }, 'camera', {
    done: (file) => choose(faceFile, file),
    failed: (message) => show(faceStatus, 'error', message),
  });
  recordWith(document.querySelector('#voice-record'), { audio: true }, 'microphone', {
    done: (file) => choose(voiceFile, file),
    failed: (message) => showVoice('error', message),
  });
  startRun(core);
  startLive(core);
  await startModel(core);
  updateRun();
}

main();
