// The campaign list's live progress (campaigns/_list_progress.html): every
// open list gets each sending campaign's counts, one line per campaign, as
// out-of-band fragments. A list shows one page of one search, so lines for
// campaigns it does not show are dropped here (htmx would log each as an
// out-of-band swap without a target), and so are lines rendered from an
// older version of the campaign row than the one shown: updates from
// different processes, and the list's own reloads, can overtake one another.
(function () {
  var LINE = /^<div id="(campaign-\d+-progress)"[^>]*data-version="(\d+)"/;
  htmx.defineExtension("list-progress", {
    transformResponse: function (text) {
      return text.split("\n").filter(function (line) {
        var found = LINE.exec(line);
        if (!found) return false;
        var shown = document.getElementById(found[1]);
        return shown !== null && Number(found[2]) >= Number(shown.dataset.version);
      }).join("\n");
    },
  });
})();
