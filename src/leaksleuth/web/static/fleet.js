// Fleet page: filter/sort without a reload, and the rows again after every watch round (SSE /events).
// The rows come from the server already escaped (/fleet/rows): this script never builds HTML from data.
(function () {
  "use strict";
  const fleet = document.getElementById("fleet");
  const live = document.getElementById("live");
  const form = document.getElementById("filter");
  function query() { return new URLSearchParams(new FormData(form)).toString(); }
  let pending = null;
  // A press on the table holds the rows still: swapping them between a link's mousedown and mouseup would lose
  // the click (the browser fires it on no link at all). The newest rows wait for the release, then the click.
  let pressed = false;
  let held = null;
  function swap(html) {
    if (pressed) { held = html; return; }
    fleet.innerHTML = html;
  }
  function release() {
    pressed = false;
    if (held === null) { return; }
    const html = held;
    held = null;
    setTimeout(function () { swap(html); }, 0);  // after this press's click has been dispatched
  }
  fleet.addEventListener("pointerdown", function () { pressed = true; });
  document.addEventListener("pointerup", release);
  document.addEventListener("pointercancel", release);
  async function refresh() {
    const response = await fetch("/fleet/rows?" + query(), { credentials: "same-origin" });
    if (response.ok) { swap(await response.text()); }
  }
  function soon() { clearTimeout(pending); pending = setTimeout(refresh, 200); }
  form.addEventListener("input", soon);
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    history.replaceState(null, "", "/?" + query());
    refresh();
  });
  if (!window.EventSource || live.textContent.indexOf("not watching") >= 0) { return; }
  const events = new EventSource("/events");
  events.addEventListener("open", function () { live.classList.remove("off"); });
  events.addEventListener("error", function () { live.classList.add("off"); });
  events.addEventListener("round", function (message) {
    const round = JSON.parse(message.data);
    live.textContent = "round " + round.round + " at " + round.time.slice(11, 19) + "Z";
    live.dataset.round = String(round.round);
    refresh();
  });
})();
