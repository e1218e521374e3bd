// Copy buttons: shown only when JavaScript runs; navigator.clipboard is missing on plain-HTTP
// LAN hosts, so selecting the field and execCommand("copy") is the fallback.
(function () {
  "use strict";
  document.querySelectorAll("button.copy-button").forEach(function (button) {
    var field = document.getElementById(button.dataset.copy);
    if (!field) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      function done() { button.textContent = "Copied"; setTimeout(function () { button.textContent = "Copy"; }, 1500); }
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(field.value).then(done);
      } else {
        field.select();
        document.execCommand("copy");
        done();
      }
    });
  });
})();
