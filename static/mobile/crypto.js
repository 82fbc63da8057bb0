// The portal authenticator's cryptography and message formats, on WebCrypto alone.
//
// Keys never leave the phone: the ECDSA P-256 private key and the TOTP key are made or
// imported as non-extractable CryptoKeys and kept as such in IndexedDB. The portal checks
// every message below with the public key it was given at activation.

const encoder = new TextEncoder();

export function utf8(text) {
  return encoder.encode(text);
}

// base64url without padding (RFC 4648 §5), to and from bytes.
export function base64urlEncode(bytes) {
  const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let binary = "";
  for (let i = 0; i < view.length; i += 0x8000) {
    binary += String.fromCharCode.apply(null, view.subarray(i, i + 0x8000));
  }
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function base64urlDecode(text) {
  const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
  const padded = base64 + "===".slice((base64.length + 3) % 4);
  const binary = atob(padded);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i += 1) {
    bytes[i] = binary.charCodeAt(i);
  }
  return bytes;
}

const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

// RFC 4648 base32, as TOTP secrets are written; spaces and padding are ignored.
export function base32Decode(text) {
  const clean = text.toUpperCase().replace(/[\s=-]/g, "");
  const bytes = new Uint8Array(Math.floor((clean.length * 5) / 8));
  let buffer = 0;
  let bits = 0;
  let index = 0;
  for (const char of clean) {
    const value = BASE32.indexOf(char);
    if (value < 0) {
      throw new Error("The passcode key is not valid base32.");
    }
    buffer = (buffer << 5) | value;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      bytes[index] = (buffer >> bits) & 0xff;
      index += 1;
    }
  }
  return bytes;
}

export function randomNonce() {
  return base64urlEncode(crypto.getRandomValues(new Uint8Array(16)));
}

export function unixSeconds(now = Date.now()) {
  return Math.floor(now / 1000);
}

// The app's key pair. The private key cannot be exported, not even by this script.
export function generateSigningKey() {
  return crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, [
    "sign",
    "verify",
  ]);
}

export async function exportPublicKey(publicKey) {
  return base64urlEncode(await crypto.subtle.exportKey("spki", publicKey));
}

// WebCrypto's ECDSA signature is already the raw 64-byte r||s the portal expects.
export async function sign(privateKey, lines) {
  const signature = await crypto.subtle.sign(
    { name: "ECDSA", hash: "SHA-256" },
    privateKey,
    utf8(lines.join("\n")),
  );
  return base64urlEncode(signature);
}

// The messages the portal verifies, line by line, exactly as it rebuilds them.
export const messages = {
  activate: (token) => ["portal-authenticator-activate", token],
  poll: (appId, ts) => ["portal-authenticator-poll", String(appId), String(ts)],
  decision: (requestId, number, decision, nonce) => [
    "portal-authenticator-decision",
    requestId,
    number,
    decision,
    nonce,
  ],
  subscribe: (appId, ts, endpoint) => [
    "portal-authenticator-subscribe",
    String(appId),
    String(ts),
    endpoint,
  ],
};

const TOTP_HASHES = { SHA1: "SHA-1", SHA256: "SHA-256", SHA512: "SHA-512" };

// The TOTP secret as a non-extractable HMAC key: after this the secret exists nowhere readable.
export function importTotpKey(base32Secret, algorithm = "SHA1") {
  const hash = TOTP_HASHES[String(algorithm).toUpperCase().replace("-", "")];
  if (!hash) {
    throw new Error(`Passcodes with ${algorithm} are not supported.`);
  }
  return crypto.subtle.importKey("raw", base32Decode(base32Secret), { name: "HMAC", hash }, false, [
    "sign",
  ]);
}

// RFC 6238 (TOTP) over RFC 4226 (HOTP): HMAC of the 8-byte big-endian time step, dynamic
// truncation, the low ``digits`` decimal digits with leading zeros kept.
export async function totp(totpKey, { digits = 6, period = 30, now = Date.now() } = {}) {
  const step = Math.floor(now / 1000 / period);
  const counter = new Uint8Array(8);
  let rest = step;
  for (let i = 7; i >= 0; i -= 1) {
    counter[i] = rest % 256;
    rest = Math.floor(rest / 256);
  }
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", totpKey, counter));
  const offset = mac[mac.length - 1] & 0x0f;
  const binary =
    ((mac[offset] & 0x7f) << 24) |
    (mac[offset + 1] << 16) |
    (mac[offset + 2] << 8) |
    mac[offset + 3];
  const code = String(binary % 10 ** digits).padStart(digits, "0");
  const secondsLeft = period - (Math.floor(now / 1000) % period);
  return { code, step, secondsLeft };
}

// What a person types for the number: full-width digits become ASCII (NFKC), spaces go.
export function normaliseDigits(text) {
  return String(text).normalize("NFKC").replace(/\s+/g, "");
}
