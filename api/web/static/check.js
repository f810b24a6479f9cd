// The check page: drop or pick a file, watch it upload, and get the result card without leaving the page.
// Without this script the form still works: it posts and the server answers with the whole page.
"use strict";
(function () {
  const form = document.getElementById("check-form");
  if (!form) return;
  const input = document.getElementById("check-file");
  const zone = document.getElementById("drop-zone");
  const progress = document.getElementById("progress");
  const bar = document.getElementById("progress-bar");
  const label = document.getElementById("progress-label");
  const result = document.getElementById("result");

  function show(html) {
    progress.hidden = true;
    result.innerHTML = html;
    const target = result.querySelector("#error, #card");
    if (target) target.focus();
  }

  function failed(sentence) {
    const box = document.createElement("div");
    box.className = "error";
    box.id = "error";
    box.tabIndex = -1;
    box.setAttribute("role", "alert");
    box.textContent = sentence;
    result.replaceChildren(box);
    progress.hidden = true;
    box.focus();
  }

  function send(file) {
    const data = new FormData(form);
    data.set("file", file, file.name);
    const request = new XMLHttpRequest();
    request.open("POST", "/check?partial=true");
    progress.hidden = false;
    bar.value = 0;
    label.textContent = "Uploading " + file.name;
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) bar.value = Math.round((100 * event.loaded) / event.total);
    });
    request.upload.addEventListener("load", () => {
      label.textContent = "Comparing " + file.name + " with the registered originals";
      bar.removeAttribute("value"); // indeterminate while the server works
    });
    request.addEventListener("load", () => {
      if (request.getResponseHeader("content-type")?.startsWith("text/html")) show(request.responseText);
      else failed("The server answered unexpectedly (status " + request.status + "). Try again in a moment.");
    });
    request.addEventListener("error", () =>
      failed("The upload failed: the server could not be reached. Check the connection and try again."));
    request.send(data);
  }

  // A video's timeline: a span's link shows its frame pair under the list instead of leaving the page; the strip's
  // coloured spans (drawn for the eye, hidden from assistive technology) click through to the same links.
  function showPair(link) {
    const figure = document.getElementById(link.dataset.target);
    if (!figure) return false;
    const picture = figure.querySelector("img");
    const caption = figure.querySelector("figcaption");
    caption.textContent = "Loading the frame pair for " + link.dataset.caption + "…";
    picture.alt = "The original's frame, this file's frame and the changed regions, " + link.dataset.caption;
    picture.onerror = () => { caption.textContent = "The frame pair could not be drawn (the check may have expired). Check the file again."; };
    picture.onload = () => { caption.textContent = "Original | this file | changed regions: " + link.dataset.caption; };
    picture.src = link.href;
    figure.hidden = false;
    for (const other of document.querySelectorAll(".span-link[aria-current]")) other.removeAttribute("aria-current");
    link.setAttribute("aria-current", "true");
    figure.focus();
    return true;
  }
  document.addEventListener("click", (event) => {
    const link = event.target.closest(".span-link");
    const strip = event.target.closest(".strip-link");
    const target = link || (strip && document.getElementById(strip.dataset.span));
    if (target && showPair(target)) event.preventDefault();
  });

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (input.files.length) send(input.files[0]);
  });
  input.addEventListener("change", () => {
    if (input.files.length) send(input.files[0]);
  });
  for (const type of ["dragenter", "dragover"]) {
    zone.addEventListener(type, (event) => {
      event.preventDefault();
      zone.classList.add("over");
    });
  }
  for (const type of ["dragleave", "drop"]) zone.addEventListener(type, () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    if (event.dataTransfer.files.length) {
      input.files = event.dataTransfer.files;
      send(event.dataTransfer.files[0]);
    }
  });
})();
