// The upload page, enhanced: pick, drop or paste photos; each one becomes a card that uploads to
// /api/colorize, shows progress, then a before/after slider and a download button.
// Without this script the same form posts to /colorize and the server answers a result page.
(function () {
  "use strict";

  const MAX_PARALLEL = 2;
  const form = document.getElementById("upload-form");
  if (!form) return;

  const input = document.getElementById("image-input");
  const dropzone = document.getElementById("dropzone");
  const gallery = document.getElementById("gallery");
  const template = document.getElementById("card-template");
  const inlineError = document.getElementById("inline-error");
  // Absent when the model service serves one model (or could not be asked): the service's default applies.
  const modelSelect = form.querySelector('select[name="model"]');
  const apiUrl = form.dataset.api;
  const maxBytes = Number(form.dataset.maxBytes);
  const queue = [];
  let running = 0;

  input.removeAttribute("required");

  function option(name) {
    const checked = form.querySelector(`input[name="${name}"]:checked`);
    return checked ? checked.value : "";
  }

  function showInlineError(message) {
    inlineError.textContent = message;
    inlineError.hidden = !message;
  }

  function formatBytes(n) {
    return n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : `${Math.max(1, Math.round(n / 1e3))} kB`;
  }

  // "42 ms" under a second (a fast photo is not "0.0 s"), else "1.3 s".
  function formatDuration(ms) {
    return ms < 999.5 ? `${Math.max(1, Math.round(ms))} ms` : `${(ms / 1000).toFixed(1)} s`;
  }

  function filenameFrom(disposition, fallback) {
    const star = /filename\*=UTF-8''([^;]+)/i.exec(disposition || "");
    if (star) {
      try { return decodeURIComponent(star[1]); } catch (e) { /* fall through */ }
    }
    const plain = /filename="([^"]+)"/i.exec(disposition || "");
    return plain ? plain[1] : fallback;
  }

  function setState(card, state, status) {
    card.el.dataset.state = state;
    card.status.textContent = status;
  }

  function makeCard(file) {
    const el = template.content.firstElementChild.cloneNode(true);
    const card = {
      el, file,
      before: el.querySelector(".compare-before"),
      after: el.querySelector(".compare-after"),
      compare: el.querySelector(".compare"),
      range: el.querySelector(".compare-range"),
      bar: el.querySelector(".progress-bar"),
      status: el.querySelector(".card-status"),
      download: el.querySelector(".download"),
      retry: el.querySelector(".retry"),
      resultUrl: null,
    };
    el.querySelector(".card-title").textContent = file.name || "Pasted image";
    el.querySelector(".card-title").title = file.name || "";
    card.before.src = URL.createObjectURL(file);
    card.before.addEventListener("load", () => {
      const { naturalWidth: w, naturalHeight: h } = card.before;
      if (w && h) el.style.setProperty("--aspect", (w / h).toFixed(4));
    }, { once: true });
    // A file the browser cannot draw (not an image, or a format it does not know) gets a
    // "No preview" label instead of the broken-image icon.
    card.before.addEventListener("error", () => { el.dataset.preview = "none"; }, { once: true });
    card.range.addEventListener("input", () => {
      card.compare.style.setProperty("--pos", `${card.range.value}%`);
    });
    card.retry.addEventListener("click", () => enqueue(card));
    return card;
  }

  function fail(card, message) {
    setState(card, "error", message);
    card.retry.hidden = false;
    card.download.hidden = true;
  }

  function enqueue(card) {
    const file = card.file;
    card.retry.hidden = true;
    if (file.type && !file.type.startsWith("image/")) {
      fail(card, "That file is not an image. Please choose a JPEG, PNG or WebP photo.");
      card.retry.hidden = true;
      return;
    }
    if (file.size > maxBytes) {
      fail(card, `That file is too large (${formatBytes(file.size)}). Photos up to ${formatBytes(maxBytes)} are accepted.`);
      card.retry.hidden = true;
      return;
    }
    card.options = { render_size: option("render_size"), format: option("format"),
                     model: modelSelect ? modelSelect.value : "" };
    setState(card, "queued", "Waiting…");
    queue.push(card);
    pump();
  }

  function pump() {
    while (running < MAX_PARALLEL && queue.length) {
      running += 1;
      upload(queue.shift()).finally(() => { running -= 1; pump(); });
    }
  }

  function upload(card) {
    return new Promise((resolve) => {
      const body = new FormData();
      body.append("image", card.file, card.file.name || "pasted.png");
      body.append("render_size", card.options.render_size);
      body.append("format", card.options.format);
      if (card.options.model) body.append("model", card.options.model);
      const xhr = new XMLHttpRequest();
      xhr.open("POST", apiUrl);
      xhr.responseType = "blob";
      xhr.timeout = 180000;
      setState(card, "uploading", "Uploading…");
      xhr.upload.addEventListener("progress", (event) => {
        if (!event.lengthComputable) return;
        const percent = Math.round((100 * event.loaded) / event.total);
        card.bar.style.width = `${percent}%`;
        card.status.textContent = `Uploading… ${percent}%`;
      });
      xhr.upload.addEventListener("load", () => setState(card, "working", "Colorizing…"));
      xhr.addEventListener("load", () => finish(card, xhr).then(resolve));
      xhr.addEventListener("error", () => { fail(card, "Could not reach the server. Check your connection and try again."); resolve(); });
      xhr.addEventListener("timeout", () => { fail(card, "This is taking too long. Try a faster detail setting."); resolve(); });
      xhr.send(body);
    });
  }

  async function finish(card, xhr) {
    if (xhr.status !== 200) {
      fail(card, await errorMessage(xhr));
      // The same file would be refused again; a timeout, a busy server or a 5xx is worth a retry.
      const refused = xhr.status >= 400 && xhr.status < 500 && xhr.status !== 408 && xhr.status !== 429;
      if (refused) card.retry.hidden = true;
      return;
    }
    if (card.resultUrl) URL.revokeObjectURL(card.resultUrl);
    card.resultUrl = URL.createObjectURL(xhr.response);
    card.after.src = card.resultUrl;
    try { await card.after.decode(); } catch (e) { /* shown anyway */ }
    const name = filenameFrom(xhr.getResponseHeader("Content-Disposition"), "colorized.png");
    const ext = name.split(".").pop().toUpperCase().replace("JPG", "JPEG");
    card.download.href = card.resultUrl;
    card.download.download = name;
    card.download.textContent = `Download ${ext}`;
    card.download.hidden = false;
    const ms = Number(xhr.getResponseHeader("X-Inference-Time-Ms"));
    const size = `${card.before.naturalWidth} × ${card.before.naturalHeight}`;
    const took = ms ? ` in ${formatDuration(ms)}` : "";
    const model = xhr.getResponseHeader("X-Model-Name") || "";
    card.el.dataset.model = model;
    card.range.value = 50;
    card.compare.style.setProperty("--pos", "50%");
    setState(card, "done", `${size} · colorized${model ? ` by ${model}` : ""}${took}`);
    card.compare.title = "Drag to compare";
  }

  async function errorMessage(xhr) {
    try {
      const data = JSON.parse(await xhr.response.text());
      if (data && data.error && data.error.message) return data.error.message;
    } catch (e) { /* not JSON */ }
    if (xhr.status === 413) return "That file is too large.";
    if (xhr.status >= 500) return "The colorization service is not available right now. Please try again in a moment.";
    return `That did not work (HTTP ${xhr.status}).`;
  }

  function addFiles(files) {
    const list = Array.from(files || []).filter((f) => f && f.size !== undefined);
    if (!list.length) {
      showInlineError("No image found. Choose, drop or paste a photo.");
      return;
    }
    showInlineError("");
    const cards = list.map((file) => makeCard(file));
    const batch = document.createDocumentFragment();
    cards.forEach((card) => batch.append(card.el));
    gallery.prepend(batch);  // newest batch first, in the order the files were given
    cards.forEach(enqueue);
    cards[0].el.scrollIntoView({ behavior: "smooth", block: "nearest" });
  }

  input.addEventListener("change", () => { addFiles(input.files); input.value = ""; });
  form.addEventListener("submit", (event) => { event.preventDefault(); addFiles(input.files); });

  let dragDepth = 0;
  const hasFiles = (event) => Array.from(event.dataTransfer ? event.dataTransfer.types : []).includes("Files");
  window.addEventListener("dragenter", (event) => {
    if (!hasFiles(event)) return;
    dragDepth += 1;
    dropzone.classList.add("is-dragging");
  });
  window.addEventListener("dragleave", () => {
    dragDepth = Math.max(0, dragDepth - 1);
    if (!dragDepth) dropzone.classList.remove("is-dragging");
  });
  window.addEventListener("dragover", (event) => { if (hasFiles(event)) event.preventDefault(); });
  window.addEventListener("drop", (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    dragDepth = 0;
    dropzone.classList.remove("is-dragging");
    addFiles(event.dataTransfer.files);
  });
  document.addEventListener("paste", (event) => {
    const files = Array.from(event.clipboardData ? event.clipboardData.files : []);
    if (files.length) {
      event.preventDefault();
      addFiles(files);
    }
  });
})();
