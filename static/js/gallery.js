/* Gallery: bulk selection (select all, live count) and a confirmation before deleting. */
(function () {
  "use strict";

  var form = document.getElementById("bulk-form");
  if (!form) {
    return;
  }
  var all = document.getElementById("select-all");
  var count = document.getElementById("selected-count");
  var boxes = form.querySelectorAll("input[name=tasks]");
  var buttons = form.querySelectorAll("[data-needs-selection]");

  function update() {
    var selected = form.querySelectorAll("input[name=tasks]:checked").length;
    count.textContent = selected + " selected";
    buttons.forEach(function (button) { button.disabled = selected === 0; });
    all.checked = selected > 0 && selected === boxes.length;
    all.indeterminate = selected > 0 && selected < boxes.length;
    boxes.forEach(function (box) {
      box.closest(".gallery-card").classList.toggle("is-selected", box.checked);
    });
  }

  all.addEventListener("change", function () {
    boxes.forEach(function (box) { box.checked = all.checked; });
    update();
  });
  boxes.forEach(function (box) { box.addEventListener("change", update); });
  form.addEventListener("submit", function (event) {
    var button = event.submitter;
    if (button && button.dataset.confirm && !window.confirm(button.dataset.confirm)) {
      event.preventDefault();
    }
  });
  update();
})();
