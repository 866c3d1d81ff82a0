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
  // The page reloads when a new version takes over at the user's request;
  // the first install just takes the page over.
  let updating = false;
  navigator.serviceWorker.addEventListener('controllerchange', () => {
    if (updating) location.reload();
    else say();
  });
  let registration;
  try {
    registration = await navigator.serviceWorker.register('sw.js');
  } catch (error) {
    status.textContent = `The app could not be kept for offline use (${error.message}).`;
    return;
  }
  const offer = (worker) => {
    banner.hidden = false;
    banner.querySelector('button').onclick = () => {
      updating = true;
      worker.postMessage('activate');
    };
  };
  if (registration.waiting && navigator.serviceWorker.controller) offer(registration.waiting);
  registration.addEventListener('updatefound', () => {
    const worker = registration.installing;
    worker?.addEventListener('statechange', () => {
      if (worker.state === 'installed' && navigator.serviceWorker.controller) offer(worker);
    });
  });
  function say() {
    status.textContent = navigator.serviceWorker.controller
      ? 'The app is kept on this machine: it works offline.'
      : 'Keeping the app for offline use…';
    status.dataset.offline = String(Boolean(navigator.serviceWorker.controller));
  }
  say();
}
