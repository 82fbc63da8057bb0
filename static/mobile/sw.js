// The portal authenticator's service worker, served at /m/sw.js with scope /m/.
//
// It keeps the shell (page, styles, scripts, icons) for offline use, so that passcodes show
// without a connection, and it turns a Web Push into a notification and a prompt to the open
// app to ask for its requests now. The API (/m/api/) is never cached.

const CACHE = "portal-authenticator-v1";
const SHELL_URL = "/m/";
// app.js imports its helpers by this name, whatever name the shell gives app.js itself.
const EXTRA_ASSETS = ["/m/manifest.webmanifest", "/static/mobile/crypto.js"];

// The assets the shell links to, read from its HTML (their names carry a content hash in
// production, so they cannot be listed here).
function shellAssets(html) {
  const found = new Set();
  for (const match of html.matchAll(/\b(?:href|src)="(\/static\/[^"]+)"/g)) {
    found.add(match[1]);
  }
  return [...found];
}

async function cacheShell() {
  const cache = await caches.open(CACHE);
  const response = await fetch(SHELL_URL, { cache: "no-store", credentials: "omit" });
  if (!response.ok) {
    throw new Error(`the shell answered ${response.status}`);
  }
  const html = await response.clone().text();
  await cache.put(SHELL_URL, response);
  const assets = [...shellAssets(html), ...EXTRA_ASSETS];
  await Promise.all(
    assets.map((url) =>
      cache.add(url).catch(() => {
        // One missing asset does not stop the rest from being kept.
      }),
    ),
  );
}

self.addEventListener("install", (event) => {
  event.waitUntil(cacheShell().then(() => self.skipWaiting()));
});

// Assets of an older shell (their names change with their content) are dropped, and so are
// the caches of older versions of this worker.
async function pruneCache() {
  const names = await caches.keys();
  await Promise.all(names.filter((name) => name !== CACHE).map((name) => caches.delete(name)));
  const cache = await caches.open(CACHE);
  const shell = await cache.match(SHELL_URL);
  if (!shell) {
    return;
  }
  const keep = new Set([SHELL_URL, ...shellAssets(await shell.text()), ...EXTRA_ASSETS]);
  const requests = await cache.keys();
  await Promise.all(
    requests
      .filter((request) => !keep.has(new URL(request.url).pathname))
      .map((request) => cache.delete(request)),
  );
}

self.addEventListener("activate", (event) => {
  event.waitUntil(pruneCache().then(() => self.clients.claim()));
});

// Pages: the network first (the shell may have changed), the kept shell when offline.
async function fromNetworkThenShell(request) {
  try {
    const response = await fetch(request);
    if (response.ok && new URL(request.url).pathname === SHELL_URL) {
      const cache = await caches.open(CACHE);
      await cache.put(SHELL_URL, response.clone());
    }
    return response;
  } catch (error) {
    const kept = await caches.match(SHELL_URL);
    if (kept) {
      return kept;
    }
    throw error;
  }
}

// Static assets: what is kept, refreshed in the background.
async function fromCacheThenNetwork(event) {
  const cache = await caches.open(CACHE);
  const kept = await cache.match(event.request);
  const fresh = fetch(event.request).then((response) => {
    if (response.ok) {
      cache.put(event.request, response.clone());
    }
    return response;
  });
  if (kept) {
    event.waitUntil(fresh.catch(() => undefined));
    return kept;
  }
  return fresh;
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") {
    return;
  }
  const url = new URL(request.url);
  if (url.origin !== self.location.origin || url.pathname.startsWith("/m/api/")) {
    return;
  }
  if (request.mode === "navigate" && url.pathname.startsWith("/m/")) {
    event.respondWith(fromNetworkThenShell(request));
  } else if (
    url.pathname.startsWith("/static/") ||
    url.pathname === "/m/manifest.webmanifest"
  ) {
    event.respondWith(fromCacheThenNetwork(event));
  }
});

// Pushes ---------------------------------------------------------------------------------------

function readPush(event) {
  if (!event.data) {
    return {};
  }
  try {
    const data = event.data.json();
    return data && typeof data === "object" ? data : {};
  } catch {
    return {};
  }
}

async function tellClients() {
  const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  for (const client of windows) {
    client.postMessage({ type: "push" });
  }
}

self.addEventListener("push", (event) => {
  const data = readPush(event);
  const account = typeof data.account === "string" ? data.account : "";
  const body = account
    ? `${account}: approve or deny in the app`
    : "A request waits for you: approve or deny in the app";
  event.waitUntil(
    Promise.all([
      self.registration.showNotification("Sign-in request", {
        body,
        tag: "portal-push",
        renotify: true,
        requireInteraction: true,
        icon: "/static/mobile/icon-192.png",
        data: { url: SHELL_URL, id: typeof data.id === "string" ? data.id : "" },
      }),
      tellClients(),
    ]),
  );
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const target = new URL(
    (event.notification.data && event.notification.data.url) || SHELL_URL,
    self.location.origin,
  );
  event.waitUntil(
    (async () => {
      const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
      const open = windows.find((client) => new URL(client.url).pathname.startsWith("/m/"));
      if (open) {
        await open.focus();
        open.postMessage({ type: "push" });
        return;
      }
      await self.clients.openWindow(target.href);
    })(),
  );
});
