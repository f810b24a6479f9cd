// The log page: verify a pasted receipt in this browser, trusting only the log keys printed on the page.
// The same checks as `provreg verify` (registry/log/receipts.py): the publisher's signature over the statement, the
// entry's RFC 6962 leaf hash (SHA-256 of 0x00 and its RFC 8785 canonical JSON), the inclusion proof (RFC 9162
// 2.1.3.2) up to the checkpoint's root, and the checkpoint's signed-note Ed25519 signature by a listed key.
// Hashing and signatures are WebCrypto's; the server's check stays one click away as the fallback.
"use strict";
(function () {
  const button = document.getElementById("verify-here");
  if (!button) return;
  const field = document.getElementById("receipt");
  const output = document.getElementById("browser-result");
  const keys = [...document.querySelectorAll("[data-vkey]")].map((item) => item.dataset.vkey);
  const domains = JSON.parse(document.getElementById("log-keys").dataset.domains);
  const encoder = new TextEncoder();

  class Refused extends Error {}
  function refuse(reason) { throw new Refused(reason); }

  function fromBase64(text, what) {
    let binary;
    try { binary = atob(text); } catch { refuse(what + " is not valid base64"); }
    const bytes = Uint8Array.from(binary, (char) => char.charCodeAt(0));
    if (btoa(binary) !== text) refuse(what + " is not canonically base64-encoded");
    return bytes;
  }
  const concat = (...parts) => {
    const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
    let at = 0;
    for (const part of parts) { out.set(part, at); at += part.length; }
    return out;
  };
  const sha256 = async (bytes) => new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  const same = (a, b) => a.length === b.length && a.every((byte, i) => byte === b[i]);
  const hex = (bytes) => [...bytes].map((byte) => byte.toString(16).padStart(2, "0")).join("");

  // RFC 8785: sorted keys (UTF-16 code units, JavaScript's own order), ECMAScript numbers and string escapes.
  function canonical(value) {
    if (Array.isArray(value)) return "[" + value.map(canonical).join(",") + "]";
    if (value !== null && typeof value === "object") {
      return "{" + Object.keys(value).sort().map((key) => JSON.stringify(key) + ":" + canonical(value[key])).join(",") + "}";
    }
    if (typeof value === "number" && !Number.isSafeInteger(value) && Number.isInteger(value)) {
      refuse("the entry holds a number too large to check here");
    }
    return JSON.stringify(value);
  }

  async function ed25519(publicKey, signature, message) {
    let key;
    try {
      key = await crypto.subtle.importKey("raw", publicKey, { name: "Ed25519" }, false, ["verify"]);
    } catch {
      refuse("this browser cannot check Ed25519 signatures; use the server's check below");
    }
    return crypto.subtle.verify({ name: "Ed25519" }, key, signature, message);
  }

  async function publisherSignatures(entry) {
    const statement = entry.statement;
    if (statement === undefined) return; // operator events carry no publisher signature
    if (typeof statement !== "object" || !domains[statement.type]) refuse("the entry's statement is of an unknown type");
    const publicKey = fromBase64(String(entry.public_key), "the entry's public_key");
    if (hex(await sha256(publicKey)) !== entry.key_id) refuse("the entry's public key does not hash to its key_id");
    const signed = [[publicKey, entry.signature]];
    if (statement.type === "key_rotation") signed.push([fromBase64(String(statement.new_public_key), "new_public_key"), entry.new_signature]);
    const payload = encoder.encode(domains[statement.type] + canonical(statement));
    for (const [key, signature] of signed) {
      if (!(await ed25519(key, fromBase64(String(signature), "the entry's signature"), payload))) {
        refuse("the publisher's signature over the statement does not verify");
      }
    }
  }

  function parseProof(text) {
    const blank = text.indexOf("\n\n");
    if (blank < 0) refuse("the proof has no blank line before its checkpoint");
    const lines = text.slice(0, blank).split("\n");
    if (lines[0] !== "c2sp.org/tlog-proof@v1") refuse("the proof does not start with c2sp.org/tlog-proof@v1");
    const at = lines[1]?.startsWith("extra ") ? 2 : 1;
    const index = /^index (0|[1-9][0-9]*)$/.exec(lines[at] || "");
    if (!index) refuse("the proof has no index line");
    const hashes = lines.slice(at + 1).map((line, i) => fromBase64(line, "proof hash " + i));
    if (hashes.some((hash) => hash.length !== 32)) refuse("a proof hash is not 32 bytes");
    if (index[1].length > 16 || !Number.isSafeInteger(Number(index[1]))) refuse("the proof's index is too large to check here");
    return { index: Number(index[1]), hashes, note: text.slice(blank + 2) };
  }

  // signed-note: the text up to the last blank line, then "— name base64(key ID || signature)" lines.
  async function openCheckpoint(note) {
    const split = note.lastIndexOf("\n\n");
    if (split < 0 || !note.endsWith("\n")) refuse("the checkpoint note is malformed");
    const text = note.slice(0, split + 1);
    let signer = null;
    for (const line of note.slice(split + 2, -1).split("\n")) {
      if (!line.startsWith("\u2014 ")) refuse("a checkpoint signature line does not start with an em dash");
      const [name, encoded] = line.slice(2).split(" ");
      const signature = fromBase64(encoded || "", "the checkpoint signature by " + name);
      for (const vkey of keys) {
        const first = vkey.indexOf("+"), second = vkey.indexOf("+", first + 1); // base64 may hold a "+" too
        const [keyName, keyId, keyText] = [vkey.slice(0, first), vkey.slice(first + 1, second), vkey.slice(second + 1)];
        const raw = fromBase64(keyText, "the log key");
        if (keyName !== name || hex(signature.slice(0, 4)) !== keyId.toLowerCase()) continue;
        if (!(await ed25519(raw.slice(1), signature.slice(4), encoder.encode(text)))) {
          refuse("the checkpoint's signature by " + name + " does not verify");
        }
        signer = name;
      }
    }
    if (!signer) refuse("the checkpoint carries no signature by a log key listed on this page");
    const [origin, size, root] = text.slice(0, -1).split("\n");
    if (origin !== signer) refuse("the checkpoint is from log " + origin + ", not the listed key's log");
    if (!/^(0|[1-9][0-9]*)$/.test(size || "")) refuse("the checkpoint's size is not a number");
    if (size.length > 16 || !Number.isSafeInteger(Number(size))) refuse("the checkpoint's size is too large to check here");
    return { origin, size: Number(size), root: fromBase64(root || "", "the checkpoint's root hash") };
  }

  // RFC 9162 section 2.1.3.2.
  async function inclusionRoot(leaf, index, size, proof) {
    if (index >= size) refuse("the entry's index is not below the checkpoint's size");
    let fn = index, sn = size - 1, hash = leaf;
    for (const element of proof) {
      if (sn === 0) refuse("the inclusion proof is too long");
      if (fn % 2 === 1 || fn === sn) {
        hash = await sha256(concat([1], element, hash));
        while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
      } else {
        hash = await sha256(concat([1], hash, element));
      }
      fn = Math.floor(fn / 2);
      sn = Math.floor(sn / 2);
    }
    if (sn !== 0) refuse("the inclusion proof is too short");
    return hash;
  }

  async function verify(text) {
    let receipt;
    try { receipt = JSON.parse(text); } catch { refuse("the receipt is not valid JSON"); }
    if (receipt && typeof receipt.receipt === "object") receipt = receipt.receipt; // a registration's answer
    if (!receipt || typeof receipt !== "object" || Object.keys(receipt).sort().join() !== "entry,log_index,proof") {
      refuse("a receipt has exactly the fields entry, log_index and proof");
    }
    const { log_index: index, entry, proof } = receipt;
    if (!Number.isSafeInteger(index) || !entry || typeof entry !== "object" || typeof proof !== "string") refuse("the receipt's fields have the wrong types");
    if (entry.log_index !== index) refuse("the entry's log_index differs from the receipt's");
    await publisherSignatures(entry);
    const parsed = parseProof(proof);
    if (parsed.index !== index) refuse("the proof is for entry " + parsed.index + ", not " + index);
    const checkpoint = await openCheckpoint(parsed.note);
    const leaf = await sha256(concat([0], encoder.encode(canonical(entry))));
    if (!same(await inclusionRoot(leaf, index, checkpoint.size, parsed.hashes), checkpoint.root)) {
      refuse("the inclusion proof does not lead to the checkpoint's root hash");
    }
    return { entry, index, checkpoint };
  }

  function say(sentence, good) {
    output.className = good ? "ok" : "error";
    output.textContent = sentence;
    output.hidden = false;
    output.focus();
  }

  button.addEventListener("click", async () => {
    try {
      const { entry, index, checkpoint } = await verify(field.value.trim());
      say("Verified in this browser: " + entry.kind + (entry.registration_id ? " " + entry.registration_id : "") +
          " is entry " + index + " of log " + checkpoint.origin + ", proven against its signed checkpoint of size " +
          checkpoint.size + ".", true);
    } catch (error) {
      const reason = error instanceof Refused ? error.message : "it is malformed (" + error.message + ")";
      say("This receipt does not verify: " + reason + ".", false);
    }
  });
})();
