// Progressive enhancement only: every page works without it, and the server checks again.
"use strict";

// Move keyboard and screen-reader focus to the error summary when a form comes back with errors.
document.addEventListener("DOMContentLoaded", function () {
  var summary = document.querySelector("[data-autofocus]");
  if (summary) { summary.focus(); }
  document.querySelectorAll(".checklist[data-field]").forEach(liveChecklist);
});

// The GCKey checklist boxes: each rule turns to a green check or a red x as the user types.
// These mirror workflows/rules.py; tests/test_browser.py holds the two to the same answers.
var FRENCH = "àâæçéèêëîïôœùûüÿ";
var USERNAME_ALLOWED = new RegExp(
  "^[A-Za-z0-9" + FRENCH + FRENCH.toUpperCase() + "$%^:{}~'?/|&*_\\-.`()\\[\\]!]+$"
);

function digits(value) { return (value.match(/[0-9]/g) || []).length; }

function sharesRun(password, username, run) {
  var pw = password.toLowerCase(), user = username.toLowerCase();
  for (var i = 0; i + run <= user.length; i++) {
    if (pw.indexOf(user.slice(i, i + run)) !== -1) { return true; }
  }
  return false;
}

var RULES = {
  username: {
    length: function (v) { return v.length >= 8 && v.length <= 16; },
    characters: function (v) { return USERNAME_ALLOWED.test(v); },
    digits: function (v) { return digits(v) <= 7; }
  },
  password: {
    length: function (v) { return v.length >= 8 && v.length <= 16; },
    upper: function (v) { return /\p{Lu}/u.test(v); },
    lower: function (v) { return /\p{Ll}/u.test(v); },
    digit: function (v) { return digits(v) > 0; },
    username: function (v, box) {
      return !sharesRun(v, (box.dataset.username || "").normalize("NFC"), 3);
    },
    match: function (v) {
      var confirmation = document.getElementById("confirmation");
      return v.length > 0 && confirmation !== null && v === confirmation.value;
    }
  }
};

function liveChecklist(box) {
  var field = box.dataset.field;
  var input = document.getElementById(field);
  var rules = RULES[field];
  if (!input || !rules) { return; }
  function update() {
    box.querySelectorAll("li[data-rule]").forEach(function (item) {
      var rule = rules[item.dataset.rule];
      if (!rule) { return; }
      var ok = rule(input.value.normalize("NFC"), box);
      item.classList.toggle("ok", ok);
      item.classList.toggle("not-ok", !ok);
      item.querySelector(".mark").textContent = ok ? "✓" : "✗";
      item.querySelector(".status").textContent = ok ? box.dataset.met : box.dataset.notMet;
    });
  }
  input.addEventListener("input", update);
  var confirmation = document.getElementById("confirmation");
  if (field === "password" && confirmation) { confirmation.addEventListener("input", update); }
}
