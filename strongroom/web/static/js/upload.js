// The uploader of "My files": takes over the upload form (which works without
// JavaScript) to send several files, dropped or chosen, one after the other to the
// JSON API (POST /api/v1/files, the raw file as the body), each with a progress bar,
// speed, time left and a Cancel button. When files have arrived, the list below is
// fetched again so they appear in it.

import { localTimes } from "./common.js";

function Uploader(form) {
  this.form = form;
  this.input = form.querySelector("input[type=file]");
  this.list = form.querySelector("[data-transfers]");
  this.status = form.querySelector("[data-upload-status]");
  this.queue = [];
  this.running = null;
  this.arrived = 0;
  this.input.multiple = true;
  form.querySelector("[data-drop]").hidden = false;
  form.classList.add("droppable");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    this.add(this.input.files);
    this.input.value = "";
  });
  dropZone(form, (files) => this.add(files));
}

Uploader.prototype.add = function (files) {
  const shareWith = this.form.elements.share_with.value.trim();
  for (const file of files) {
    const transfer = new Transfer(this, file, shareWith);
    this.list.append(transfer.row);
    if (file.size > Number(this.form.dataset.maxSize)) {
      transfer.fail(`The file is too large: this server accepts files up to ${bytes(Number(this.form.dataset.maxSize))}.`);
    } else {
      this.queue.push(transfer);
    }
  }
  this.next();
};

Uploader.prototype.next = function () {
  if (this.running) return;
  this.running = this.queue.shift() || null;
  if (this.running) {
    this.running.start();
  } else if (this.arrived) {
    this.arrived = 0;
    refreshList();
  }
};

Uploader.prototype.finished = function (transfer, arrived) {
  if (arrived) this.arrived += 1;
  if (this.running === transfer) this.running = null;
  this.queue = this.queue.filter((t) => t !== transfer);
  this.next();
};

Uploader.prototype.announce = function (message) {
  this.status.textContent = message;
};

function Transfer(uploader, file, shareWith) {
  this.uploader = uploader;
  this.file = file;
  this.shareWith = shareWith;
  this.xhr = null;
  this.row = element("li", { className: "transfer" });
  this.name = element("span", { className: "name", textContent: file.name });
  this.cancel = element("button", { type: "button", className: "secondary compact" });
  this.cancel.append("Cancel", element("span", { className: "visually-hidden", textContent: ` ${file.name}` }));
  this.cancel.addEventListener("click", () => this.stop());
  this.bar = element("progress", { max: 100, value: 0 });
  this.bar.setAttribute("aria-label", `Upload of ${file.name}`);
  this.text = element("p", { className: "progress-text", textContent: "Waiting…" });
  this.row.append(this.name, this.cancel, this.bar, this.text);
}

Transfer.prototype.start = function () {
  const form = this.uploader.form;
  const query = this.shareWith ? `?share_with=${encodeURIComponent(this.shareWith)}` : "";
  const xhr = (this.xhr = new XMLHttpRequest());
  xhr.open("POST", form.dataset.api + query);
  xhr.setRequestHeader("Content-Type", "application/octet-stream");
  xhr.setRequestHeader("Accept", "application/json");
  xhr.setRequestHeader("X-File-Name", headerName(this.file.name));
  xhr.setRequestHeader("X-CSRF-Token", form.elements.csrf_token.value);
  this.samples = [[performance.now(), 0]];
  xhr.upload.addEventListener("progress", (event) => this.progress(event.loaded, this.file.size));
  xhr.upload.addEventListener("load", () => {
    this.bar.value = 100;
    this.text.textContent = "100 % sent · encrypting and saving…";
  });
  xhr.addEventListener("load", () => (xhr.status === 201 ? this.done(xhr) : this.fail(failure(xhr, form))));
  xhr.addEventListener("error", () => this.fail(failure(xhr, form)));
  xhr.addEventListener("abort", () => this.cancelled());
  this.text.textContent = "Starting…";
  xhr.send(this.file);
};

Transfer.prototype.progress = function (loaded, total) {
  const now = performance.now();
  this.samples.push([now, loaded]);
  // Speed over the last few seconds: recent enough to follow the network, long
  // enough not to jump with every packet.
  while (this.samples.length > 2 && now - this.samples[0][0] > 3000) this.samples.shift();
  const [since, from] = this.samples[0];
  const speed = now > since ? ((loaded - from) * 1000) / (now - since) : 0;
  const percent = total ? Math.floor((loaded / total) * 100) : 100;
  this.bar.value = percent;
  const parts = [`${percent} %`, `${bytes(loaded)} of ${bytes(total)}`];
  if (speed > 0) {
    parts.push(`${bytes(speed)}/s`);
    if (loaded < total) parts.push(`about ${duration((total - loaded) / speed)} left`);
  }
  this.text.textContent = parts.join(" · ");
};

Transfer.prototype.done = function (xhr) {
  this.row.classList.add("done");
  this.bar.value = 100;
  this.cancel.remove();
  let id = null;
  try {
    id = JSON.parse(xhr.responseText).id;
  } catch {
    // the list below shows the file anyway
  }
  if (id) {
    const href = this.uploader.form.dataset.filePage.replace("FILE_ID", encodeURIComponent(id));
    const link = element("a", { href, textContent: this.file.name });
    this.name.replaceChildren(link);
  }
  this.text.textContent = `100 % · ${bytes(this.file.size)} uploaded and encrypted.`;
  this.uploader.announce(`${this.file.name}: uploaded.`);
  this.uploader.finished(this, true);
};

Transfer.prototype.fail = function (message) {
  this.row.classList.add("failed");
  this.cancel.remove();
  this.bar.remove();
  this.text.remove();
  const alert = element("p", { className: "alert", textContent: message });
  alert.setAttribute("role", "alert");
  this.row.append(alert);
  this.uploader.finished(this, false);
};

Transfer.prototype.stop = function () {
  if (this.xhr) {
    this.xhr.abort(); // the server sees the body end early and stores nothing
  } else {
    this.cancelled();
  }
};

Transfer.prototype.cancelled = function () {
  this.cancel.remove();
  this.bar.remove();
  this.text.textContent = "Cancelled: nothing was stored.";
  this.uploader.announce(`${this.file.name}: upload cancelled.`);
  this.uploader.finished(this, false);
};

// A plain-language reason for a refused or broken upload.
function failure(xhr, form) {
  let detail = "";
  try {
    detail = JSON.parse(xhr.responseText).detail || "";
  } catch {
    // not a problem document: the status says enough
  }
  if (xhr.status === 0) return "The connection to the server was lost. Check your network and try again.";
  if (xhr.status === 401) return "You are signed out. Sign in again, then upload the file.";
  if (xhr.status === 413) return `The file is too large: this server accepts files up to ${bytes(Number(form.dataset.maxSize))}.`;
  if (xhr.status === 507) return "There is not enough room left in your storage quota for this file. Delete some files and try again.";
  if (xhr.status === 429) return "Too many uploads at once. Wait a moment and try again.";
  if (xhr.status >= 500) return "The server could not store the file. Please try again later.";
  return detail || "The server refused the file.";
}

// X-File-Name: printable ASCII as it is, anything else in the RFC 8187 form the
// API reads (UTF-8'' and the percent-encoded name).
function headerName(name) {
  return /^[\x20-\x7e]*$/.test(name) ? name : `UTF-8''${encodeURIComponent(name)}`;
}

function dropZone(form, take) {
  let depth = 0; // dragenter/dragleave fire for every child crossed
  form.addEventListener("dragenter", (event) => {
    event.preventDefault();
    depth += 1;
    form.classList.add("dragging");
  });
  form.addEventListener("dragleave", () => {
    depth = Math.max(0, depth - 1);
    if (!depth) form.classList.remove("dragging");
  });
  form.addEventListener("dragover", (event) => event.preventDefault());
  form.addEventListener("drop", (event) => {
    event.preventDefault();
    depth = 0;
    form.classList.remove("dragging");
    if (event.dataTransfer && event.dataTransfer.files.length) take(event.dataTransfer.files);
  });
  // A file dropped beside the zone must not make the browser leave the page for it.
  for (const type of ["dragover", "drop"]) {
    document.addEventListener(type, (event) => {
      if (!form.contains(event.target)) event.preventDefault();
    });
  }
}

// Fetch this page again and put its file list in place of the current one.
async function refreshList() {
  const current = document.getElementById("file-list");
  if (!current) return;
  try {
    const answer = await fetch(window.location.href, { headers: { Accept: "text/html" } });
    if (!answer.ok) return;
    const fresh = new DOMParser().parseFromString(await answer.text(), "text/html").getElementById("file-list");
    if (fresh) {
      current.replaceWith(fresh);
      localTimes(fresh);
    }
  } catch {
    // the list stays as it was; reloading the page shows the new files
  }
}

function bytes(count) {
  if (count < 1000) return `${Math.round(count)} bytes`;
  let value = count / 1000;
  for (const unit of ["KB", "MB", "GB"]) {
    if (value < 1000) return `${value.toFixed(1)} ${unit}`;
    value /= 1000;
  }
  return `${value.toFixed(1)} TB`;
}

function duration(seconds) {
  if (!Number.isFinite(seconds)) return "a while";
  if (seconds < 60) return `${Math.max(1, Math.round(seconds))} s`;
  const minutes = Math.round(seconds / 60);
  return minutes < 60 ? `${minutes} min` : `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

function element(tag, properties) {
  return Object.assign(document.createElement(tag), properties);
}

const uploadForm = document.querySelector("form.upload[data-api]");
if (uploadForm) new Uploader(uploadForm);
