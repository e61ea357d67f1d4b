// A form with data-confirm asks before it is sent (Deactivate, Sign out
// everywhere); Cancel leaves everything as it was. htmx's own controls use
// hx-confirm instead.
document.addEventListener("submit", function (event) {
  var question = event.target.dataset && event.target.dataset.confirm;
  if (question && !window.confirm(question)) event.preventDefault();
});
