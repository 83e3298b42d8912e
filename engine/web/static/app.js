// backplan: small enhancements only. The form works the same without this script.
"use strict";
(function () {
  // Emergency answers: show their advice at once, beside the box that was ticked.
  function showAdvice(box) {
    var id = box.getAttribute("data-advice");
    if (!id) return;
    var advice = document.getElementById(id);
    if (advice) advice.hidden = !box.checked;
  }
  // A ticked box answers its group's question "yes".
  function markGroup(box) {
    var group = box.closest("fieldset[data-group]");
    if (!group || !box.checked) return;
    var yes = group.querySelector('input[type=radio][value="yes"]');
    if (yes) yes.checked = true;
  }
  // Pain details are asked only when there is back pain.
  function painDetails() {
    var picked = document.querySelector('input[name="pain.status"]:checked');
    document.querySelectorAll("[data-asked-when]").forEach(function (el) {
      var key = el.getAttribute("data-asked-when");
      if (key !== "pain.status") return;
      el.hidden = picked !== null && picked.value === el.getAttribute("data-unless");
    });
  }
  function ready() {
    document.querySelectorAll("input[type=checkbox][name^='screening.']").forEach(function (box) {
      showAdvice(box);
      box.addEventListener("change", function () { showAdvice(box); markGroup(box); });
    });
    document.querySelectorAll('input[name="pain.status"]').forEach(function (radio) {
      radio.addEventListener("change", painDetails);
    });
    painDetails();
    var summary = document.getElementById("error-summary");
    if (summary) summary.focus();
    document.querySelectorAll(".bp-print").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () { window.print(); });
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", ready);
  else ready();
})();
