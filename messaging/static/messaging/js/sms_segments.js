// Live SMS segment count under the variant editor's SMS/WhatsApp text (GSM-7 vs UCS-2).
// Mirrors messaging.rendering.sms_segments; the preview shows the final count per region.
(function () {
  "use strict";
  var BASIC = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
  var EXTENDED = "^{}\\[~]|€\f";

  function segments(text) {
    var chars = Array.from(text);
    var gsm = chars.every(function (c) { return BASIC.indexOf(c) >= 0 || EXTENDED.indexOf(c) >= 0; });
    var costs = chars.map(function (c) {
      if (gsm) { return EXTENDED.indexOf(c) >= 0 ? 2 : 1; }
      return c.codePointAt(0) > 0xffff ? 2 : 1;
    });
    var single = gsm ? 160 : 70, multi = gsm ? 153 : 67;
    var units = costs.reduce(function (a, b) { return a + b; }, 0);
    var count = 0, per = single;
    if (units > 0 && units <= single) { count = 1; }
    else if (units > single) {
      per = multi; count = 1; var used = 0;
      costs.forEach(function (c) { if (used + c > multi) { count += 1; used = 0; } used += c; });
    }
    return (gsm ? "GSM-7" : "UCS-2") + ", " + units + (gsm ? " characters" : " UTF-16 units") +
      ", " + count + (count === 1 ? " segment" : " segments") + " (" + per + " each)";
  }

  function bind(note) {
    var field = document.getElementById(note.getAttribute("data-sms-segments-for"));
    if (!field) { return; }
    var suffix = " (before placeholders and the opt-out text; the preview shows the final count)";
    var update = function () { note.textContent = segments(field.value) + suffix; };
    field.addEventListener("input", update);
    update();
  }

  function init() { document.querySelectorAll("[data-sms-segments-for]").forEach(bind); }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); }
  else { init(); }
})();
