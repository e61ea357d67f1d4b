// The header's links fold under a Menu button on a phone (app.css shows the
// button below 600 px). The button starts hidden, so without this script the
// links are simply all shown. Escape closes the menu and returns to the button.
(function () {
  function setUp() {
    var toggle = document.querySelector(".nav-toggle");
    var menu = toggle && document.getElementById(toggle.getAttribute("aria-controls"));
    if (!menu) return;
    toggle.hidden = false;
    function open(yes) {
      toggle.setAttribute("aria-expanded", yes ? "true" : "false");
    }
    toggle.addEventListener("click", function () {
      open(toggle.getAttribute("aria-expanded") !== "true");
    });
    menu.addEventListener("keydown", function (event) {
      if (event.key !== "Escape" || toggle.getAttribute("aria-expanded") !== "true") return;
      menu.querySelectorAll("details[open]").forEach(function (details) {
        details.open = false;
      });
      open(false);
      toggle.focus();
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setUp);
  else setUp();
})();
