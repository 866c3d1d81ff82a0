// Takes Face Mesh's files out of the npm package @mediapipe/face_mesh into
// www/lib/: the package ships them packed into one Emscripten data file,
// whose loader script lists each file's byte range. Only the two the core
// needs are written (the landmark model and the canonical face), so the
// offline cache holds 1.3 MB instead of the 3.9 MB pack.
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(fileURLToPath(import.meta.url), '../..');
const PACKAGE = join(ROOT, 'node_modules/@mediapipe/face_mesh');
const WANTED = ['face_landmark.tflite', 'geometry_pipeline_metadata_landmarks.binarypb'];
const out = join(ROOT, process.argv[2] ?? 'www/lib');

const loader = readFileSync(join(PACKAGE, 'face_mesh_solution_packed_assets_loader.js'), 'utf8');
// The loader ends with `loadPackage({"files": [{"filename", "start", "end"}…], "remote_package_size": N, …})`.
const listing = loader.match(/loadPackage\((\{"files":.*?\})\);/s);
if (!listing) throw new Error(`${PACKAGE}: the packed assets' file list was not found (a different package version?)`);
const { files, remote_package_size: size } = JSON.parse(listing[1]);
const pack = readFileSync(join(PACKAGE, 'face_mesh_solution_packed_assets.data'));
if (pack.length !== size) throw new Error(`the packed assets hold ${pack.length} bytes, the list says ${size}`);

mkdirSync(out, { recursive: true });
for (const name of WANTED) {
  const file = files.find((f) => basename(f.filename) === name);
  if (!file || !(file.start >= 0 && file.end <= size && file.start < file.end)) {
    throw new Error(`${name} is not in the packed assets (or its range is wrong)`);
  }
  writeFileSync(join(out, name), pack.subarray(file.start, file.end));
  console.log(`${name}: ${file.end - file.start} bytes`);
}
