// Gatehouse's only script of its own. Pages work without it; it polishes
// what htmx does. No inline script anywhere: the CSP forbids it.
(function () {
  "use strict";

  // Inline validation swaps only an error message; keep the input's
  // aria-invalid in step with it so screen readers know the field's state.
  document.addEventListener("htmx:afterSettle", function () {
    document.querySelectorAll(".field-error[data-for]").forEach(function (p) {
      var input = document.getElementById(p.getAttribute("data-for"));
      if (!input) return;
      var field = input.closest(".field");
      if (p.textContent.trim() !== "") {
        input.setAttribute("aria-invalid", "true");
        if (field) field.classList.add("has-error");
      } else {
        input.removeAttribute("aria-invalid");
        if (field) field.classList.remove("has-error");
      }
    });
  });

  // Pressing a submit button blurs the field the user was in, and its
  // inline check answers within milliseconds. A new message would then push
  // the button down under the pointer before the button is released, and
  // the click would be lost (the browser tests caught this). So while a
  // submit button is pressed, and while its form is being sent, inline
  // checks of that form are not swapped in: the form's own answer shows
  // every message anyway.
  var pressedForm = null;
  document.addEventListener("pointerdown", function (e) {
    var button = e.target.closest && e.target.closest("button[type=submit], input[type=submit]");
    pressedForm = button ? button.form : null;
  }, true);
  function released() {
    // After the click that follows pointerup has run.
    setTimeout(function () { pressedForm = null; }, 0);
  }
  document.addEventListener("pointerup", released, true);
  document.addEventListener("pointercancel", released, true);
  document.addEventListener("htmx:beforeSwap", function (e) {
    var source = e.detail.requestConfig ? e.detail.requestConfig.elt : e.detail.elt;
    var form = source && source.form;
    if (!form || source === form) return;
    if (form === pressedForm || form.classList.contains("htmx-request")) {
      e.detail.shouldSwap = false;
    }
  });

  // A private page restored from the back/forward cache after sign-out
  // must not show account data: reload it, and the server decides.
  window.addEventListener("pageshow", function (e) {
    if (e.persisted && document.body.hasAttribute("data-private")) {
      window.location.reload();
    }
  });
})();
