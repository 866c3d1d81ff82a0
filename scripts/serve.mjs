// Static server for the app: the repository root as the site, with the headers
// the app relies on. Used by `make serve` and by the end-to-end tests.
//
// - COOP/COEP make the page cross-origin isolated (SharedArrayBuffer, wasm threads).
// - The CSP forbids connections to any other origin: footage never leaves the machine.
import { createServer } from 'node:http';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(fileURLToPath(import.meta.url), '../..');

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.webmanifest': 'application/manifest+json',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
  '.mp4': 'video/mp4',
  '.webm': 'video/webm',
  '.wav': 'audio/wav',
  '.tflite': 'application/octet-stream',
  '.binarypb': 'application/octet-stream',
  '.bin': 'application/octet-stream',
};

export const HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Content-Security-Policy': [
    "default-src 'self'",
    "script-src 'self' 'wasm-unsafe-eval'",
    // blob: (the page's own files, e.g. a result read back): Firefox applies
    // connect-src to them, Chromium does not.
    "connect-src 'self' blob:",
    "img-src 'self' blob: data:",
    "media-src 'self' blob:",
    "worker-src 'self' blob:",
    "style-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
  ].join('; '),
  'X-Content-Type-Options': 'nosniff',
  'Cache-Control': 'no-cache',
};

/**
 * Start serving `root`; resolves to the listening server. `mounts` maps URL
 * prefixes to other folders (the tests serve their generated media so);
 * `isolated: false` leaves out the cross-origin isolation headers (COOP,
 * COEP), as a host that does not send them would.
 */
export function serve({ root = ROOT, host = '127.0.0.1', port = 8080, mounts = {}, isolated = true } = {}) {
  const headers = { ...HEADERS };
  if (!isolated) {
    delete headers['Cross-Origin-Opener-Policy'];
    delete headers['Cross-Origin-Embedder-Policy'];
  }
  const server = createServer(async (req, res) => {
    try {
      let path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
      let base = root;
      for (const [prefix, dir] of Object.entries(mounts)) {
        if (path.startsWith(prefix)) [base, path] = [dir, path.slice(prefix.length - 1)];
      }
      let file = normalize(join(base, path));
      if (file !== base && !file.startsWith(base + sep)) throw Object.assign(new Error(), { code: 'ENOENT' });
      let info = await stat(file);
      if (info.isDirectory()) {
        file = join(file, 'index.html');
        info = await stat(file);
      }
      res.writeHead(200, {
        ...headers,
        'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream',
        'Content-Length': info.size,
      });
      if (req.method === 'HEAD') return res.end();
      createReadStream(file).pipe(res);
    } catch (error) {
      const missing = error.code === 'ENOENT' || error.code === 'ENOTDIR';
      res.writeHead(missing ? 404 : 500, { ...headers, 'Content-Type': 'text/plain' });
      res.end(missing ? 'not found\n' : 'server error\n');
    }
  });
  return new Promise((done, fail) => {
    server.once('error', fail);
    server.listen(port, host, () => done(server));
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const port = Number(process.env.PORT ?? 8080);
  const server = await serve({ port });
  const { address } = server.address();
  console.log(`Wav2Lip studio: http://${address}:${port}/`);
}
