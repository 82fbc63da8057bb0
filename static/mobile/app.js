// The portal's authenticator on the phone: activation, passcodes, and approving pushes.
//
// The page is one shell (templates/twofactor/mobile/app.html) with a view per state; this
// script shows one at a time. What it keeps is one IndexedDB record: the app's id, the account,
// and two non-extractable CryptoKeys (the ECDSA key that signs every request, the HMAC key that
// makes passcodes). Nothing here needs a cookie: the portal checks each body's signature.

import {
  base64urlDecode,
  exportPublicKey,
  generateSigningKey,
  importTotpKey,
  messages,
  normaliseDigits,
  randomNonce,
  sign,
  totp,
  unixSeconds,
} from "./crypto.js";

const POLL_MS = 3000;
const API = {
  activate: "/m/api/activate",
  requests: "/m/api/requests",
  decide: "/m/api/decide",
  subscribe: "/m/api/subscribe",
};
const PURPOSE_QUESTIONS = {
  "Sign in": "Are you signing in?",
  "Confirm a change": "Are you making a change to your account?",
  "Reset your password": "Are you resetting your password?",
};

const root = document.documentElement;
const body = document.body;
const vapidPublicKey = (body.dataset.vapidPublicKey || "").trim();

const state = {
  record: null,
  requests: [],
  seen: new Set(),
  openId: null,
  answering: false,
  pollTimer: 0,
  polling: false,
  pollAgain: false,
  lastCode: "",
};

// Finding things in the shell ----------------------------------------------------------------

function one(selector, scope = document) {
  return scope.querySelector(selector);
}

function all(selector, scope = document) {
  return Array.from(scope.querySelectorAll(selector));
}

function setText(selector, text, scope = document) {
  for (const element of all(selector, scope)) {
    element.textContent = text;
  }
}

function plural(count, one_, many) {
  return `${count} ${count === 1 ? one_ : many}`;
}

// Views, messages and focus -------------------------------------------------------------------

function currentView() {
  const shown = all("[data-view]").find((view) => !view.hidden);
  return shown ? shown.dataset.view : "";
}

// Show one view; focus goes to its heading so that a screen reader starts there.
function show(name, { focus = true } = {}) {
  for (const view of all("[data-view]")) {
    view.hidden = view.dataset.view !== name;
  }
  body.dataset.state = name;
  if (focus) {
    const heading = one(`[data-view="${name}"] [data-view-title]`);
    if (heading) {
      heading.focus({ preventScroll: true });
    }
  }
  window.scrollTo(0, 0);
}

function clearMessages() {
  one("[data-error]").replaceChildren();
  one("[data-status]").replaceChildren();
}

function message(selector, text, { title = "", focus = false } = {}) {
  const region = one(selector);
  const paragraph = document.createElement("p");
  if (title) {
    const strong = document.createElement("strong");
    strong.textContent = title;
    paragraph.append(strong, " ");
  }
  paragraph.append(text);
  region.replaceChildren(paragraph);
  if (focus) {
    region.focus({ preventScroll: true });
    region.scrollIntoView({ block: "nearest" });
  }
}

// Errors go to the role=alert region, outcomes and quiet news to the role=status one.
function showError(text, options = {}) {
  one("[data-status]").replaceChildren();
  message("[data-error]", text, { title: "Error:", ...options });
}

function showStatus(text, options = {}) {
  one("[data-error]").replaceChildren();
  message("[data-status]", text, options);
}

function setConnection(text) {
  const note = one("[data-connection]");
  note.textContent = text;
  note.hidden = !text;
}

// The portal's API -----------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, text, data = {}) {
    super(text);
    this.status = status;
    this.data = data;
  }
}

const OFFLINE = 0;

async function post(url, payload) {
  let response;
  try {
    response = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(payload),
      credentials: "omit",
      cache: "no-store",
    });
  } catch {
    throw new ApiError(OFFLINE, "No connection to the portal. Check the phone's connection.");
  }
  let data = {};
  if (response.status !== 204) {
    try {
      data = await response.json();
    } catch {
      data = {};
    }
  }
  if (!response.ok) {
    const fallback = `The portal could not answer (error ${response.status}). Try again in a moment.`;
    throw new ApiError(response.status, data.error || fallback, data);
  }
  return data;
}

// What this phone keeps: one IndexedDB record -------------------------------------------------

const DB_NAME = "portal-authenticator";
const DB_STORE = "app";
const DB_KEY = "current";

function openDatabase() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DB_NAME, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(DB_STORE);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

async function withStore(mode, action) {
  const database = await openDatabase();
  try {
    return await new Promise((resolve, reject) => {
      const transaction = database.transaction(DB_STORE, mode);
      const request = action(transaction.objectStore(DB_STORE));
      transaction.oncomplete = () => resolve(request.result);
      transaction.onerror = () => reject(transaction.error);
      transaction.onabort = () => reject(transaction.error);
    });
  } finally {
    database.close();
  }
}

function loadRecord() {
  return withStore("readonly", (store) => store.get(DB_KEY));
}

function saveRecord(record) {
  return withStore("readwrite", (store) => store.put(record, DB_KEY));
}

function forgetRecord() {
  return withStore("readwrite", (store) => store.delete(DB_KEY));
}

// Activation ------------------------------------------------------------------------------------

// "Chrome on Android": what the portal lists for this device, from the user agent.
function describePlatform() {
  const agent = navigator.userAgent || "";
  const browsers = [
    [/EdgA?\/|EdgiOS\//, "Edge"],
    [/OPR\/|Opera/, "Opera"],
    [/SamsungBrowser\//, "Samsung Internet"],
    [/FxiOS\/|Firefox\//, "Firefox"],
    [/CriOS\/|Chrome\//, "Chrome"],
    [/Safari\//, "Safari"],
  ];
  const systems = [
    [/Android/, "Android"],
    [/iPhone/, "iPhone"],
    [/iPad/, "iPad"],
    [/Windows/, "Windows"],
    [/Mac OS X|Macintosh/, "Mac"],
    [/CrOS/, "ChromeOS"],
    [/Linux/, "Linux"],
  ];
  const find = (list) => (list.find(([pattern]) => pattern.test(agent)) || [])[1];
  const hints = navigator.userAgentData;
  const browser = find(browsers) || "A browser";
  const system = find(systems) || (hints && hints.platform) || "";
  return (system ? `${browser} on ${system}` : browser).slice(0, 200);
}

function activationToken() {
  const path = location.pathname.replace(/\/+$/, "/");
  if (!path.endsWith("/m/activate/")) {
    return "";
  }
  return decodeURIComponent(location.hash.replace(/^#/, "")).trim();
}

async function activate(token) {
  show("activating");
  clearMessages();
  try {
    const keys = await generateSigningKey();
    const publicKey = await exportPublicKey(keys.publicKey);
    const signature = await sign(keys.privateKey, messages.activate(token));
    const data = await post(API.activate, {
      token,
      public_key: publicKey,
      platform: describePlatform(),
      signature,
    });
    const secret = data.totp || {};
    const record = {
      app_id: data.app_id,
      account: data.account,
      device_name: data.device_name,
      issuer: data.issuer,
      privateKey: keys.privateKey,
      totpKey: await importTotpKey(secret.secret, secret.algorithm || "SHA1"),
      digits: secret.digits || 6,
      period: secret.period || 30,
      activated_at: new Date().toISOString(),
    };
    await saveRecord(record);
    state.record = record;
    showHome({ activated: true });
  } catch (error) {
    const previous = await loadRecord().catch(() => null);
    state.record = previous || null;
    if (previous) {
      showHome();
    } else {
      show("inactive");
    }
    if (error instanceof ApiError && error.status === 404) {
      showError(
        "This activation link does not work: it was used already or it has expired. " +
          "Start again from two-factor setup in the portal.",
        { focus: true },
      );
    } else if (error instanceof ApiError && error.status === OFFLINE) {
      offerRetry(token, error.message);
    } else {
      const text = error instanceof ApiError ? error.message : "This browser could not activate.";
      showError(`${text} Start again from two-factor setup in the portal.`, { focus: true });
    }
  }
}

// After a lost connection, the same link can be tried again without leaving the page.
function offerRetry(token, text) {
  showError(`${text} This phone is not activated yet.`, { focus: true });
  const retry = one("[data-retry]");
  retry.hidden = false;
  retry.onclick = () => {
    retry.hidden = true;
    activate(token);
  };
}

// The home view: passcode and requests ---------------------------------------------------------

function showHome({ activated = false } = {}) {
  const record = state.record;
  setText("[data-account]", record.account);
  setText("[data-device-name]", record.device_name || "This phone");
  setText("[data-issuer]", record.issuer || body.dataset.institution || "");
  one("[data-activated]").hidden = !activated;
  one("[data-home-title]").textContent = activated ? "Activated" : record.account;
  renderRequests();
  show("home");
  tick();
  setUpPush();
  pollNow();
}

async function renderPasscode(now) {
  const record = state.record;
  const period = record.period || 30;
  const { code, secondsLeft } = await totp(record.totpKey, {
    digits: record.digits || 6,
    period,
    now,
  });
  if (code !== state.lastCode) {
    state.lastCode = code;
    const half = Math.ceil(code.length / 2);
    const first = document.createElement("span");
    const second = document.createElement("span");
    first.textContent = code.slice(0, half);
    second.textContent = code.slice(half);
    one("[data-passcode]").replaceChildren(first, second);
  }
  const progress = one("[data-passcode-progress]");
  progress.max = period;
  progress.value = secondsLeft;
  one("[data-passcode-countdown]").textContent =
    `New passcode in ${plural(secondsLeft, "second", "seconds")}`;
}

function describeWhen(isoTime, now) {
  const date = new Date(isoTime);
  if (Number.isNaN(date.getTime())) {
    return "";
  }
  const seconds = Math.max(0, Math.round((now - date.getTime()) / 1000));
  const clock = new Intl.DateTimeFormat(undefined, { hour: "numeric", minute: "2-digit" }).format(
    date,
  );
  if (seconds < 10) {
    return `${clock}, just now`;
  }
  if (seconds < 120) {
    return `${clock}, ${plural(seconds, "second", "seconds")} ago`;
  }
  return `${clock}, ${plural(Math.round(seconds / 60), "minute", "minutes")} ago`;
}

function describeWhere(request) {
  const parts = [request.ip, request.place].filter(Boolean);
  if (parts.length === 2) {
    return `${request.ip} (${request.place})`;
  }
  return parts[0] || "Not known";
}

function secondsLeft(request, now) {
  return Math.max(0, Math.ceil((request.expiresAt - now) / 1000));
}

function requestDetail(request, now) {
  return [request.browser, describeWhen(request.created_at, now)].filter(Boolean).join(" · ");
}

// The list is rebuilt only when its requests change, and the focus stays on the request it
// was on; otherwise only the times are brought up to date.
function renderRequests() {
  const list = one("[data-requests]");
  const now = Date.now();
  const ids = state.requests.map((request) => request.id).join(" ");
  if (list.dataset.ids === ids) {
    for (const request of state.requests) {
      const button = list.querySelector(`[data-open-request="${CSS.escape(request.id)}"]`);
      const detail = button && button.querySelector(".request-item__detail");
      if (detail) {
        detail.textContent = requestDetail(request, now);
      }
    }
    return;
  }
  const focused = document.activeElement && document.activeElement.dataset
    ? document.activeElement.dataset.openRequest
    : undefined;
  const items = state.requests.map((request) => {
    const item = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "request-item";
    button.dataset.openRequest = request.id;
    const what = document.createElement("span");
    what.className = "request-item__what";
    what.textContent = `${request.purpose}: ${request.account}`;
    const detail = document.createElement("span");
    detail.className = "request-item__detail";
    detail.textContent = requestDetail(request, now);
    const action = document.createElement("span");
    action.className = "request-item__action";
    action.textContent = "Review";
    button.append(what, detail, action);
    item.append(button);
    return item;
  });
  list.replaceChildren(...items);
  list.dataset.ids = ids;
  if (focused) {
    const again = list.querySelector(`[data-open-request="${CSS.escape(focused)}"]`);
    (again || one('[data-view="home"] [data-view-title]')).focus();
  }
  one("[data-requests-empty]").hidden = items.length > 0;
  one("[data-requests-count]").textContent = items.length
    ? `${plural(items.length, "request", "requests")} waiting for you`
    : "";
}

// One request, to approve or deny ---------------------------------------------------------------

function findRequest(id) {
  return state.requests.find((request) => request.id === id);
}

// "Activated" is news only until the first request: then the home view names the account.
function settleHome() {
  one("[data-activated]").hidden = true;
  if (state.record) {
    one("[data-home-title]").textContent = state.record.account;
  }
}

function openRequest(id) {
  const request = findRequest(id);
  if (!request) {
    return;
  }
  settleHome();
  state.openId = id;
  const view = one('[data-view="request"]');
  view.dataset.requestId = id;
  const now = Date.now();
  setText("[data-request-title]", PURPOSE_QUESTIONS[request.purpose] || "Approve this request?");
  setText("[data-request-account]", request.account);
  setText("[data-request-purpose]", request.purpose);
  setText("[data-request-where]", describeWhere(request));
  setText("[data-request-browser]", request.browser || "Not known");
  const when = one("[data-request-when]");
  when.dateTime = request.created_at;
  when.textContent = describeWhen(request.created_at, now);
  const input = one("[data-number]");
  input.value = "";
  setNumberError("");
  setBusy(false);
  renderExpiry(now);
  clearMessages();
  show("request");
}

function closeRequest() {
  state.openId = null;
  show("home");
}

function setNumberError(text) {
  const error = one("[data-number-error]");
  const input = one("[data-number]");
  const field = one("[data-number-field]");
  error.textContent = text ? `Error: ${text}` : "";
  error.hidden = !text;
  field.classList.toggle("field--invalid", Boolean(text));
  if (text) {
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", "request-number-error request-number-help");
  } else {
    input.removeAttribute("aria-invalid");
    input.setAttribute("aria-describedby", "request-number-help");
  }
}

function setBusy(busy) {
  state.answering = busy;
  const form = one("[data-decision-form]");
  form.setAttribute("aria-busy", busy ? "true" : "false");
  for (const button of all("[data-decision]", form)) {
    button.disabled = busy;
  }
}

function renderExpiry(now) {
  const request = findRequest(state.openId);
  if (!request) {
    return;
  }
  const left = secondsLeft(request, now);
  setText("[data-request-expires]", `Expires in ${plural(left, "second", "seconds")}`);
  setText("[data-request-when]", describeWhen(request.created_at, now));
  if (left === 0 && !state.answering) {
    dropRequest(request.id);
    closeRequest();
    showStatus("That request expired before it was answered. Nothing was approved.", {
      focus: true,
    });
  }
}

function dropRequest(id) {
  state.requests = state.requests.filter((request) => request.id !== id);
  renderRequests();
}

const OUTCOMES = {
  approved: ["Approved.", "Go back to the screen where you are signing in: it continues by itself."],
  denied: ["Denied.", "Nobody was signed in with this request."],
  fraud: [
    "Denied and reported as fraud.",
    "Nobody was signed in. Pushes to your account are paused for a while and the IT Service " +
      "Desk has been told. Change your password soon: someone else may know it.",
  ],
};

async function decide(decision) {
  const request = findRequest(state.openId);
  if (!request || state.answering) {
    return;
  }
  let number = "";
  if (decision === "approve") {
    number = normaliseDigits(one("[data-number]").value);
    if (!/^[0-9]{3}$/.test(number)) {
      setNumberError("Enter the 3-digit number shown on your sign-in screen.");
      one("[data-number]").focus();
      return;
    }
  }
  setNumberError("");
  setBusy(true);
  const record = state.record;
  try {
    const nonce = randomNonce();
    const signature = await sign(
      record.privateKey,
      messages.decision(request.id, number, decision, nonce),
    );
    const data = await post(API.decide, {
      app_id: record.app_id,
      request_id: request.id,
      number,
      decision,
      nonce,
      signature,
    });
    setBusy(false);
    dropRequest(request.id);
    closeRequest();
    if (data.state === "wrong_number") {
      showError(
        "Not approved: the number you typed is not the one on your sign-in screen. " +
          "Nobody was signed in. To sign in, send a new push from the sign-in screen.",
        { title: "Refused.", focus: true },
      );
    } else if (OUTCOMES[data.state]) {
      const [title, text] = OUTCOMES[data.state];
      showStatus(text, { title, focus: true });
    } else {
      showStatus("The portal took your answer.", { focus: true });
    }
  } catch (error) {
    setBusy(false);
    if (error instanceof ApiError && error.status === 410) {
      deviceRemoved();
    } else if (error instanceof ApiError && error.status === 409) {
      dropRequest(request.id);
      closeRequest();
      showError("This request was already answered or it has expired. Nothing changed.", {
        focus: true,
      });
    } else if (error instanceof ApiError && error.status === OFFLINE) {
      showError(`${error.message} Your answer was not sent; try again.`, { focus: true });
    } else {
      showError(error instanceof ApiError ? error.message : "Your answer could not be sent.", {
        focus: true,
      });
    }
  }
}

// Polling -----------------------------------------------------------------------------------

function stopPolling() {
  window.clearTimeout(state.pollTimer);
  state.pollTimer = 0;
}

function schedulePoll() {
  stopPolling();
  if (state.record && document.visibilityState === "visible") {
    state.pollTimer = window.setTimeout(poll, POLL_MS);
  }
}

function pollNow() {
  if (state.record) {
    poll();
  }
}

async function poll() {
  if (state.polling) {
    state.pollAgain = true;
    return;
  }
  const record = state.record;
  if (!record) {
    return;
  }
  stopPolling();
  state.polling = true;
  try {
    const ts = unixSeconds();
    const signature = await sign(record.privateKey, messages.poll(record.app_id, ts));
    const data = await post(API.requests, { app_id: record.app_id, ts, signature });
    setConnection("");
    receive(Array.isArray(data.requests) ? data.requests : []);
  } catch (error) {
    if (error instanceof ApiError && error.status === 410) {
      state.polling = false;
      deviceRemoved();
      return;
    }
    if (error instanceof ApiError && error.status === OFFLINE) {
      setConnection("No connection: requests will show when the phone is back online.");
    } else if (error instanceof ApiError && error.status === 401) {
      setConnection(
        "The portal did not accept this phone's request. Check that the phone sets its date " +
          "and time automatically.",
      );
    } else {
      setConnection(error instanceof ApiError ? error.message : "Requests could not be loaded.");
    }
  } finally {
    state.polling = false;
  }
  if (state.pollAgain) {
    state.pollAgain = false;
    poll();
  } else {
    schedulePoll();
  }
}

function receive(requests) {
  const now = Date.now();
  state.requests = requests.map((request) => ({
    ...request,
    expiresAt: now + Math.max(0, Number(request.expires_in) || 0) * 1000,
  }));
  const fresh = state.requests.filter((request) => !state.seen.has(request.id));
  for (const request of state.requests) {
    state.seen.add(request.id);
  }
  renderRequests();

  const view = currentView();
  if (view === "request" && state.openId && !findRequest(state.openId) && !state.answering) {
    closeRequest();
    showStatus("That request is no longer waiting: it was answered or it expired.", {
      focus: true,
    });
  } else if (view === "home" && fresh.length) {
    // The newest request that just arrived opens by itself, as a notification would.
    openRequest(fresh[0].id);
  }
}

// The device was removed in My Settings & Devices: forget the keys and say so.
async function deviceRemoved() {
  stopPolling();
  state.record = null;
  state.requests = [];
  state.openId = null;
  setConnection("");
  clearMessages();
  await forgetRecord().catch(() => undefined);
  show("removed");
}

// The once-a-second clock: passcode, countdowns ---------------------------------------------

let tickTimer = 0;

async function tick() {
  window.clearTimeout(tickTimer);
  const now = Date.now();
  if (state.record) {
    try {
      await renderPasscode(now);
    } catch {
      setText("[data-passcode-countdown]", "Passcodes cannot be shown in this browser.");
    }
    if (currentView() === "request") {
      renderExpiry(now);
    }
  }
  tickTimer = window.setTimeout(tick, 1000 - (Date.now() % 1000) + 5);
}

// Web Push: only with a VAPID key, a push service, and the person's permission --------------

function pushSupported() {
  return Boolean(
    vapidPublicKey &&
      "serviceWorker" in navigator &&
      "PushManager" in window &&
      "Notification" in window,
  );
}

function withTimeout(promise, milliseconds) {
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      window.setTimeout(() => reject(new Error("timed out")), milliseconds);
    }),
  ]);
}

// body[data-push] says where Web Push stands: off, ask, denied, subscribed or unavailable.
function setUpPush() {
  const offer = one("[data-push-offer]");
  offer.hidden = true;
  if (!pushSupported() || !state.record) {
    body.dataset.push = "off";
    return;
  }
  body.dataset.push = Notification.permission === "default" ? "ask" : Notification.permission;
  if (Notification.permission === "granted") {
    subscribe({ quiet: true });
  } else if (Notification.permission === "default") {
    offer.hidden = false;
  }
}

async function subscribe({ quiet }) {
  const record = state.record;
  try {
    const registration = await withTimeout(navigator.serviceWorker.ready, 10000);
    let subscription = await registration.pushManager.getSubscription();
    if (!subscription) {
      subscription = await registration.pushManager.subscribe({
        userVisibleOnly: true,
        applicationServerKey: base64urlDecode(vapidPublicKey),
      });
    }
    const { endpoint, keys = {} } = subscription.toJSON();
    const ts = unixSeconds();
    const signature = await sign(record.privateKey, messages.subscribe(record.app_id, ts, endpoint));
    await post(API.subscribe, {
      app_id: record.app_id,
      ts,
      subscription: { endpoint, keys: { p256dh: keys.p256dh, auth: keys.auth } },
      signature,
    });
    body.dataset.push = "subscribed";
    if (!quiet) {
      showStatus("Notifications are on: this phone tells you when a request waits.", {
        focus: true,
      });
    }
  } catch (error) {
    body.dataset.push = "unavailable";
    if (error instanceof ApiError && error.status === 410) {
      deviceRemoved();
    } else if (!quiet) {
      showError(
        "Notifications could not be turned on in this browser. Keep this app open to see " +
          "requests as they come.",
        { focus: true },
      );
    }
  }
}

async function enablePush() {
  one("[data-push-offer]").hidden = true;
  let permission = "denied";
  try {
    permission = await Notification.requestPermission();
  } catch {
    permission = "denied";
  }
  if (permission === "granted") {
    subscribe({ quiet: false });
  } else {
    body.dataset.push = "denied";
    showStatus("Notifications stay off. Open this app to see requests.", { focus: true });
  }
}

// The service worker: offline shell, and pushes that wake the app ---------------------------

function registerServiceWorker() {
  if (!("serviceWorker" in navigator)) {
    return;
  }
  navigator.serviceWorker.addEventListener("message", (event) => {
    if (event.data && event.data.type === "push") {
      root.dataset.lastPush = String(Date.now());
      pollNow();
    }
  });
  navigator.serviceWorker.startMessages();
  navigator.serviceWorker.register("/m/sw.js", { scope: "/m/" }).catch(() => {
    // Without a worker the app still works online; only offline start and pushes are lost.
  });
}

// Wiring ----------------------------------------------------------------------------------------

function bind() {
  one("[data-decision-form]").addEventListener("submit", (event) => {
    event.preventDefault();
    decide("approve");
  });
  for (const button of all("[data-decision]")) {
    if (button.type !== "submit") {
      button.addEventListener("click", () => decide(button.dataset.decision));
    }
  }
  one("[data-requests]").addEventListener("click", (event) => {
    const button = event.target.closest("[data-open-request]");
    if (button) {
      openRequest(button.dataset.openRequest);
    }
  });
  one("[data-back]").addEventListener("click", () => {
    closeRequest();
    const first = one("[data-open-request]");
    (first || one('[data-view="home"] [data-view-title]')).focus();
  });
  one("[data-number]").addEventListener("input", () => {
    if (one("[data-number-field]").classList.contains("field--invalid")) {
      setNumberError("");
    }
  });
  one("[data-copy-passcode]").addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(state.lastCode);
      showStatus("Passcode copied.");
    } catch {
      showStatus("Copying is not allowed here: type the passcode instead.");
    }
  });
  one("[data-enable-push]").addEventListener("click", enablePush);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") {
      pollNow();
    } else {
      stopPolling();
    }
  });
}

async function start() {
  bind();
  registerServiceWorker();
  const token = activationToken();
  if (token) {
    // The token leaves the address bar (and the history) before anything else happens.
    history.replaceState(null, "", "/m/");
    await activate(token);
    return;
  }
  try {
    state.record = (await loadRecord()) || null;
  } catch {
    state.record = null;
    show("inactive");
    showError("This browser does not let the app keep its key. Open it in the phone's own browser.");
    return;
  }
  if (state.record) {
    showHome();
  } else {
    show("inactive", { focus: false });
  }
}

start();
