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

// Python's str.casefold, where it differs from toLowerCase for a character that folds into
// letters a username can hold (the full case foldings of Unicode's CaseFolding.txt).
var FOLDS = {
  "ß": "ss", "ẞ": "ss", "ſ": "s", "ŉ": "\u02bcn", "ǰ": "j\u030c", "ẖ": "h\u0331", "ẗ": "t\u0308",
  "ẘ": "w\u030a", "ẙ": "y\u030a", "ẚ": "a\u02be", "ﬀ": "ff", "ﬁ": "fi", "ﬂ": "fl", "ﬃ": "ffi",
  "ﬄ": "ffl", "ﬅ": "st", "ﬆ": "st"
};

function casefold(value) {
  return value.replace(/[ßẞſŉǰẖ-ẚﬀ-ﬆ]/g, function (c) { return FOLDS[c]; }).toLowerCase();
}

// Python counts code points, not UTF-16 units: an emoji is one character.
function length(value) { return Array.from(value).length; }

function sharesRun(password, username, run) {
  var pw = casefold(password), user = casefold(username);
  for (var i = 0; i + run <= user.length; i++) {
    if (pw.indexOf(user.slice(i, i + run)) !== -1) { return true; }
  }
  return false;
}

var RULES = {
  username: {
    length: function (v) { return length(v) >= 8 && length(v) <= 16; },
    characters: function (v) { return USERNAME_ALLOWED.test(v); },
    digits: function (v) { return digits(v) <= 7; }
  },
  password: {
    length: function (v) { return length(v) >= 8 && length(v) <= 16; },
    // str.isupper and str.islower: Unicode's Uppercase and Lowercase (Ⅷ and ª count).
    upper: function (v) { return /\p{Uppercase}/u.test(v); },
    lower: function (v) { return /\p{Lowercase}/u.test(v); },
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

// After typing stops this long, the checklist's live region says where the rules stand: a
// screen reader hears one polite summary, not one announcement per key.
var ANNOUNCE_AFTER_MS = 800;

function announce(box) {
  var items = Array.prototype.slice.call(box.querySelectorAll("li[data-rule]"));
  var missing = items.filter(function (item) { return item.classList.contains("not-ok"); });
  var text = box.dataset.summary
    .replace("{met}", String(items.length - missing.length))
    .replace("{total}", String(items.length));
  if (missing.length) {
    text += " " + box.dataset.missing + " " + missing.map(function (item) {
      return item.querySelector(".rule").textContent.trim();
    }).join("; ") + ".";
  }
  var region = box.querySelector("[role=status]");
  if (region && region.textContent !== text) { region.textContent = text; }
}

function liveChecklist(box) {
  var field = box.dataset.field;
  var input = document.getElementById(field);
  var rules = RULES[field];
  if (!input || !rules) { return; }
  function update() {
    // The server composes accents in a username (core/normalize.py), never in a password.
    var value = field === "username" ? input.value.normalize("NFC") : input.value;
    box.querySelectorAll("li[data-rule]").forEach(function (item) {
      var rule = rules[item.dataset.rule];
      if (!rule) { return; }
      var ok = rule(value, box);
      item.classList.toggle("ok", ok);
      item.classList.toggle("not-ok", !ok);
      item.querySelector(".mark").textContent = ok ? "✓" : "✗";
      item.querySelector(".status").textContent = ok ? box.dataset.met : box.dataset.notMet;
    });
  }
  var pause = null;
  function changed() {
    update();
    clearTimeout(pause);
    pause = setTimeout(function () { announce(box); }, ANNOUNCE_AFTER_MS);
  }
  input.addEventListener("input", changed);
  var confirmation = document.getElementById("confirmation");
  if (field === "password" && confirmation) { confirmation.addEventListener("input", changed); }
}
