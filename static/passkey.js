// Passkeys (WebAuthn) for the sign-in, second-step and security pages.
// Without JavaScript, or in a browser without WebAuthn, this does nothing
// and the passkey controls stay hidden: every other flow works without it.
(function () {
  "use strict";
  if (!window.PublicKeyCredential || !navigator.credentials) return;

  function toBytes(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }
  function toText(buf) {
    if (!buf) return null;
    var b = new Uint8Array(buf), s = "";
    for (var i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (j) { return { ok: r.ok, body: j }; });
    });
  }
  // fail shows msg under the passkey control ("" clears it; null is the
  // general message).
  function fail(box, msg) {
    var p = box && box.querySelector("[data-passkey-error]");
    if (p) p.textContent = msg === null ? "The passkey could not be used. Try again." : msg;
  }
  function credentialJSON(c) {
    var r = c.response, out = {
      id: c.id, rawId: toText(c.rawId), type: c.type,
      clientExtensionResults: c.getClientExtensionResults ? c.getClientExtensionResults() : {},
      response: { clientDataJSON: toText(r.clientDataJSON) }
    };
    if (r.attestationObject) {
      out.response.attestationObject = toText(r.attestationObject);
      out.response.transports = r.getTransports ? r.getTransports() : [];
    } else {
      out.response.authenticatorData = toText(r.authenticatorData);
      out.response.signature = toText(r.signature);
      out.response.userHandle = toText(r.userHandle);
    }
    return out;
  }
  function requestOptions(pk) {
    pk.challenge = toBytes(pk.challenge);
    (pk.allowCredentials || []).forEach(function (c) { c.id = toBytes(c.id); });
    return pk;
  }
  // The sign-in page's hidden next and rd: where to go afterwards.
  function param(name) {
    var f = document.querySelector("input[name=" + name + "]");
    return f ? f.value : "";
  }

  // Sign in with a passkey: a whole sign-in on /signin, the second step on
  // /signin/2fa (the server knows which from the session).
  var pending = null; // the conditional (autofill) request, if any
  function signIn(mediation, box) {
    return post("/signin/passkey/begin", {}).then(function (begin) {
      if (!begin.ok) throw new Error(begin.body.message);
      var opts = { publicKey: requestOptions(begin.body.publicKey) };
      if (mediation) {
        pending = new AbortController();
        opts.mediation = mediation;
        opts.signal = pending.signal;
      }
      return navigator.credentials.get(opts).then(function (cred) {
        return post("/signin/passkey/finish", { id: begin.body.id, credential: credentialJSON(cred), next: param("next"), rd: param("rd") });
      });
    }).then(function (finish) {
      if (!finish.ok) throw new Error(finish.body.message);
      window.location.assign(finish.body.redirect);
    });
  }

  document.querySelectorAll("[data-passkey]").forEach(function (el) { el.hidden = false; });

  document.querySelectorAll("[data-passkey-signin]").forEach(function (button) {
    var box = button.closest("[data-passkey]");
    button.addEventListener("click", function () {
      if (pending) { pending.abort(); pending = null; }
      fail(box, "");
      signIn(null, box).catch(function (e) {
        if (e && e.name === "AbortError") return;
        fail(box, e && e.message && e.name !== "NotAllowedError" ? e.message : null);
      });
    });
  });

  // Browser autofill of passkeys on the username field, where supported.
  // Only where the page offers passkeys (the server has them on).
  var login = document.querySelector("input[autocomplete~=webauthn]");
  if (login && document.querySelector("[data-passkey-signin]") && PublicKeyCredential.isConditionalMediationAvailable) {
    PublicKeyCredential.isConditionalMediationAvailable().then(function (ok) {
      if (ok) signIn("conditional", null).catch(function () {});
    });
  }

  // Add a passkey (the security page).
  var form = document.querySelector("form[data-passkey-register]");
  if (form) {
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var name = form.querySelector("input[name=name]");
      var pw = form.querySelector("input[name=current_password]");
      form.querySelectorAll(".field-error").forEach(function (p) { p.textContent = ""; });
      form.querySelectorAll("[aria-invalid]").forEach(function (i) { i.removeAttribute("aria-invalid"); });
      post("/account/passkeys/register/begin", { name: name.value, current_password: pw.value }).then(function (begin) {
        if (!begin.ok) {
          var fields = begin.body.fields || {};
          var first = null;
          Object.keys(fields).forEach(function (k) {
            var input = form.querySelector("input[name=" + k + "]");
            if (!input) return;
            input.setAttribute("aria-invalid", "true");
            var slot = document.getElementById(input.id + "-error");
            if (slot) slot.textContent = fields[k];
            first = first || input;
          });
          if (first) { first.focus(); return null; }
          throw new Error(begin.body.message);
        }
        var pk = begin.body.publicKey;
        pk.challenge = toBytes(pk.challenge);
        pk.user.id = toBytes(pk.user.id);
        (pk.excludeCredentials || []).forEach(function (c) { c.id = toBytes(c.id); });
        return navigator.credentials.create({ publicKey: pk }).then(function (cred) {
          return post("/account/passkeys/register/finish", { id: begin.body.id, credential: credentialJSON(cred) });
        }).then(function (finish) {
          if (!finish.ok) throw new Error(finish.body.message);
          window.location.assign(finish.body.redirect);
        });
      }).catch(function (err) {
        fail(form, err && err.message && err.name !== "NotAllowedError" ? err.message : "The passkey was not added.");
      });
    });
  }
})();
