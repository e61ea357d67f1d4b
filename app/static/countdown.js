// A scheduled campaign says how long until it starts by itself ("in 2 min 5 s",
// rendered by the server, formatting.countdown); count it down each second, in
// the same words. At zero it says "any moment now" until the scheduler's start
// reaches the page, which then reloads its block and the countdown goes.
// An age ("12 s ago", data-since: the Operations page's heartbeats) counts up.
(function () {
  function duration(seconds) {
    if (seconds < 60) return seconds + " s";
    var minutes = Math.floor(seconds / 60);
    if (minutes < 60) return minutes + " min " + (seconds % 60) + " s";
    return Math.floor(minutes / 60) + " h " + (minutes % 60) + " min";
  }
  function tick() {
    var now = Date.now() / 1000;
    document.querySelectorAll("[data-countdown]").forEach(function (element) {
      var left = Math.round(Number(element.dataset.countdown) - now);
      var text = left >= 1 ? "in " + duration(left) : "any moment now";
      if (element.textContent !== text) element.textContent = text;
    });
    document.querySelectorAll("[data-since]").forEach(function (element) {
      var text = duration(Math.max(0, Math.round(now - Number(element.dataset.since)))) + " ago";
      if (element.textContent !== text) element.textContent = text;
    });
  }
  document.addEventListener("DOMContentLoaded", tick);
  document.addEventListener("htmx:afterSettle", tick);
  setInterval(tick, 1000);
})();
