// Live updates (campaigns/_update.html) arrive from many processes and can
// overtake one another. Each carries the version of the campaign row it was
// rendered from, in its header: one older than the page's header is dropped
// whole. (What it showed is already on the page: the newer state came with, or
// was followed by, a reload of the recipients block.)
//
// An update also carries the changing parts (status, attempts) of every
// recipient that changed, one line per recipient. A page shows 100 of them, and
// an update can name thousands: lines for recipients not on the page are
// dropped by their first id, without parsing them into elements. The parts of
// those on the page are put in place here, all parsed at once, and htmx swaps
// only the rest (header, tab counts, history): htmx's out-of-band swap costs
// about 1.5 ms an element, which made the first updates of a large campaign,
// changing every row on the page, take over 300 ms.
//
// A reload of the recipients block can be answered after the stream brought
// newer parts: rendered as the last sends of a pause finished, it put their
// "sending" badges and tab counts back for good, since a paused campaign
// sends no more updates. So the newest line the stream brought for each part
// on the page is kept with its version, and put back over a block rendered
// from an older campaign row.
(function () {
  var VERSION = /data-version="(\d+)"/;
  var RECIPIENT = /^<span id="(recipient-\d+-status)"/;
  // The tab counts, one line; a draft's page shows no tabs until it starts.
  var COUNTS = /^<span id="(count-all)"/;
  // Element id -> [version, line]: the newest the stream brought, for parts on the page.
  var newest = {};

  function putInPlace(lines) {
    if (!lines.length) return;
    var parts = document.createRange().createContextualFragment(lines.join(""));
    Array.prototype.slice.call(parts.children).forEach(function (part) {
      var target = document.getElementById(part.id);
      if (target) target.replaceWith(part);
    });
  }

  function keep(id, version, line) {
    if (version !== null && !(newest[id] && newest[id][0] > version)) newest[id] = [version, line];
  }

  htmx.defineExtension("live-update", {
    transformResponse: function (text) {
      var header = document.getElementById("campaign-header");
      var found = VERSION.exec(text);
      var version = found ? Number(found[1]) : null;
      if (header && version !== null && version < Number(header.dataset.version)) return "";
      var recipients = [];
      var rest = text.split("\n").filter(function (line) {
        var counts = COUNTS.exec(line);
        if (counts) {
          if (document.getElementById(counts[1]) === null) return false;
          keep(counts[1], version, line);
          return true;
        }
        var recipient = RECIPIENT.exec(line);
        if (!recipient) return true;
        if (document.getElementById(recipient[1]) !== null) {
          recipients.push(line);
          keep(recipient[1], version, line);
        }
        return false;
      });
      putInPlace(recipients);
      return rest.join("\n");
    },
  });

  // After the block is swapped in: what the stream brought since its campaign
  // row goes back over it; what it already shows is forgotten.
  document.addEventListener("htmx:afterSwap", function (event) {
    var block = document.getElementById("recipients");
    if (!block || event.target !== block || block.dataset.version === undefined) return;
    var rendered = Number(block.dataset.version);
    var lines = [];
    Object.keys(newest).forEach(function (id) {
      if (newest[id][0] <= rendered) delete newest[id];
      else if (document.getElementById(id) !== null) lines.push(newest[id][1]);
    });
    putInPlace(lines);
  });
})();

// The recipients block reloads itself for several reasons (its stream opened,
// a refresh, a control, its tab's count moved), and staff click its tabs and
// pages; each is a request of its own, and answers can come back out of order,
// after another answer replaced the block they were asked for. htmx would then
// drop the block but still apply the header and controls that come with it,
// older than the page: controls for a status the campaign has left. So:
// - a reload asked by a block no longer on the page is dropped whole (the
//   block that replaced it brought its own header and controls);
// - a reload of the same tab and page rendered from a campaign row no newer
//   than the block's adds nothing, and is dropped;
// - a click (another tab or page) always lands, in the block there is now.
// htmx fires htmx:beforeSwap on the element the request was for, which may be
// out of the document by then, so each block is watched on itself.
(function () {
  var BLOCK = /id="recipients"\s+hx-get="([^"]*)"[^>]*?data-version="(\d+)"/;
  function guard(event) {
    var asked = event.target;
    var current = document.getElementById("recipients");
    var reload = event.detail.requestConfig && event.detail.requestConfig.elt === asked;
    if (!current) return;
    if (asked !== current) {
      if (reload) event.detail.shouldSwap = false;
      else event.detail.target = current;
      return;
    }
    if (!reload || !event.detail.xhr) return;
    var answer = BLOCK.exec(event.detail.xhr.responseText || "");
    if (!answer || answer[1].replace(/&amp;/g, "&") !== current.getAttribute("hx-get")) return;
    if (Number(answer[2]) <= Number(current.dataset.version)) event.detail.shouldSwap = false;
  }
  var guarded = new WeakSet();
  document.addEventListener("htmx:beforeRequest", function (event) {
    var block = event.detail.target;
    if (!block || block.id !== "recipients" || guarded.has(block)) return;
    guarded.add(block);
    block.addEventListener("htmx:beforeSwap", guard);
  });
})();

// A block's answer brings the header (and a list's answer its rows' progress)
// out of band, rendered when the request was served. Under load that answer
// can land after the stream has brought a newer header: a reload asked just
// before the campaign completed put "Sending" back over "Completed", for good,
// since the reload the completion asked for was lost with the block the older
// answer replaced. So an out-of-band part older than the one on the page
// (both carry their campaign row's version) is not put in; the block that
// came with it was rendered for another status, and reloads (below).
document.addEventListener("htmx:oobBeforeSwap", function (event) {
  var target = event.detail.target;
  var incoming = event.detail.fragment && event.detail.fragment.firstElementChild;
  if (!target || !incoming || !target.dataset || !incoming.dataset) return;
  if (target.dataset.version === undefined || incoming.dataset.version === undefined) return;
  if (Number(incoming.dataset.version) < Number(target.dataset.version)) event.detail.shouldSwap = false;
});

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
})();

// A control pressed from the keyboard replaces the toolbar it was in, and focus
// would fall to the page's body: it goes to the new toolbar's first control
// instead, or to the notice when none is left (a cancelled campaign).
(function () {
  var pressed = null;
  document.addEventListener("htmx:beforeRequest", function (event) {
    if (event.target.closest && event.target.closest("#campaign-controls")) pressed = event.target;
  });
  // After the block's reload settles; an out-of-band swap's own events fire on
  // the element it replaced, by then out of the document, so they never bubble here.
  document.addEventListener("htmx:afterSettle", function () {
    if (!pressed || pressed.isConnected) return;
    // Focus left in a dialog that has closed (a confirmation) counts as lost too.
    var active = document.activeElement;
    if (active && active !== document.body && !active.closest("dialog:not([open])")) {
      // A reload already on its way when the key was pressed replaced the
      // toolbar first, and htmx kept focus on the same control of the new one
      // (by its id); the press's own answer will replace that one too: follow it.
      pressed = active.closest("#campaign-controls") ? active : null;
      return;
    }
    pressed = null;
    var next = document.querySelector("#campaign-controls button, #campaign-controls a") ||
      document.querySelector("#notices p");
    if (!next) return;
    if (next.tagName === "P") next.setAttribute("tabindex", "-1");
    next.focus();
  });
})();

// After every swap, ``stale()`` says whether the element ``id`` shows an
// older state than the rest of the page; if so it gets ``event`` (its
// hx-trigger reloads it), at most once every ``seconds()`` seconds (one by
// default), and the last change of a burst still gets it, that much later.
function reloadWhenStale(id, event, stale, seconds) {
  var last = 0;
  var pending = null;
  document.addEventListener("htmx:afterSettle", function () {
    if (pending || !stale()) return;
    var wait = 1000 * (seconds ? seconds() : 1) - (Date.now() - last);
    pending = setTimeout(function () {
      pending = null;
      last = Date.now();
      var element = document.getElementById(id);
      if (element) htmx.trigger(element, event);
    }, Math.max(0, wait));
  });
}

// A reload htmx had queued on a block that another answer then replaced is
// lost with it, so a block could keep controls for a status the campaign has
// left. The header, which every update brings, says the status now: when the
// block was rendered for another, it reloads, at most once a second, and
// checks again after each swap until they agree. An operator's controls also
// say how many failures they offer to retry, by kind ("Retry 7 permanent
// failures"): when the header's counts differ, the block reloads the same way.
reloadWhenStale("recipients", "status-changed", function () {
  var block = document.getElementById("recipients");
  var header = document.getElementById("campaign-header");
  var controls = document.getElementById("campaign-controls");
  if (!block || !header || !block.dataset.campaignStatus) return false;
  var failures = controls && controls.dataset.failures;
  return block.dataset.campaignStatus !== header.dataset.status ||
    (failures !== undefined && failures !== header.dataset.failures);
});

// The charts (campaigns/_charts.html) were read with a version of the
// campaign row; every send's outcomes move it, and each update brings the
// header with the version now. When the header is newer, the charts reload,
// at most once a second however fast the campaign sends (or as data-every
// says: a long campaign's, less often), and the last change of a burst still
// reloads them, that much later at most. No polling: a campaign that sends
// nothing moves nothing.
reloadWhenStale("campaign-charts", "charts-stale", function () {
  var charts = document.getElementById("campaign-charts");
  var header = document.getElementById("campaign-header");
  return Boolean(charts && header) && Number(charts.dataset.version) < Number(header.dataset.version);
}, function () {
  return Number(document.getElementById("campaign-charts").dataset.every) || 1;
});

// A status tab (Sent, Failed…) lists the recipients that were in it when the
// block was rendered; live updates change their badges and the tab's count.
// When the count moves, the block reloads itself, at most once a second, so
// the list follows: recipients join the tab and leave it.
reloadWhenStale("recipients", "tab-changed", function () {
  var block = document.getElementById("recipients");
  if (!block || !block.dataset.status) return false;
  var count = document.getElementById("count-" + block.dataset.status);
  return Boolean(count) && count.textContent.replace(/,/g, "") !== block.dataset.count;
});

// The stream carries the badges of the recipients between the first and last
// id the page showed when it opened (its "shows"). When the recipients block
// comes to show others (another tab or page, or a tab that followed its
// count), a stream for those takes its place; the block reloads when it
// opens, so what was published in between is not missed.
(function () {
  function range(text) {
    var parts = (text || "0-0").split("-");
    return [Number(parts[0]), Number(parts[1])];
  }
  function follow() {
    var block = document.getElementById("recipients");
    var stream = document.getElementById("campaign-stream");
    if (!block || !stream || !block.dataset.shows) return;
    var wanted = range(block.dataset.shows);
    var current = range(stream.dataset.shows);
    var empty = wanted[0] === 0;
    if (empty || (wanted[0] >= current[0] && wanted[1] <= current[1])) return;
    var url = document.getElementById("campaign-live").dataset.stream + "&shows=" + block.dataset.shows;
    var fresh = stream.cloneNode(true);
    fresh.setAttribute("sse-connect", url);
    fresh.dataset.shows = block.dataset.shows;
    // htmx's swap cleans up the old element, which closes its EventSource.
    htmx.swap(stream, fresh.outerHTML, {swapStyle: "outerHTML", swapDelay: 0, settleDelay: 0});
  }
  document.addEventListener("htmx:afterSettle", follow);
})();

// When the page's stream is down or refused, the page says so, with what to
// do: it no longer follows the campaign. Signed out (the server answers 401),
// it offers to sign in again and come back; otherwise it says it is trying
// again and offers a reload. When the stream opens again, the note goes (and
// the block reloads, catching up).
//
// One rule for a session that ended, whichever of the page's own requests
// learns of it first, the stream or a reload the page made by itself (for its
// stream, a tab's count, a status): the page says so and stays where it is. It
// never goes to Sign in by itself, which would take the person away from what
// they were reading; a request they caused (a click on a tab or a control)
// still takes them there, as htmx is told to.
(function () {
  function note() { return document.getElementById("live-status"); }
  function here() { return location.pathname + location.search; }

  function say(text, linkText, href) {
    var element = note();
    if (!element) return;
    var link = document.createElement("a");
    link.textContent = linkText;
    link.href = href;
    element.replaceChildren(document.createTextNode(text + " "), link);
    element.hidden = false;
  }

  function signedOut() {
    say("Live updates stopped: you are signed out, so this page no longer follows " +
      (note().dataset.follows || "the campaign") + ".",
      "Sign in again", note().dataset.signIn + "?next=" + encodeURIComponent(here()));
  }

  document.addEventListener("htmx:sseError", function () {
    if (!note()) return;
    fetch(here(), {headers: {"HX-Request": "true", "HX-Target": "recipients"}})
      .then(function (response) {
        if (response.status === 401) {
          signedOut();
        } else {
          say("Live updates stopped: the connection to the server was lost. Trying again…", "Reload the page", here());
        }
      })
      .catch(function () {
        say("Live updates stopped: the server cannot be reached. Trying again…", "Reload the page", here());
      });
  });
  // A person's click or keypress is a trusted event; the events a page's own
  // reloads start from (a stream opening, htmx.trigger) are not.
  document.addEventListener("htmx:beforeOnLoad", function (event) {
    var cause = event.detail.requestConfig && event.detail.requestConfig.triggeringEvent;
    if (event.detail.xhr.status !== 401 || !note() || (cause && cause.isTrusted)) return;
    event.preventDefault();
    signedOut();
  });
  document.addEventListener("htmx:sseOpen", function () {
    var element = note();
    if (element) element.hidden = true;
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

// The New campaign form's preview asks the server as the person types, with
// the paste's first 1,000 lines only: the preview shows a few recipients and
// the lengths over those lines (saving the form checks every line). Refused
// (signed out), it says so and stays, so the form and what was typed stay too.
(function () {
  var PREVIEW_LINES = 1000;
  document.addEventListener("htmx:beforeSwap", function (event) {
    var preview = event.detail.elt;
    if (preview.id !== "message-preview" || event.detail.xhr.status < 400) return;
    event.detail.shouldSwap = false;
    event.detail.isError = false;
    var note = document.createElement("p");
    note.className = "field-error";
    note.textContent = event.detail.xhr.status === 401
      ? "The preview stopped: you are signed out. Creating the campaign keeps what you typed and asks you to sign in."
      : "The preview is not available just now; saving still checks every line.";
    preview.replaceChildren(preview.querySelector("h2"), note);
  });
  document.addEventListener("htmx:configRequest", function (event) {
    if (event.detail.elt.id !== "message-preview") return;
    var paste = event.detail.parameters.recipients || "";
    var lines = paste.split("\n");
    if (lines.length > PREVIEW_LINES) {
      event.detail.parameters.recipients = lines.slice(0, PREVIEW_LINES + 1).join("\n");
    }
  });
})();

// A confirmation dialog (Start's) arrives in #dialog-slot: it opens as a
// modal once htmx has processed it (opened sooner, its form could be sent
// before htmx took it over, as a full page load), so the keyboard stays in it
// and Escape closes it; sending its form closes it, and the page then follows
// the change like any other.
(function () {
  document.addEventListener("htmx:afterSettle", function (event) {
    if (event.detail.target.id !== "dialog-slot") return;
    var dialog = event.detail.target.querySelector("dialog");
    if (dialog && !dialog.open) dialog.showModal();
  });
  document.addEventListener("htmx:beforeRequest", function (event) {
    var dialog = event.detail.elt.closest && event.detail.elt.closest("#dialog-slot dialog");
    if (dialog) dialog.close();
  });
})();
