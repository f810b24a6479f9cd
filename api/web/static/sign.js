// The publisher's page: sign statements in the browser with WebCrypto Ed25519. The key file is read here and
// never sent anywhere; only the statement and its signature go to the server, as `provreg` would send them.
// A statement is signed as its domain prefix + RFC 8785 canonical JSON (registry/statements.py).
"use strict";
(function () {
  const keyInput = document.getElementById("key-file");
  if (!keyInput) return;
  const status = document.getElementById("key-status");
  const publisherId = keyInput.dataset.publisher;
  const keyId = keyInput.dataset.keyId;
  const DOMAINS = {
    registration: "provreg/registration/v1\n",
    content_revocation: "provreg/content-revocation/v1\n",
  };
  let privateKey = null;

  function say(sentence, problem) {
    status.textContent = sentence;
    status.classList.toggle("problem", Boolean(problem));
    status.setAttribute("role", problem ? "alert" : "status");
  }

  // RFC 8785 for what statements hold (objects, strings, integers): keys sorted by UTF-16 code units,
  // strings escaped as JSON.stringify does (ECMAScript's serialisation, which RFC 8785 adopts).
  function canonical(value) {
    if (value === null || typeof value !== "object") return JSON.stringify(value);
    if (Array.isArray(value)) return "[" + value.map(canonical).join(",") + "]";
    return "{" + Object.keys(value).sort().map((k) => JSON.stringify(k) + ":" + canonical(value[k])).join(",") + "}";
  }

  const hex = (bytes) => Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
  const base64 = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes)));
  const fromBase64url = (text) => Uint8Array.from(atob(text.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));

  function freshFields() {
    const nonce = new Uint8Array(16);
    crypto.getRandomValues(nonce);
    return {
      publisher_id: publisherId,
      key_id: keyId,
      created_at: new Date().toISOString().replace(/\.\d{3}Z$/, "Z"),
      nonce: hex(nonce),
    };
  }

  async function sign(statement) {
    const text = canonical(statement);
    const message = new TextEncoder().encode(DOMAINS[statement.type] + text);
    return { text, signature: base64(await crypto.subtle.sign("Ed25519", privateKey, message)) };
  }

  const AVIF = ["avif", "avis"];
  const HEIF = ["heic", "heix", "hevc", "hevx", "heim", "heis", "hevm", "hevs", "mif1", "msf1"];

  // What fingerprint/media.py's sniff_media_type says for the same leading bytes.
  function mediaType(head, fallback) {
    const ascii = (from, to) => String.fromCharCode(...head.slice(from, to));
    if (head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return "image/jpeg";
    if (ascii(0, 8) === "\x89PNG\r\n\x1a\n") return "image/png";
    if (ascii(0, 4) === "RIFF" && ascii(8, 12) === "WEBP") return "image/webp";
    if (ascii(4, 8) === "ftyp") {
      const box = (head[0] << 24) | (head[1] << 16) | (head[2] << 8) | head[3];
      const brands = [ascii(8, 12)];
      for (let i = 16; i + 4 <= Math.min(box, head.length, 64); i += 4) brands.push(ascii(i, i + 4));
      if (brands.some((b) => AVIF.includes(b))) return "image/avif";
      if (brands.some((b) => HEIF.includes(b))) return "image/heic";
    }
    return fallback || "application/octet-stream";
  }

  keyInput.addEventListener("change", async () => {
    privateKey = null;
    const file = keyInput.files[0];
    if (!file) return say("No key chosen.", false);
    try {
      const pem = await file.text();
      const body = pem.match(/-----BEGIN PRIVATE KEY-----([\s\S]+?)-----END PRIVATE KEY-----/);
      if (!body) return say(file.name + " is not an unencrypted PEM private key (BEGIN PRIVATE KEY).", true);
      const der = Uint8Array.from(atob(body[1].replace(/\s+/g, "")), (c) => c.charCodeAt(0));
      const key = await crypto.subtle.importKey("pkcs8", der, { name: "Ed25519" }, true, ["sign"]);
      const jwk = await crypto.subtle.exportKey("jwk", key);
      const id = hex(await crypto.subtle.digest("SHA-256", fromBase64url(jwk.x)));
      if (id !== keyId) {
        return say(file.name + " is not your current key: its id is " + id.slice(0, 16) + "…, yours is " + keyId.slice(0, 16) + "….", true);
      }
      privateKey = key;
      say("Ready to sign with " + file.name + " (key " + id.slice(0, 16) + "…).", false);
    } catch (error) {
      say("Could not use " + file.name + " as an Ed25519 key: " + error.message + ". Sign with provreg and paste the statement instead.", true);
    }
  });

  // The key is forgotten with every page load (it is never stored), so each new page asks for it again.
  function needKey() {
    say("Choose your key file first: it signs in this page and is never uploaded.", true);
    keyInput.focus();
  }

  const register = document.getElementById("register-form");
  register.addEventListener("submit", async (event) => {
    const pasted = register.elements.statement.value.trim() && register.elements.signature.value.trim();
    if (pasted) return; // signed elsewhere: the server checks it
    event.preventDefault();
    if (!privateKey) return needKey();
    const file = register.elements.file.files[0];
    const bytes = new Uint8Array(await file.arrayBuffer());
    const title = register.elements.title.value.trim();
    const statement = {
      ...freshFields(),
      type: "registration",
      content: {
        sha256: hex(await crypto.subtle.digest("SHA-256", bytes)),
        media_type: mediaType(bytes.slice(0, 64), file.type),
        size: bytes.length,
      },
      metadata: title ? { title } : {},
    };
    const signed = await sign(statement);
    register.elements.statement.value = signed.text;
    register.elements.signature.value = signed.signature;
    register.submit();
  });

  for (const form of document.querySelectorAll("form.revoke")) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!privateKey) return needKey();
      const signed = await sign({
        ...freshFields(),
        type: "content_revocation",
        registration_id: form.dataset.registration,
        reason: form.elements.reason.value.trim(),
      });
      form.elements.statement.value = signed.text;
      form.elements.signature.value = signed.signature;
      form.submit();
    });
  }
})();
