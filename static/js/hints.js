// Colour points on a result card: click the colorized photo to say "this is this colour", move or remove
// the points, and colour the photo again with them (POST /api/colorize with `hints`). Each point is a
// button over the photo (arrow keys move it, Delete removes it) and a row with a colour picker that starts
// at the colour the model gave that spot. Points are kept in the photo's own pixels, as the API takes them.
(function () {
  "use strict";

  const MAX_POINTS = 64;  // the service's limit
  let ids = 0;

  function hex(r, g, b) {
    return "#" + [r, g, b].map((v) => Math.round(v).toString(16).padStart(2, "0")).join("");
  }

  /** The mean colour of a 5 x 5 patch of `img` around (x, y), in its own pixels. */
  function colourAt(img, x, y) {
    try {
      const canvas = document.createElement("canvas");
      canvas.width = canvas.height = 5;
      const ctx = canvas.getContext("2d", { willReadFrequently: true });
      ctx.drawImage(img, x - 2, y - 2, 5, 5, 0, 0, 5, 5);
      const data = ctx.getImageData(0, 0, 5, 5).data;
      const sum = [0, 0, 0];
      let n = 0;
      for (let i = 0; i < data.length; i += 4) {
        if (!data[i + 3]) continue;
        sum[0] += data[i]; sum[1] += data[i + 1]; sum[2] += data[i + 2]; n += 1;
      }
      return n ? hex(sum[0] / n, sum[1] / n, sum[2] / n) : "#808080";
    } catch (e) {
      return "#808080";
    }
  }

  function attach(card, recolour) {
    const el = card.el;
    const toggle = el.querySelector(".hint-toggle");
    const tools = el.querySelector(".hint-tools");
    const list = el.querySelector(".hint-list");
    const add = el.querySelector(".hint-add");
    const clear = el.querySelector(".hint-clear");
    const apply = el.querySelector(".hint-apply");
    const status = el.querySelector(".hint-status");
    const img = card.after;
    const points = [];
    let working = false;

    /** Where the photo is drawn inside the compare box (object-fit: contain). */
    function frame() {
      const box = card.compare.getBoundingClientRect();
      const nw = img.naturalWidth, nh = img.naturalHeight;
      const scale = Math.min(box.width / nw, box.height / nh);
      const w = nw * scale, h = nh * scale;
      return { box, nw, nh, left: (box.width - w) / 2, top: (box.height - h) / 2, w, h };
    }

    function place(point) {
      const f = frame();
      point.dot.style.left = `${((f.left + ((point.x + 0.5) / f.nw) * f.w) / f.box.width) * 100}%`;
      point.dot.style.top = `${((f.top + ((point.y + 0.5) / f.nh) * f.h) / f.box.height) * 100}%`;
      point.dot.style.setProperty("--hint", point.color);
      const label = `Colour point ${points.indexOf(point) + 1} at ${point.x}, ${point.y}: ${point.color}`;
      point.dot.setAttribute("aria-label", label);
      point.dot.title = label;
    }

    function refresh() {
      points.forEach((point, i) => {
        place(point);
        point.name.textContent = `Point ${i + 1}`;
        point.del.setAttribute("aria-label", `Remove point ${i + 1}`);
        point.where.textContent = `${point.x}, ${point.y}`;
      });
      add.disabled = working || points.length >= MAX_POINTS;
      clear.disabled = working || !points.length;
      apply.disabled = working || !points.length;
    }

    // Pixel i covers [i, i + 1): a position on the photo is the pixel it falls in.
    function clamp(point) {
      point.x = Math.max(0, Math.min(img.naturalWidth - 1, Math.floor(point.x)));
      point.y = Math.max(0, Math.min(img.naturalHeight - 1, Math.floor(point.y)));
    }

    function remove(point, focusNext = true) {
      const i = points.indexOf(point);
      if (i < 0) return;
      points.splice(i, 1);
      point.dot.remove();
      point.row.remove();
      refresh();
      if (focusNext) (points[Math.min(i, points.length - 1)] || { dot: add }).dot.focus();
    }

    function addPoint(x, y) {
      if (points.length >= MAX_POINTS) {
        status.textContent = `At most ${MAX_POINTS} points.`;
        return null;
      }
      ids += 1;
      const point = { x, y, color: "#808080" };
      clamp(point);
      point.color = colourAt(img, point.x, point.y);
      const dot = document.createElement("button");
      dot.type = "button";
      dot.className = "hint-dot";
      const row = document.createElement("li");
      row.className = "hint-row";
      const picker = document.createElement("input");
      picker.type = "color";
      picker.id = `hint-colour-${ids}`;
      picker.value = point.color;
      const name = document.createElement("label");
      name.htmlFor = picker.id;
      const where = document.createElement("span");
      where.className = "hint-where";
      const del = document.createElement("button");
      del.type = "button";
      del.className = "button ghost hint-remove";
      del.textContent = "Remove";
      row.append(name, picker, where, del);
      Object.assign(point, { dot, row, picker, name, where, del });

      picker.addEventListener("input", () => { point.color = picker.value; place(point); });
      del.addEventListener("click", () => remove(point));
      dot.addEventListener("keydown", (event) => {
        const step = Math.max(1, Math.round((event.shiftKey ? 0.05 : 0.01) * Math.max(img.naturalWidth, img.naturalHeight)));
        const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
        if (moves[event.key]) {
          event.preventDefault();
          point.x += moves[event.key][0];
          point.y += moves[event.key][1];
          clamp(point);
          refresh();
        } else if (event.key === "Delete" || event.key === "Backspace") {
          event.preventDefault();
          remove(point);
        } else if (event.key === "Enter" || event.key === " ") {
          event.preventDefault();
          picker.focus();
          picker.click();
        }
      });
      dot.addEventListener("click", (event) => event.stopPropagation());
      dot.addEventListener("pointerdown", (event) => {
        event.preventDefault();
        event.stopPropagation();
        dot.setPointerCapture(event.pointerId);
        dot.focus();
        const move = (e) => {
          const f = frame();
          point.x = ((e.clientX - f.box.left - f.left) / f.w) * f.nw;
          point.y = ((e.clientY - f.box.top - f.top) / f.h) * f.nh;
          clamp(point);
          place(point);
        };
        const up = () => {
          dot.removeEventListener("pointermove", move);
          refresh();
        };
        dot.addEventListener("pointermove", move);
        dot.addEventListener("pointerup", up, { once: true });
        dot.addEventListener("pointercancel", up, { once: true });
      });
      card.compare.append(dot);
      list.append(row);
      points.push(point);
      refresh();
      return point;
    }

    function setOpen(open) {
      el.dataset.hinting = open ? "on" : "";
      toggle.setAttribute("aria-pressed", String(open));
      toggle.textContent = open ? "Done with colours" : "Fix colours";
      tools.hidden = !open;
      if (open) {
        card.range.value = 0;  // the colorized photo whole (the original is drawn over it up to --pos)
        card.compare.style.setProperty("--pos", "0%");
        refresh();
      }
    }

    toggle.addEventListener("click", () => setOpen(el.dataset.hinting !== "on"));
    card.compare.addEventListener("click", (event) => {
      if (el.dataset.hinting !== "on" || working || !img.naturalWidth) return;
      const f = frame();
      const x = ((event.clientX - f.box.left - f.left) / f.w) * f.nw;
      const y = ((event.clientY - f.box.top - f.top) / f.h) * f.nh;
      if (x < 0 || y < 0 || x >= f.nw || y >= f.nh) return;  // the letterbox around the photo
      const point = addPoint(x, y);
      if (point) point.picker.focus();
    });
    add.addEventListener("click", () => {
      const point = addPoint(img.naturalWidth / 2, img.naturalHeight / 2);
      if (point) point.dot.focus();
    });
    clear.addEventListener("click", () => {
      points.slice().forEach((point) => remove(point, false));
      add.focus();
    });
    apply.addEventListener("click", () => {
      if (points.length) recolour(points.map(({ x, y, color }) => ({ x, y, color })));
    });
    // The frame changes with the window and with the gallery's layout (a second card makes this one 4:3).
    new ResizeObserver(() => points.forEach(place)).observe(card.compare);

    card.hints = {
      /** A result is shown: offer the points when its model takes them. */
      ready(takesHints) {
        takesHints = takesHints && img.naturalWidth > 0;  // a result the browser cannot draw (TIFF) takes no points
        toggle.hidden = !takesHints;
        if (!takesHints) setOpen(false);
        else if (el.dataset.hinting === "on") setOpen(true);
        points.forEach(place);
      },
      busy(on, message) {
        working = on;
        status.textContent = message || "";
        el.dataset.hintBusy = on ? "on" : "";
        refresh();
        // "Colour again" was disabled while busy, which drops the keyboard focus to the page: give it back
        if (!on && document.activeElement === document.body) apply.focus();
      },
    };
  }

  window.ColorizeHints = { attach };
})();
