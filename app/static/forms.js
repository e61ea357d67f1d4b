// A form with data-confirm asks before it is sent (Deactivate, Sign out
// everywhere); Cancel leaves everything as it was. htmx's own controls use
// hx-confirm instead.
document.addEventListener("submit", function (event) {
  var question = event.target.dataset && event.target.dataset.confirm;
  if (question && !window.confirm(question)) event.preventDefault();
});

// A field for one channel only (an email's Subject) shows while that channel is chosen.
(function () {
  function follow() {
    var channel = document.getElementById("channel");
    if (!channel) return;
    document.querySelectorAll("[data-for-channel]").forEach(function (field) {
      field.hidden = field.dataset.forChannel !== channel.value;
    });
  }
  document.addEventListener("DOMContentLoaded", follow);
  document.addEventListener("change", function (event) {
    if (event.target.id === "channel") follow();
  });
})();

// The New campaign form shows the pasted list, the contacts' filters or the
// segment, as "Send to" says (data-for-audience: the choices a part is for).
(function () {
  function follow() {
    var chosen = document.querySelector("input[name=audience]:checked");
    if (!chosen) return;
    document.querySelectorAll("[data-for-audience]").forEach(function (part) {
      part.hidden = part.dataset.forAudience.split(" ").indexOf(chosen.value) < 0;
    });
  }
  document.addEventListener("DOMContentLoaded", follow);
  document.addEventListener("change", function (event) {
    if (event.target.name === "audience") follow();
  });
})();

// A button with commandfor="ID" command="show-modal" opens that <dialog> as a
// modal (Revoke a token, Delete a segment). Browsers with invoker commands do
// it themselves, from the moment the button is parsed, so a click made before
// the page's scripts have run still opens it; this serves the others.
if (!("command" in HTMLButtonElement.prototype)) {
  document.addEventListener("click", (event) => {
    const button = event.target.closest("button[commandfor][command='show-modal']");
    if (button) document.getElementById(button.getAttribute("commandfor")).showModal();
  });
}

// A button with data-copy="ID" copies that field's value (the new API token).
document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  const field = document.getElementById(button.dataset.copy);
  field.select();
  navigator.clipboard.writeText(field.value).then(
    () => { button.textContent = "Copied"; },
    () => { button.textContent = "Select and copy it"; },
  );
});
