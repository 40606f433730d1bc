// Videos on the upload page: each one becomes a row that uploads to /api/videos, then follows its job (frames
// done of the total, the time left) by asking for it about once a second; when it is done, the grey original
// (the browser's own file) and the coloured result play side by side, kept in step, with a download link.
(function () {
  "use strict";

  const POLL_MS = 1000;
  const POLL_FAILURES = 30;  // answers missed in a row (a restarting server) before the row gives up
  const VIDEO_EXTENSIONS = /\.(mp4|m4v|mov|qt|mkv|webm|avi|mpe?g|mpg|ogv|3gp|wmv|flv|ts|mts|m2ts|dv|mxf)$/i;
  const IN_STEP_S = 0.25;  // the original is moved to the result's time when they drift further apart

  /** A file to send as a video: by its type, or by its extension where the browser gives no type. */
  function isVideo(file) {
    return (file.type || "").startsWith("video/") || (!file.type && VIDEO_EXTENSIONS.test(file.name || ""));
  }

  function formatBytes(n) {
    if (n >= 2 ** 30 && n % 2 ** 30 === 0) return `${n / 2 ** 30} GiB`;  // the service's bound, as the page says it
    return n >= 1e9 ? `${(n / 1e9).toFixed(1)} GB` : n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : `${Math.max(1, Math.round(n / 1e3))} kB`;
  }

  /** "about 40 s left", "about 3 min 10 s left", "about 1 h 5 min left". */
  function formatEta(seconds) {
    if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "estimating the time left";
    const s = Math.max(1, Math.round(seconds));
    if (s < 60) return `about ${s} s left`;
    if (s < 3600) return `about ${Math.floor(s / 60)} min ${s % 60} s left`;
    return `about ${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min left`;
  }

  function downloadName(name) {
    const stem = (name || "video").replace(/^.*[\\/]/, "").replace(/\.[^.]*$/, "") || "video";
    return `${stem}-colorized.mp4`;
  }

  async function messageOf(response, fallback) {
    try {
      const data = await response.json();
      if (data && data.error && data.error.message) return data.error.message;
    } catch (e) { /* not JSON */ }
    return fallback;
  }

  /** Play, pause, seek and speed of either player move the other; the coloured one (it has the sound) keeps
   *  the time while they play. */
  function keepInStep(before, after) {
    const follow = (source, other) => {
      source.addEventListener("play", () => { if (other.paused) other.play().catch(() => {}); });
      source.addEventListener("pause", () => { if (!other.paused) other.pause(); });
      source.addEventListener("seeking", () => {
        if (Math.abs(other.currentTime - source.currentTime) > 0.05) other.currentTime = source.currentTime;
      });
      source.addEventListener("ratechange", () => { other.playbackRate = source.playbackRate; });
    };
    follow(before, after);
    follow(after, before);
    after.addEventListener("timeupdate", () => {
      if (!after.paused && Math.abs(before.currentTime - after.currentTime) > IN_STEP_S) before.currentTime = after.currentTime;
    });
  }

  /** The rows in `root`, for the upload `form` (its data-videos-api, data-max-video-bytes); `options()` gives
   *  the form's {render_size, model, stabilize} when a video is added. */
  function create(root, form, options) {
    const api = form.dataset.videosApi;
    const maxBytes = Number(form.dataset.maxVideoBytes);
    const list = root.querySelector(".video-list");
    const template = root.querySelector("template");

    function setState(row, state, text) {
      row.state = state;
      row.el.dataset.state = state;
      row.status.textContent = text;
      row.cancel.hidden = !["uploading", "queued", "running"].includes(state);
    }

    function fail(row, message) {
      clearTimeout(row.timer);
      setState(row, "failed", message);
    }

    function makeRow(file) {
      const el = template.content.firstElementChild.cloneNode(true);
      const row = {
        el, file,
        status: el.querySelector(".video-state"),
        meta: el.querySelector(".video-meta"),
        bar: el.querySelector(".video-progress"),
        cancel: el.querySelector(".video-cancel"),
        download: el.querySelector(".video-download"),
        players: el.querySelector(".video-players"),
        before: el.querySelector(".video-before"),
        after: el.querySelector(".video-after"),
        note: el.querySelector(".video-note"),
        misses: 0,
      };
      el.querySelector(".video-name").textContent = file.name || "Video";
      el.title = file.name || "";
      row.meta.textContent = formatBytes(file.size);
      row.cancel.addEventListener("click", () => cancel(row));
      return row;
    }

    function upload(row) {
      const chosen = options();
      const body = new FormData();
      body.append("video", row.file, row.file.name || "video.mp4");
      for (const name of ["render_size", "model", "stabilize"]) if (chosen[name]) body.append(name, chosen[name]);
      const xhr = new XMLHttpRequest();
      row.xhr = xhr;
      xhr.open("POST", api);
      xhr.responseType = "json";
      xhr.upload.addEventListener("progress", (event) => {
        if (!event.lengthComputable || row.state !== "uploading") return;
        row.bar.max = event.total;
        row.bar.value = event.loaded;
        row.status.textContent = `Uploading… ${Math.round((100 * event.loaded) / event.total)}%`;
      });
      // Sent: the web app hands it to the model service, which checks it before it answers.
      xhr.upload.addEventListener("load", () => { if (row.state === "uploading") row.status.textContent = "Checking the video…"; });
      xhr.addEventListener("load", () => {
        row.xhr = null;
        const data = xhr.response || {};
        if (xhr.status !== 202 || !data.url) {
          const message = data.error && data.error.message;
          fail(row, message || `The upload did not work (HTTP ${xhr.status}).`);
          return;
        }
        row.job = data;
        if (data.video && data.video.width && data.video.height) {
          row.el.style.setProperty("--aspect", (data.video.width / data.video.height).toFixed(4));
          row.meta.textContent = `${formatBytes(row.file.size)} · ${data.video.width} × ${data.video.height}` +
            (data.frames_total ? ` · ${data.frames_total} frames` : "");
        }
        show(row, data);
        row.timer = setTimeout(() => poll(row), POLL_MS);
      });
      xhr.addEventListener("error", () => { row.xhr = null; fail(row, "Could not reach the server. Check your connection and try again."); });
      xhr.addEventListener("abort", () => { row.xhr = null; });
      setState(row, "uploading", "Uploading…");
      xhr.send(body);
    }

    async function poll(row) {
      if (!["queued", "running"].includes(row.state)) return;
      let response;
      try {
        response = await fetch(row.job.url, { cache: "no-store" });
      } catch (e) {
        response = null;
      }
      if (!["queued", "running"].includes(row.state)) return;  // cancelled meanwhile
      if (response && response.ok) {
        row.misses = 0;
        show(row, await response.json());
      } else if (response && response.status === 404) {
        fail(row, "This video's job is gone: it expired or was removed. Please send the video again.");
        return;
      } else if (++row.misses >= POLL_FAILURES) {
        fail(row, response ? await messageOf(response, "The server stopped answering about this video.")
          : "Lost touch with the server. Check your connection and send the video again.");
        return;
      }
      if (["queued", "running"].includes(row.state)) row.timer = setTimeout(() => poll(row), POLL_MS);
    }

    function show(row, job) {
      const total = job.frames_total || 0;
      const done = job.frames_done || 0;
      row.bar.max = Math.max(1, total);
      row.bar.value = Math.min(done, total);
      if (job.state === "queued") {
        setState(row, "queued", "Waiting for its turn…");
      } else if (job.state === "running") {
        const frames = total ? `${done} of ${total} frames` : `${done} frames`;
        setState(row, "running", `Colorizing · ${frames} · ${formatEta(job.eta_s)}`);
      } else if (job.state === "done") {
        finish(row, job);
      } else if (job.state === "failed") {
        fail(row, (job.error && job.error.message) || "The video could not be colorized.");
      }
    }

    function finish(row, job) {
      clearTimeout(row.timer);
      const resultUrl = job.result_url || `${row.job.url}/result`;
      row.bar.value = row.bar.max;
      row.download.href = resultUrl;
      row.download.download = downloadName(row.file.name);
      row.download.hidden = false;
      row.before.src = URL.createObjectURL(row.file);
      row.after.addEventListener("error", () => {
        row.note.textContent = "This browser cannot play the colorized video here: download it to watch it.";
        row.note.hidden = false;
        row.el.dataset.playable = "no";
      }, { once: true });
      row.after.src = resultUrl;
      keepInStep(row.before, row.after);
      row.players.hidden = false;
      const audio = { copied: " · sound kept", encoded: " · sound kept" }[job.audio] || "";
      setState(row, "done", `Done · ${job.frames_total || job.frames_done} frames colorized${audio}`);
    }

    async function cancel(row) {
      clearTimeout(row.timer);
      const wasUploading = row.state === "uploading";
      setState(row, "cancelled", "Cancelled");
      if (wasUploading && row.xhr) {
        row.xhr.abort();
        return;
      }
      if (!row.job) return;
      try {
        const response = await fetch(row.job.url, { method: "DELETE" });
        if (!response.ok && response.status !== 404) {
          setState(row, "cancelled", `Cancelled here; the server said: ${await messageOf(response, `HTTP ${response.status}`)}`);
        }
      } catch (e) {
        setState(row, "cancelled", "Cancelled here, but the server could not be told.");
      }
    }

    function add(files) {
      const rows = files.map(makeRow);
      list.prepend(...rows.map((row) => row.el));
      root.hidden = false;
      rows.forEach((row) => {
        if (row.file.size > maxBytes) {
          fail(row, `That video is too large (${formatBytes(row.file.size)}). Videos up to ${formatBytes(maxBytes)} are accepted.`);
        } else {
          upload(row);
        }
      });
      rows[0].el.scrollIntoView({ behavior: "smooth", block: "nearest" });
    }

    /** The videos among `files` get rows; the others are answered, for the photo cards. */
    function take(files) {
      const films = files.filter(isVideo);
      if (films.length) add(films);
      return files.filter((file) => !isVideo(file));
    }

    return { add, take };
  }

  window.ColorizeVideos = { create, isVideo, formatEta };
})();
