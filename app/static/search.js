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

// A search form sends every field, most of them empty; the URL it pushes
// (what staff bookmark and share) keeps only what narrows or orders the
// list: empty fields and the defaults (data-defaults: "sort=newest&dated=created")
// are left out, which the server reads the same way.
document.addEventListener("htmx:configRequest", function (event) {
  var form = event.detail.elt;
  if (!form.matches || !form.matches("form.search-form")) return;
  var defaults = new URLSearchParams(form.dataset.defaults || "");
  var data = event.detail.formData;
  Array.from(new Set(data.keys())).forEach(function (name) {
    var value = data.get(name);
    if (value === "" || defaults.get(name) === value) data.delete(name);
  });
});
