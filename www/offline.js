// Offline use: registers the service worker (sw.js), says when the app works
// offline, and offers a reload when a new version has been installed.

/**
 * `status`: where to say whether the app works offline; `banner`, holding a
 * button: shown when a new version waits.
 */
export async function startOffline(status, banner) {
  if (!('serviceWorker' in navigator)) {
    status.textContent = 'This browser cannot keep the app for offline use.';
    return;
  }
  // The page reloads when a new version has taken over at the user's
  // request (sw.js claims no page: the reload is what puts the page under it).
  let registration;
  try {
    registration = await navigator.serviceWorker.register('sw.js');
  } catch (error) {
    status.textContent = `The app could not be kept for offline use (${error.message}).`;
    return;
  }
  // A new version waits while pages are under the old one; a page that is
  // not (a first visit) sees it take over at once, and still runs the old
  // code until reloaded.
  const offer = (worker) => {
    banner.hidden = false;
    banner.querySelector('button').onclick = () => {
      if (worker.state === 'activated') return location.reload();
      worker.addEventListener('statechange', () => worker.state === 'activated' && location.reload());
      worker.postMessage('activate');
    };
  };
  if (registration.waiting && registration.active) offer(registration.waiting);
  registration.addEventListener('updatefound', () => {
    const worker = registration.installing;
    worker?.addEventListener('statechange', () => {
      if (worker.state === 'installed' && registration.active) offer(worker);
    });
  });
  // Kept once a version is active: the next load comes from its cache.
  const say = (kept) => {
    status.textContent = kept ? 'The app is kept on this machine: it works offline.' : 'Keeping the app for offline use…';
    status.dataset.offline = String(kept);
  };
  say(Boolean(registration.active));
  await navigator.serviceWorker.ready;
  say(true);
}
