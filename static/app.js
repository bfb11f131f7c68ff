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

  // A private page restored from the back/forward cache after sign-out
  // must not show account data: reload it, and the server decides.
  window.addEventListener("pageshow", function (e) {
    if (e.persisted && document.body.hasAttribute("data-private")) {
      window.location.reload();
    }
  });
})();
