// Live updates (campaigns/_update.html) arrive from many processes and can
// overtake one another. Each carries the version of the campaign row it was
// rendered from, in its header: one older than the page's header is dropped
// whole. (What it showed is already on the page: the newer state came with, or
// was followed by, a reload of the recipients block.)
//
// An update also carries the changed parts (status, attempts) of every
// recipient that changed, but a page shows only 100 of them. Drop the parts
// whose target is not on this page before htmx swaps, so it neither searches
// for them nor logs an error. Each part is one line of the update, so this
// looks at lines and ids only: on a 100,000-recipient campaign an update can
// name thousands of recipients, and parsing them all into elements would keep
// the page busy.
(function () {
  var VERSION = /data-version="(\d+)"/;
  var PART = /^<span id="(recipient-\d+-\w+)"/;

  htmx.defineExtension("live-update", {
    transformResponse: function (text) {
      var header = document.getElementById("campaign-header");
      var version = VERSION.exec(text);
      if (header && version && Number(version[1]) < Number(header.dataset.version)) return "";
      return text.split("\n").filter(function (line) {
        var part = PART.exec(line);
        return !part || document.getElementById(part[1]) !== null;
      }).join("\n");
    },
  });
})();

// A notice about a campaign's status ("Dispatch started.") goes once the page
// has shown that status and then shows another, whoever changed it. A notice
// that arrives before the header catches up waits for it.
(function () {
  function dropStaleNotices() {
    var header = document.getElementById("campaign-header");
    if (!header) return;
    document.querySelectorAll("#notices [data-while-status]").forEach(function (notice) {
      if (notice.dataset.whileStatus === header.dataset.status) {
        notice.dataset.seen = "true";
      } else if (notice.dataset.seen) {
        notice.remove();
      }
    });
  }
  document.addEventListener("DOMContentLoaded", dropStaleNotices);
  document.addEventListener("htmx:afterSettle", dropStaleNotices);
  document.addEventListener("htmx:oobAfterSwap", dropStaleNotices);
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
