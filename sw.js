// The service worker: the app works offline after one visit. Everything the
// app needs to run a job (the page, its scripts, the wasm core, mediabunny,
// the face detector's weights) is cached at install, in a cache named for
// this deployment's version; the list and the version come from
// www/lib/precache.js, written by `make` (scripts/precache.mjs). The Wav2Lip
// model is not here: it lives in OPFS (www/models.js).
importScripts('www/lib/precache.js');

const CACHE = `wav2lip-${self.PRECACHE.version}`;
// The app's page: what its addresses (/, /index.html, ?backend=…) are served as.
const ROOT = new URL('./', location.href).href;

self.addEventListener('install', (event) => {
  // `reload`: past the HTTP cache, so a new version never caches old files.
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(self.PRECACHE.files.map((url) => new Request(url, { cache: 'reload' })))));
});

// Old deployments' caches go. Open pages are not claimed: the first visit
// runs from the network, and the next load, online or not, from the cache
// (everything was cached at install). Firefox holds a claim, and every
// fetch of the page meanwhile, until each of the page's workers can take
// it, and the core's threads wait in Atomics.wait between jobs: the fetches
// failed after ~60 s.
self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith('wav2lip-') && name !== CACHE) await caches.delete(name);
    }
  })());
});

// A new version waits until the page, told by the user, asks it to take over.
self.addEventListener('message', ({ data }) => {
  if (data === 'activate') self.skipWaiting();
});

self.addEventListener('fetch', (event) => {
  const { request } = event;
  const url = new URL(request.url);
  if (request.method !== 'GET' || url.origin !== location.origin) return;
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    // Files by address, queries aside; the page under any of its addresses.
    const path = url.href.split('?')[0];
    const key = path === `${ROOT}index.html` ? ROOT : path;
    return (await cache.match(key)) ?? fetch(request);
  })());
});
