// Vividness on a result card, for a model with a colour distribution (GET /api/model: "vividness"): a slider
// from muted (0, the distribution's mean) to vivid (1); letting go of it colours the photo again at that
// vividness without uploading it anew (POST /api/colorize with `vividness`). Colour points answer through the
// hint decoder, which vividness does not change, so the slider rests while a result has points.
(function () {
  "use strict";

  function attach(card, recolour) {
    const tools = card.el.querySelector(".vivid-tools");
    const range = card.el.querySelector(".vivid-range");
    const value = card.el.querySelector(".vivid-value");
    let working = false;
    let pending = null;  // a value let go of while the last one was being coloured: sent when it is done
    let sent = null;
    const show = () => { value.textContent = Number(range.value).toFixed(2); };
    const send = () => {
      if (working) { pending = range.value; return; }
      working = true;
      sent = range.value;
      tools.setAttribute("aria-busy", "true");
      recolour(range.value);
    };
    range.addEventListener("input", show);
    range.addEventListener("change", send);
    card.vivid = {
      /** After a result: `answered` is the vividness it came with ("" for a model without a distribution);
       *  `points` how many colour points it used. */
      ready(answered, points) {
        tools.hidden = answered === "";
        if (answered !== "" && pending === null) {
          range.value = answered;
          show();
        }
        range.disabled = points > 0;
        range.title = points > 0 ? "Vividness sets the automatic colours; remove the points to use it." : "";
      },
      /** A re-colour has ended (answered or failed): send the value let go of meanwhile, if any. */
      done() {
        working = false;
        tools.removeAttribute("aria-busy");
        const later = pending;
        pending = null;
        if (later !== null && later !== sent) send();
      },
    };
  }

  window.ColorizeVivid = { attach };
})();
