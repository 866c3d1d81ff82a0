// The models the user gave, kept in the origin-private file system: one
// converted copy (safetensors, f32: the exact weights, a third of the
// released file) per kind, so a later visit loads without asking again and
// the user can switch between the plain and the GAN generator.
//
// Which kind a file is cannot be told from its weights (both have the same
// layout); the authors' file names say it (`wav2lip.pth`,
// `wav2lip_gan.pth`), so the name decides, and the page shows it.
import { core } from './core.js';

const DIR = 'models';
const KINDS = ['plain', 'gan'];
const CURRENT = 'current.json';
const files = (kind) => ({ weights: `${kind}.safetensors`, about: `${kind}.json`, partial: `${kind}.safetensors.partial` });

/** 'gan' or 'plain', from the name the user's file has. */
export const kindOf = (name) => (/gan/i.test(name) ? 'gan' : 'plain');

async function modelsDir() {
  const root = await navigator.storage.getDirectory();
  return root.getDirectoryHandle(DIR, { create: true });
}

async function fileOrNull(dir, name) {
  try {
    return await dir.getFileHandle(name);
  } catch (error) {
    if (error.name === 'NotFoundError') return null;
    throw error;
  }
}

async function readJson(dir, name) {
  const handle = await fileOrNull(dir, name);
  return handle ? JSON.parse(await (await handle.getFile()).text()) : null;
}

async function writeJson(dir, name, value) {
  const writable = await (await dir.getFileHandle(name, { create: true })).createWritable();
  await writable.write(JSON.stringify(value));
  await writable.close();
}

/** Load a checkpoint the user chose (a File); keep a converted copy when we can. */
export async function loadCheckpoint(file) {
  const started = performance.now();
  const kind = kindOf(file.name);
  const names = files(kind);
  const reader = new FileReaderSync();
  const read = (offset, length) => new Uint8Array(reader.readAsArrayBuffer(file.slice(offset, offset + length)));
  let dir = null;
  let access = null;
  try {
    dir = await modelsDir();
    // Written under a temporary name and renamed once complete: a reload
    // mid-write never finds half a model.
    const partial = await dir.getFileHandle(names.partial, { create: true });
    access = await partial.createSyncAccessHandle();
    access.truncate(0);
  } catch (error) {
    // No OPFS (some private modes): the model still loads, just not kept.
    console.warn(`the model will not be kept for the next visit: ${error.message}`);
  }
  let at = 0;
  const write = access && ((bytes) => {
    at += access.write(bytes, { at });
  });
  let report;
  try {
    report = core.loadModel(file.size, read, file.name, write);
  } catch (error) {
    // A refused file leaves the models kept from before as they were.
    access?.close();
    if (access) await dir.removeEntry(names.partial).catch(() => {});
    throw error;
  }
  if (access) {
    access.flush();
    access.close();
    const partial = await dir.getFileHandle(names.partial);
    await partial.move(dir, names.weights);
    await writeJson(dir, names.about, { name: file.name, kind, size: file.size, lastModified: file.lastModified, cachedBytes: at });
    await writeJson(dir, CURRENT, { kind });
  }
  return { ...report, name: file.name, kind, cached: Boolean(access), seconds: (performance.now() - started) / 1000 };
}

/** The kept models: [{kind, name, bytes}], and which one was used last. */
export async function keptModels() {
  const dir = await modelsDir();
  const kept = [];
  for (const kind of KINDS) {
    const handle = await fileOrNull(dir, files(kind).weights);
    if (!handle) continue;
    const about = (await readJson(dir, files(kind).about)) ?? {};
    kept.push({ kind, name: about.name ?? null, bytes: (await handle.getFile()).size });
  }
  const current = (await readJson(dir, CURRENT))?.kind;
  return { kept, current: kept.some((m) => m.kind === current) ? current : kept[0]?.kind ?? null };
}

/**
 * A sync access handle on a kept model, for reading. A file has one such
 * handle at a time: right after a reload, the last page's workers may still
 * hold theirs for a moment (its helpers read the copy one after another),
 * so a busy file is tried again for up to 15 s before giving up.
 */
async function openForReading(handle) {
  for (let tries = 0; ; tries++) {
    try {
      return await handle.createSyncAccessHandle();
    } catch (error) {
      if (error?.name !== 'NoModificationAllowedError' || tries >= 60) throw error;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

/** Load the kept copy of `kind` (default: the one used last); null when none is kept. */
export async function loadKept(kind = null, remember = true) {
  const started = performance.now();
  const dir = await modelsDir();
  kind ??= (await keptModels()).current;
  if (!kind) return null;
  const names = files(kind);
  const handle = await fileOrNull(dir, names.weights);
  if (!handle) return null;
  const about = (await readJson(dir, names.about)) ?? {};
  const access = await openForReading(handle);
  let report;
  try {
    const read = (offset, length) => {
      const bytes = new Uint8Array(length);
      access.read(bytes, { at: offset });
      return bytes;
    };
    report = core.loadModel(access.getSize(), read, about.name ?? names.weights, null);
  } finally {
    access.close();
  }
  if (remember) await writeJson(dir, CURRENT, { kind });
  return { ...report, name: about.name ?? null, kind, cached: true, seconds: (performance.now() - started) / 1000 };
}

/** Remove every kept copy. */
export async function forgetAll() {
  for (const kind of KINDS) await forget(kind);
}

/** Remove the kept copy of `kind` (the model in use stays until another loads). */
export async function forget(kind) {
  const dir = await modelsDir();
  for (const name of Object.values(files(kind))) {
    await dir.removeEntry(name).catch((error) => {
      if (error.name !== 'NotFoundError') throw error;
    });
  }
}
