// Live updates carry badges for every recipient that changed, but a page shows
// only 100 of them. Drop the badges whose target is not on this page before
// htmx swaps, so it neither searches for them nor logs an error. Each badge is
// one line of the update (campaigns/_update.html), so this looks at lines and
// ids only: on a 100,000-recipient campaign an update can name thousands of
// recipients, and parsing them all into elements would keep the page busy.
(function () {
  var BADGE = /^<span id="(recipient-\d+-status)"/;

  htmx.defineExtension("live-prune", {
    transformResponse: function (text) {
      return text.split("\n").filter(function (line) {
        var badge = BADGE.exec(line);
        return !badge || document.getElementById(badge[1]) !== null;
      }).join("\n");
    },
  });
})();

// A recipient waiting for a retry shows "Retrying in 8 s"; count it down.
(function () {
  setInterval(function () {
    var now = Date.now() / 1000;
    document.querySelectorAll("[data-retry-at]").forEach(function (badge) {
      var left = Math.round(Number(badge.dataset.retryAt) - now);
      badge.textContent = left > 0 ? "Retrying in " + left + " s" : "Retrying now";
    });
  }, 1000);
})();
