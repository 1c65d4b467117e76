/* The debtor portal's one script, served from the site (the CSP allows no other). Every page
   works without it; with it:
   - the error summary of a failed form takes the focus when the page loads, so a screen
     reader reads the problems first, and its links move the focus to their field;
   - the idle warning ("Do you want to stay signed in?") opens shortly before the session
     would end; "Stay signed in" restarts the session's clock in the background, leaving the
     page (and anything typed into it) as it is; when the time is up the page goes to one
     that says the session has ended. */
(function () {
  "use strict";

  function errorSummary(summary) {
    summary.focus();
    summary.addEventListener("click", function (event) {
      var link = event.target.closest("a[href^='#']");
      var field = link && document.getElementById(link.getAttribute("href").slice(1));
      if (!field) return;
      event.preventDefault();
      // Bring the field's question into view with it: its group's legend or its label.
      var group = field.closest("fieldset");
      var question = group && (field.type === "radio" || field.type === "checkbox")
        ? group.querySelector("legend")
        : document.querySelector("label[for='" + field.id + "']");
      (question || field).scrollIntoView();
      field.focus({ preventScroll: true });
    });
  }

  function idleWarning(dialog) {
    var warn = Number(dialog.dataset.warn) * 1000;
    var deadline = Date.now() + Number(dialog.dataset.left) * 1000;
    var form = dialog.querySelector("form[data-stay]");
    var timer;
    var ended = function () {
      window.clearInterval(timer);
      window.location.assign(dialog.dataset.ended);
    };

    function stay() {
      var data = new FormData(form);
      data.append("js", "1");
      fetch(form.action, { method: "POST", body: data, credentials: "same-origin" }).then(
        function (response) {
          if (response.status !== 204) return ended();
          deadline = Date.now() + Number(dialog.dataset.full) * 1000;
          if (dialog.open) dialog.close();
        },
        function () { form.submit(); }  // no answer: the plain form, as without the script
      );
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      stay();
    });
    // Escape closes the warning: the debtor is there, so that too keeps them signed in.
    dialog.addEventListener("cancel", stay);
    // Checked against the clock, not one long timer: a phone asleep does not delay it.
    timer = window.setInterval(function () {
      var left = deadline - Date.now();
      if (left <= 0) ended();
      else if (left <= warn && !dialog.open) dialog.showModal();
    }, 1000);
  }

  var summary = document.querySelector("[data-error-summary]");
  if (summary) errorSummary(summary);
  var dialog = document.getElementById("idle-warning");
  if (dialog && typeof dialog.showModal === "function") idleWarning(dialog);
})();
