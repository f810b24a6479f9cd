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
  const submit = register.querySelector("button[type=submit]");
  const progress = document.getElementById("register-progress");
  const bar = document.getElementById("register-bar");
  const label = document.getElementById("register-label");
  const REFUSED = {
    408: "The upload took too long and the server stopped waiting.",
    413: "The file is larger than this registry takes.",
    415: "The registry does not take this kind of file.",
    422: "The registry could not register this file.",
    429: "The registry is busy with other uploads: try again in a moment.",
  };
  let following = null; // the timer that polls a registration running in the background
  let wait = 800; // between polls: a second at first, growing to five (an hour of footage takes minutes)

  const sentence = (text) => text.charAt(0).toUpperCase() + text.slice(1) + (/[.?!]$/.test(text) ? "" : ".");

  function failed(said) {
    progress.hidden = true;
    submit.disabled = false;
    const box = document.createElement("div");
    box.className = "error";
    box.id = "error";
    box.tabIndex = -1;
    box.setAttribute("role", "alert");
    box.append(Object.assign(document.createElement("p"), { textContent: said }));
    document.getElementById("desk-status").replaceChildren(box);
    box.focus();
  }

  // The server's answer: the desk's status and list (HTML), swapped in; a job's status is followed until it ends.
  // Anything else (a limit answered before the page's route, in JSON) is said in a sentence from its status.
  function answered(status, type, text, first) {
    if (!(type || "").startsWith("text/html")) {
      let said = "";
      try {
        said = sentence(JSON.parse(text).error.message);
      } catch (_) {
        said = "Try again in a moment.";
      }
      return failed((REFUSED[status] || "The server answered unexpectedly (status " + status + ").") + " " + said);
    }
    const answer = new DOMParser().parseFromString(text, "text/html");
    for (const id of ["desk-status", "own"]) {
      const fresh = answer.getElementById(id);
      if (fresh) document.getElementById(id).replaceWith(document.adoptNode(fresh));
    }
    const job = document.querySelector("#job[data-poll]");
    progress.hidden = true;
    submit.disabled = false;
    if (job) following = setTimeout(() => follow(job.dataset.poll), (wait = Math.min(5000, wait * 1.25)));
    const target = document.querySelector("#desk-status > [tabindex]");
    if (target && (first || !job)) target.focus(); // not at every poll: the status region announces progress
  }

  async function follow(url) {
    try {
      const response = await fetch(url, { headers: { Accept: "text/html" } });
      answered(response.status, response.headers.get("content-type"), await response.text(), false);
    } catch (_) {
      following = setTimeout(() => follow(url), 3000); // the connection dropped a moment: keep following
    }
  }

  function send(data, name) {
    clearTimeout(following); // a new registration replaces the one being followed (the list still shows it)
    wait = 800;
    const request = new XMLHttpRequest();
    request.open("POST", "/publish/register?partial=true");
    progress.hidden = false;
    submit.disabled = true;
    bar.value = 0;
    label.textContent = "Uploading " + name;
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) bar.value = Math.round((100 * event.loaded) / event.total);
    });
    request.upload.addEventListener("load", () => {
      label.textContent = "Fingerprinting and logging " + name;
      bar.removeAttribute("value"); // indeterminate while the server works
    });
    request.addEventListener("load", () => {
      answered(request.status, request.getResponseHeader("content-type"), request.responseText, true);
    });
    request.addEventListener("error", () =>
      failed("The upload failed: the server could not be reached. Check the connection and try again."));
    request.send(data);
  }

  register.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(register);
    const file = register.elements.file.files[0];
    const pasted = data.get("statement").trim() && data.get("signature").trim();
    if (!pasted) { // signed elsewhere: the server checks it; else sign here
      if (!privateKey) return needKey();
      const bytes = new Uint8Array(await file.arrayBuffer());
      const title = register.elements.title.value.trim();
      const signed = await sign({
        ...freshFields(),
        type: "registration",
        content: {
          sha256: hex(await crypto.subtle.digest("SHA-256", bytes)),
          media_type: window.provregMediaType(bytes, file.type),
          size: bytes.length,
        },
        metadata: title ? { title } : {},
      });
      data.set("statement", signed.text);
      data.set("signature", signed.signature);
    }
    send(data, file.name);
  });

  // Withdrawing is logged for good: the row's id and title are asked about first. Rows are swapped in after a
  // registration, so the forms are found when submitted.
  document.addEventListener("submit", async (event) => {
    const form = event.target.closest("form.revoke");
    if (!form) return;
    event.preventDefault();
    if (!privateKey) return needKey();
    const title = form.dataset.title;
    const what = form.dataset.registration + (title ? " (" + title + ")" : "");
    if (!window.confirm("Withdraw " + what + "? Anyone who checks it will be told you withdrew it, and the log keeps that for good.")) return;
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
})();
