// Live updates carry badges for every recipient that changed, but a page shows
// only 100 of them. Drop the out-of-band pieces whose target is not on this
// page before htmx swaps, so it neither searches for them nor logs an error.
htmx.defineExtension("live-prune", {
  transformResponse: function (text) {
    var template = document.createElement("template");
    template.innerHTML = text;
    template.content.querySelectorAll("[hx-swap-oob][id]").forEach(function (piece) {
      if (!document.getElementById(piece.id)) {
        piece.remove();
      }
    });
    return template.innerHTML;
  },
});
