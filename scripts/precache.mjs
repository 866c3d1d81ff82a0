// The service worker's list: every file the app needs offline, and a version
// that is the hash of their contents (a new deployment = a new version = new
// caches). Written to www/lib/precache.js for sw.js. With `--dist DIR`, the
// whole static site is also copied to DIR: these files, sw.js and the list
// (`make dist`). Run after the core and www/lib are built.
import { createHash } from 'node:crypto';
import { cpSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(fileURLToPath(import.meta.url), '../..');
const within = (dir, keep = () => true) =>
  readdirSync(join(ROOT, dir), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(ROOT, join(entry.parentPath, entry.name)))
    .filter(keep);

export function precacheFiles() {
  return [
    'index.html',
    'manifest.webmanifest',
    'models/manifest.json',
    // Not www/pkg.tmp (a build in progress) nor the list itself.
    ...within('www', (path) => /\.(js|css|png|wasm|tflite|binarypb)$/.test(path) && !path.includes('.tmp') && !path.endsWith('precache.js')),
  ].sort();
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const files = precacheFiles();
  const hash = createHash('sha256');
  for (const file of files) hash.update(file).update(readFileSync(join(ROOT, file)));
  const version = hash.digest('hex').slice(0, 16);
  // The page's own address: './' (what a navigation is matched against).
  const list = ['./', ...files.filter((f) => f !== 'index.html')];
  writeFileSync(join(ROOT, 'www/lib/precache.js'), `self.PRECACHE = ${JSON.stringify({ version, files: list }, null, 1)};\n`);
  console.log(`precache: ${list.length} files, version ${version}`);
  const at = process.argv.indexOf('--dist');
  if (at > 0) {
    const dist = resolve(process.argv[at + 1] ?? 'dist');
    rmSync(dist, { recursive: true, force: true });
    for (const file of [...files, 'sw.js', 'www/lib/precache.js']) cpSync(join(ROOT, file), join(dist, file));
    console.log(`dist: the static site is in ${dist}`);
  }
}
