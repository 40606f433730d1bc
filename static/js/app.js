// The upload page, enhanced: pick, drop or paste photos; each one becomes a card that uploads to
// /api/colorize, shows progress, then a before/after slider and a download button. A folder, or many photos
// at once, goes to the queue instead (queue.js); a video gets a row of its own (videos.js). Without this script
// the same form posts to /colorize and the server answers a result page.
(function () {
  "use strict";

  const MAX_PARALLEL = 2;  // the service is CPU-bound: more requests at once only wait there
  const QUEUE_FROM = 10;  // this many photos, or a folder of more than one, go to the queue instead of cards
  const form = document.getElementById("upload-form");
  if (!form) return;

  const input = document.getElementById("image-input");
  const dropzone = document.getElementById("dropzone");
  const gallery = document.getElementById("gallery");
  const template = document.getElementById("card-template");
  const inlineError = document.getElementById("inline-error");
  const folderInput = document.getElementById("folder-input");
  // Absent when the model service serves one model (or could not be asked): the service's default applies.
  const modelSelect = form.querySelector('select[name="model"]');
  const apiUrl = form.dataset.api;
  // The models that take colour hints (their result cards get "Fix colours").
  const hintModels = (form.dataset.hintModels || "").split(",").filter(Boolean);
  // The models with a colour distribution, each with its default vividness (their result cards get a slider).
  const vividModels = JSON.parse(form.dataset.vividnessModels || "{}");
  const maxBytes = Number(form.dataset.maxBytes);
  // One limit for the whole page: the cards and the queue share the service's slots.
  const slots = { free: MAX_PARALLEL, waiting: [] };

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
    ColorizeHints.attach(card, (hints) => recolour(card, hints));
    ColorizeVivid.attach(card, (vividness) => recolour(card, [], vividness));
    return card;
  }

  function fail(card, error) {
    setState(card, "error", error.message);
    card.retry.hidden = !error.retryable;
    card.download.hidden = true;
  }

  function failure(message, retryable = false, aborted = false) {
    return Object.assign(new Error(message), { retryable, aborted });
  }

  /** Why a file is refused before it is sent, or "". */
  function localProblem(file) {
    if (file.type && !file.type.startsWith("image/")) {
      return "That file is not an image. Please choose a JPEG, PNG, WebP or TIFF photo.";
    }
    if (file.size > maxBytes) {
      return `That file is too large (${formatBytes(file.size)}). Photos up to ${formatBytes(maxBytes)} are accepted.`;
    }
    return "";
  }

  function currentOptions() {
    return { render_size: option("render_size"), format: option("format"), model: modelSelect ? modelSelect.value : "" };
  }

  /** Run `task` (it returns a promise) once fewer than MAX_PARALLEL tasks run. */
  function inSlot(task) {
    return new Promise((resolve, reject) => {
      slots.waiting.push(() => task().then(resolve, reject).finally(() => { slots.free += 1; nextSlot(); }));
      nextSlot();
    });
  }

  function nextSlot() {
    while (slots.free > 0 && slots.waiting.length) {
      slots.free -= 1;
      slots.waiting.shift()();
    }
  }

  /** One photo to /api/colorize once a slot is free. Resolves {blob, name, model, ms}; rejects with an Error
   *  carrying the server's message, `retryable` when another try may work, `aborted` when `signal` fired. */
  function send(file, { signal, onStart, onProgress, hints, options: given } = {}) {
    const problem = localProblem(file);
    if (problem) return Promise.reject(failure(problem));
    const options = given || currentOptions();
    return inSlot(() => new Promise((resolve, reject) => {
      if (signal && signal.aborted) { reject(failure("Cancelled.", true, true)); return; }
      const body = new FormData();
      body.append("image", file, file.name || "pasted.png");
      body.append("render_size", options.render_size);
      body.append("format", options.format);
      if (options.model) body.append("model", options.model);
      if (hints && hints.length) body.append("hints", JSON.stringify(hints));
      if (options.vividness) body.append("vividness", options.vividness);
      const xhr = new XMLHttpRequest();
      const abort = () => xhr.abort();
      if (signal) signal.addEventListener("abort", abort, { once: true });
      const settle = (then, value) => {
        if (signal) signal.removeEventListener("abort", abort);
        then(value);
      };
      xhr.open("POST", apiUrl);
      xhr.responseType = "blob";
      xhr.timeout = 180000;
      if (onProgress) xhr.upload.addEventListener("progress", onProgress);
      xhr.addEventListener("load", async () => {
        if (xhr.status !== 200) {
          // The same file would be refused again; a timeout, a busy server or a 5xx is worth a retry.
          const refused = xhr.status >= 400 && xhr.status < 500 && xhr.status !== 408 && xhr.status !== 429;
          settle(reject, failure(await errorMessage(xhr), !refused));
          return;
        }
        settle(resolve, {
          blob: xhr.response,
          name: filenameFrom(xhr.getResponseHeader("Content-Disposition"), "colorized.png"),
          model: xhr.getResponseHeader("X-Model-Name") || "",
          ms: Number(xhr.getResponseHeader("X-Inference-Time-Ms")),
          hints: Number(xhr.getResponseHeader("X-Hints")) || 0,
          vividness: xhr.getResponseHeader("X-Vividness") || "",
        });
      });
      xhr.addEventListener("abort", () => settle(reject, failure("Cancelled.", true, true)));
      xhr.addEventListener("error", () => settle(reject, failure("Could not reach the server. Check your connection and try again.", true)));
      xhr.addEventListener("timeout", () => settle(reject, failure("This is taking too long. Try a faster detail setting.", true)));
      if (onStart) onStart(xhr);
      xhr.send(body);
    }));
  }

  async function enqueue(card) {
    card.retry.hidden = true;
    setState(card, "queued", "Waiting…");
    card.options = currentOptions();  // "Colour again" keeps them, whatever the form says by then
    try {
      const result = await send(card.file, {
        options: card.options,
        onStart: (xhr) => {
          setState(card, "uploading", "Uploading…");
          xhr.upload.addEventListener("load", () => setState(card, "working", "Colorizing…"));
        },
        onProgress: (event) => {
          if (!event.lengthComputable) return;
          const percent = Math.round((100 * event.loaded) / event.total);
          card.bar.style.width = `${percent}%`;
          card.status.textContent = `Uploading… ${percent}%`;
        },
      });
      await show(card, result);
    } catch (error) {
      fail(card, error);
    }
  }

  async function show(card, result) {
    if (card.resultUrl) URL.revokeObjectURL(card.resultUrl);
    card.resultUrl = URL.createObjectURL(result.blob);
    card.after.src = card.resultUrl;
    try { await card.after.decode(); } catch (e) { /* shown anyway */ }
    const ext = result.name.split(".").pop().toUpperCase().replace("JPG", "JPEG");
    card.download.href = card.resultUrl;
    card.download.download = result.name;
    card.download.textContent = `Download ${ext}`;
    card.download.hidden = false;
    const size = `${card.before.naturalWidth} × ${card.before.naturalHeight}`;
    const took = result.ms ? ` in ${formatDuration(result.ms)}` : "";
    card.el.dataset.model = result.model;
    card.range.value = 50;
    card.compare.style.setProperty("--pos", "50%");
    const points = result.hints ? ` · ${result.hints} colour point${result.hints > 1 ? "s" : ""}` : "";
    setState(card, "done", `${size} · colorized${result.model ? ` by ${result.model}` : ""}${took}${points}`);
    card.compare.title = "Drag to compare";
    card.hints.ready(hintModels.includes(result.model));
    card.vivid.ready(result.model in vividModels ? result.vividness : "", result.hints);
  }

  /** The card's photo sent again with its colour points, or at another vividness; the card keeps its old
   *  result until the new one comes. */
  async function recolour(card, hints, vividness = "") {
    card.hints.busy(true, vividness ? `Colouring at vividness ${Number(vividness).toFixed(2)}…` : "Colouring with your points…");
    try {
      const options = { ...card.options, model: card.el.dataset.model, vividness };
      const result = await send(card.file, { hints, options });
      await show(card, result);
      card.hints.busy(false, vividness ? "" : `Coloured again with ${hints.length} point${hints.length === 1 ? "" : "s"}.`);
    } catch (error) {
      card.hints.busy(false, error.message);
      if (vividness) setState(card, "done", error.message);
    } finally {
      if (vividness) card.vivid.done();
    }
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

  const queue = ColorizeQueue.create(document.getElementById("queue"), send,
                                     { afterClear: () => folderInput.focus() });

  /** Photos given as {file, path}: one, or a few picked together, become cards; a folder of several, or
   *  QUEUE_FROM and more, the queue. A folder keeps only its photos. */
  function addPhotos(given, fromFolder = false, unreadable = 0) {
    const photos = fromFolder ? given.filter(({ file }) => ColorizeQueue.isPhoto(file)) : given;
    if (!photos.length) {
      showInlineError(fromFolder ? "No photos found in that folder (JPEG, PNG, WebP, GIF, BMP, TIFF or AVIF)."
        : "No image found. Choose, drop or paste a photo.");
      return;
    }
    showInlineError("");
    if (photos.length >= QUEUE_FROM || (fromFolder && photos.length > 1)) {
      photos.sort((a, b) => a.path.localeCompare(b.path, undefined, { numeric: true }));
      queue.add(photos, given.length - photos.length + unreadable);
    } else {
      addCards(photos.map(({ file }) => file));
    }
  }

  const videos = ColorizeVideos.create(document.getElementById("videos"), form,
                                       () => ({ ...currentOptions(), stabilize: option("stabilize") }));

  function addFiles(files) {
    const given = Array.from(files || []).filter((f) => f && f.size !== undefined);
    const photos = videos.take(given);  // the videos get rows of their own; the rest are photos
    if (photos.length < given.length) showInlineError("");
    if (photos.length || !given.length) addPhotos(photos.map((file) => ({ file, path: file.name })));
  }

  function addCards(files) {
    const cards = files.map((file) => makeCard(file));
    const batch = document.createDocumentFragment();
    cards.forEach((card) => batch.append(card.el));
    gallery.prepend(batch);  // newest batch first, in the order the files were given
    cards.forEach(enqueue);
    cards[0].el.scrollIntoView({ behavior: "smooth", block: "nearest" });
  }

  ColorizeDrop.watch({ form, input, folderInput, dropzone, addFiles, addPhotos });
})();
