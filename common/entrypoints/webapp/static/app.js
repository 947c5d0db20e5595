// Moving posts on the calendar, by keyboard (Alt+arrows on a focused post) or by dragging it
// to another day. Each move is the same form POST as the post page's "Move" form, carrying the
// post's version (a stale move is refused by the server) and the CSRF token.
"use strict";
(function () {
  function token() {
    var headers = document.body.getAttribute("hx-headers");
    return headers ? JSON.parse(headers)["X-CSRF-Token"] : "";
  }
  function pad(n) { return String(n).padStart(2, "0"); }
  function shifted(local, days, hours) {
    var d = new Date(local + ":00Z");
    d.setUTCDate(d.getUTCDate() + days);
    d.setUTCHours(d.getUTCHours() + hours);
    return d.getUTCFullYear() + "-" + pad(d.getUTCMonth() + 1) + "-" + pad(d.getUTCDate()) +
      "T" + pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes());
  }
  function say(text) {
    var out = document.getElementById("move-result");
    if (out) { out.textContent = text; }
  }
  function move(chip, local) {
    var body = new URLSearchParams({
      csrf: token(), version: chip.dataset.version, scheduledAt: local,
      timeZone: chip.dataset.zone, next: location.pathname + location.search
    });
    say("Moving…");
    fetch(chip.dataset.move, { method: "POST", body: body, credentials: "same-origin",
      headers: { "Accept": "application/json" } })
      .then(function (r) {
        if (r.ok) { location.reload(); return; }
        return r.json().then(function (j) { say("Not moved: " + j.error); });
      })
      .catch(function () { say("Not moved: the server did not answer"); });
  }
  var KEYS = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
  document.addEventListener("keydown", function (e) {
    var chip = e.target.closest && e.target.closest("[data-move]");
    if (!chip || !e.altKey || !KEYS[e.key]) { return; }
    e.preventDefault();
    move(chip, shifted(chip.dataset.local, KEYS[e.key][0], KEYS[e.key][1]));
  });
  // Uploads: the file's SHA-256 and size ask the app for an upload; the bytes go straight to
  // the Cloud Storage session it answers with; completing it checks them for the networks.
  function hex(buffer) {
    return Array.from(new Uint8Array(buffer)).map(function (b) {
      return b.toString(16).padStart(2, "0");
    }).join("");
  }
  function chosenAccounts() {
    return Array.from(document.querySelectorAll("input[name=accounts]:checked"))
      .map(function (box) { return box.value; });
  }
  function post(url, body) {
    return fetch(url, { method: "POST", credentials: "same-origin", body: JSON.stringify(body),
      headers: { "Content-Type": "application/json", "Accept": "application/json",
        "X-CSRF-Token": token() } })
      .then(function (r) {
        return r.json().then(function (j) {
          if (!r.ok) { throw new Error(j.error); }
          return j;
        });
      });
  }
  function upload(input) {
    var n = input.dataset.upload, file = input.files[0];
    var out = document.getElementById("upload" + n), id = document.getElementById("mediaId" + n);
    if (!file) { return; }
    id.value = "";
    out.textContent = "Uploading " + file.name + "…";
    file.arrayBuffer().then(function (bytes) {
      return crypto.subtle.digest("SHA-256", bytes);
    }).then(function (digest) {
      return post("/media", { accountIds: chosenAccounts(), mediaType: file.type,
        size: file.size, sha256: hex(digest), filename: file.name });
    }).then(function (made) {
      if (!made.uploadUrl) { return made; }
      return fetch(made.uploadUrl, { method: "PUT", body: file,
        headers: { "Content-Type": file.type } })
        .then(function (r) {
          if (!r.ok) { throw new Error("the upload was refused (" + r.status + ")"); }
          return post("/media/" + made.media.id + "/complete", {});
        });
    }).then(function (done) {
      var item = done.media;
      if (item.state === "ready") {
        id.value = item.id;
        out.textContent = "Ready: " + file.name + " (" + item.kind + ")";
      } else {
        out.textContent = "Refused: " + item.problems.map(function (p) {
          return p.message;
        }).join("; ");
      }
    }).catch(function (error) { out.textContent = "Not uploaded: " + error.message; });
  }
  document.addEventListener("change", function (e) {
    if (e.target.matches && e.target.matches("input[data-upload]")) { upload(e.target); }
  });
  var dragged = null;
  document.addEventListener("dragstart", function (e) {
    dragged = e.target.closest && e.target.closest("[data-move]");
  });
  document.addEventListener("dragover", function (e) {
    if (dragged && e.target.closest("td[data-day]")) { e.preventDefault(); }
  });
  document.addEventListener("drop", function (e) {
    var cell = e.target.closest("td[data-day]");
    if (!dragged || !cell) { return; }
    e.preventDefault();
    move(dragged, cell.dataset.day + dragged.dataset.local.slice(10));
    dragged = null;
  });
})();
