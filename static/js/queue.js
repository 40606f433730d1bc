// The queue for a folder or many photos: one row per photo with its state, "n of N" progress, cancel, retry
// of the failed ones and "download all" as one ZIP. Results stay Blobs: a row shows a small thumbnail and a
// link, never the full-size image, so hundreds of photos do not fill the page or the memory.
(function () {
  "use strict";

  const THUMB = 96;  // px: a 48 px thumbnail on a 2x screen
  const PHOTO_EXTENSIONS = /\.(jpe?g|png|webp|gif|bmp|tiff?|avif)$/i;
  const STATES = { waiting: "Waiting", working: "Colorizing…", done: "Done", cancelled: "Cancelled" };

  /** A file worth sending from a folder: an image by type or extension, and not hidden (macOS "._x.jpg"
   *  metadata files carry a photo's extension but no photo). */
  function isPhoto(file) {
    return !file.name.startsWith(".") && (file.type.startsWith("image/") || PHOTO_EXTENSIONS.test(file.name));
  }

  /** The dropped items as file system entries: they must be taken during the drop event, then they are gone. */
  function entriesOf(dataTransfer) {
    return Array.from(dataTransfer.items || [])
      .filter((item) => item.kind === "file" && typeof item.webkitGetAsEntry === "function")
      .map((item) => item.webkitGetAsEntry())
      .filter(Boolean);
  }

  /** Every file under the entries, folders read recursively: {files: [{file, path}], unreadable}. */
  async function filesFromEntries(entries) {
    const files = [];
    let unreadable = 0;
    async function walk(entry) {
      if (entry.isFile) {
        try {
          const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
          files.push({ file, path: entry.fullPath.replace(/^\/+/, "") || file.name });
        } catch (e) {
          unreadable += 1;
        }
      } else if (entry.isDirectory) {
        const reader = entry.createReader();
        // readEntries answers in batches (100 at a time in Chrome) until it answers an empty one.
        for (;;) {
          let batch = [];
          try {
            batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
          } catch (e) {
            unreadable += 1;
          }
          if (!batch.length) break;
          for (const child of batch) await walk(child);
        }
      }
    }
    for (const entry of entries) await walk(entry);
    return { files, unreadable };
  }

  /** The queue in `root`. `colorize(file, {signal, onStart})` sends one photo when a slot is free and resolves
   *  {blob, name} or rejects with an Error (`retryable`, `aborted`). */
  function create(root, colorize, { afterClear } = {}) {
    const list = root.querySelector(".queue-list");
    const rowTemplate = root.querySelector("template");
    const summary = root.querySelector(".queue-summary");
    const progress = root.querySelector(".queue-progress");
    const note = root.querySelector(".queue-note");
    const buttons = {};
    for (const name of ["cancel", "retry", "download", "clear"]) buttons[name] = root.querySelector(`.queue-${name}`);
    const canvas = document.createElement("canvas");
    canvas.width = canvas.height = THUMB;
    let items = [];
    let skipped = 0;
    let controller = new AbortController();
    let zipUrl = null;

    function setItem(item, state, message) {
      item.state = state;
      item.row.dataset.state = state;
      item.stateText.textContent = message || STATES[state];
    }

    function makeItem({ file, path }) {
      const row = rowTemplate.content.firstElementChild.cloneNode(true);
      const slash = path.lastIndexOf("/");
      row.querySelector(".queue-name").textContent = path.slice(slash + 1);
      row.querySelector(".queue-folder").textContent = slash > 0 ? path.slice(0, slash) : "";
      row.title = path;
      return { file, path, row, stateText: row.querySelector(".queue-state"),
               thumb: row.querySelector(".queue-thumb img"), link: row.querySelector(".queue-link") };
    }

    async function start(item) {
      const attempt = {};  // a later retry, cancel or clear makes this one stale: its answer is then ignored
      item.attempt = attempt;
      setItem(item, "waiting");
      try {
        const result = await colorize(item.file, {
          signal: controller.signal,
          onStart: () => { if (item.attempt === attempt) { setItem(item, "working"); render(); } },
        });
        const crc = await ColorizeZip.crc32(result.blob);  // once, now, so "download all" only joins Blobs
        if (item.attempt !== attempt) return;
        Object.assign(item, { blob: result.blob, crc, name: result.name, url: URL.createObjectURL(result.blob) });
        item.link.href = item.url;
        item.link.download = result.name;
        item.link.setAttribute("aria-label", `Download ${result.name}`);
        item.link.hidden = false;
        setItem(item, "done");
        thumbnail(item);
      } catch (error) {
        if (item.attempt !== attempt) return;
        if (error.aborted) {
          setItem(item, "cancelled");
        } else {
          item.retryable = Boolean(error.retryable);
          setItem(item, "failed", error.message);
        }
      }
      render();
    }

    async function thumbnail(item) {
      try {
        const bitmap = await createImageBitmap(item.blob);
        const side = Math.min(bitmap.width, bitmap.height);
        const context = canvas.getContext("2d");
        context.drawImage(bitmap, (bitmap.width - side) / 2, (bitmap.height - side) / 2, side, side, 0, 0, THUMB, THUMB);
        item.stateText.textContent = `Done · ${bitmap.width} × ${bitmap.height}`;
        bitmap.close();
        const small = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.8));
        if (!small || item.dropped) return;
        item.thumbUrl = URL.createObjectURL(small);
        item.thumb.src = item.thumbUrl;
        item.thumb.hidden = false;
      } catch (e) { /* a result the browser cannot draw is still downloadable: only its thumbnail is missing */ }
    }

    const retryable = (item) => item.state === "cancelled" || (item.state === "failed" && item.retryable);

    function render() {
      const count = { waiting: 0, working: 0, done: 0, failed: 0, cancelled: 0 };
      items.forEach((item) => { count[item.state] += 1; });
      const active = count.waiting + count.working > 0;
      const parts = [`${count.done} of ${items.length} done`];
      if (count.failed) parts.push(`${count.failed} failed`);
      if (count.cancelled) parts.push(`${count.cancelled} cancelled`);
      if (skipped) parts.push(`${skipped} skipped (not photos)`);
      summary.textContent = parts.join(" · ");
      progress.max = Math.max(1, items.length);
      progress.value = count.done + count.failed;
      root.dataset.active = active;
      // The button under the keyboard focus may be about to hide: the focus then moves to the next thing to do.
      const focused = Object.values(buttons).find((button) => button === document.activeElement);
      const again = items.filter(retryable).length;
      buttons.cancel.hidden = !active;
      buttons.clear.hidden = active;
      buttons.retry.hidden = !again;
      buttons.retry.textContent = count.cancelled ? `Resume (${again})` : `Retry failed (${again})`;
      buttons.download.hidden = !count.done;
      buttons.download.textContent = `Download all (${count.done})`;
      if (focused && focused.hidden) [buttons.download, buttons.retry, buttons.cancel, buttons.clear].find((b) => !b.hidden).focus();
    }

    function add(photos, skippedFiles = 0) {
      const added = photos.map(makeItem);
      list.append(...added.map((item) => item.row));
      items = items.concat(added);
      skipped += skippedFiles;
      note.hidden = true;
      root.hidden = false;
      added.forEach(start);
      render();
      root.scrollIntoView({ behavior: "smooth", block: "nearest" });
    }

    function cancel() {
      controller.abort();  // in flight: aborted; waiting: refused before they are sent
      controller = new AbortController();
      items.filter((item) => item.state === "waiting" || item.state === "working").forEach((item) => {
        item.attempt = null;
        setItem(item, "cancelled");
      });
      render();
    }

    /** "folder/sub/photo-colorized.jpg": the photo's own folders and the name the server gave the result. */
    function zipEntries() {
      const taken = new Set();
      return items.filter((item) => item.state === "done").map((item) => {
        const folder = item.path.slice(0, item.path.lastIndexOf("/") + 1);
        return { path: ColorizeZip.uniquePath(ColorizeZip.safePath(folder + item.name), taken),
                 blob: item.blob, crc: item.crc };
      });
    }

    function zipName() {
      const tops = new Set(items.map((item) => (item.path.includes("/") ? item.path.split("/")[0] : "")));
      const [top] = tops;
      return tops.size === 1 && top ? `${ColorizeZip.safePath(top)}-colorized.zip` : "colorized.zip";
    }

    function downloadAll() {
      let zip;
      try {
        zip = ColorizeZip.buildZip(zipEntries());
      } catch (error) {
        note.textContent = error.message;
        note.hidden = false;
        return;
      }
      if (zipUrl) URL.revokeObjectURL(zipUrl);
      zipUrl = URL.createObjectURL(zip);
      const link = document.createElement("a");
      link.href = zipUrl;
      link.download = zipName();
      document.body.append(link);
      link.click();
      link.remove();
    }

    function clear() {
      cancel();
      items.forEach((item) => {
        item.dropped = true;
        if (item.url) URL.revokeObjectURL(item.url);
        if (item.thumbUrl) URL.revokeObjectURL(item.thumbUrl);
      });
      if (zipUrl) URL.revokeObjectURL(zipUrl);
      zipUrl = null;
      items = [];
      skipped = 0;
      list.textContent = "";
      root.hidden = true;
      if (afterClear) afterClear();
    }

    buttons.cancel.addEventListener("click", cancel);
    buttons.retry.addEventListener("click", () => { items.filter(retryable).forEach(start); render(); });
    buttons.download.addEventListener("click", downloadAll);
    buttons.clear.addEventListener("click", clear);
    return { add };
  }

  window.ColorizeQueue = { create, isPhoto, entriesOf, filesFromEntries };
})();
