/* Detail page: filter the drawn boxes live by confidence and class; confirm deletion;
   refresh once a queued or running task has finished. */
(function () {
  "use strict";

  var slider = document.getElementById("min-score");
  var output = document.getElementById("min-score-value");
  var visibleCount = document.getElementById("visible-count");
  var allHidden = document.getElementById("all-hidden");
  var rowsNote = document.getElementById("rows-note");
  var toggles = document.querySelectorAll("[data-class-toggle]");
  var items = document.querySelectorAll(".boxes .box, .predictions-table tbody tr");
  var classCounts = document.querySelectorAll("[data-class-count]");

  function apply() {
    var minimum = slider ? parseFloat(slider.value) : 0;
    var hiddenClasses = {};
    toggles.forEach(function (toggle) {
      if (!toggle.checked) {
        hiddenClasses[toggle.value] = true;
      }
    });
    var shown = 0;
    var rowsHidden = 0;
    var aboveMinimum = {};
    items.forEach(function (item) {
      if (item.tagName.toLowerCase() === "tr" && parseFloat(item.dataset.score) >= minimum) {
        aboveMinimum[item.dataset.label] = (aboveMinimum[item.dataset.label] || 0) + 1;
      }
      var visible = parseFloat(item.dataset.score) >= minimum && !hiddenClasses[item.dataset.label];
      if (item.tagName.toLowerCase() === "tr") {
        item.hidden = !visible;
        if (!visible) {
          rowsHidden += 1;
        }
      } else {
        item.classList.toggle("is-hidden", !visible);
        if (visible) {
          shown += 1;
        }
      }
    });
    // Each class counts the boxes the confidence slider lets through, shown or not.
    classCounts.forEach(function (count) {
      count.textContent = String(aboveMinimum[count.dataset.classCount] || 0);
    });
    if (output && slider) {
      output.textContent = minimum.toFixed(2);
    }
    if (visibleCount) {
      visibleCount.textContent = String(shown);
    }
    if (allHidden) {
      allHidden.hidden = shown > 0;
    }
    var tableWrap = document.querySelector(".predictions-section .table-wrap");
    if (tableWrap) {
      tableWrap.hidden = rowsHidden > 0 && rowsHidden === document.querySelectorAll(".predictions-table tbody tr").length;
    }
    if (rowsNote) {
      rowsNote.textContent = rowsHidden ?
        rowsHidden + " prediction" + (rowsHidden === 1 ? " is" : "s are") +
        " hidden by the confidence and class filters above." : "";
    }
  }

  if (slider) {
    slider.addEventListener("input", apply);
  }
  toggles.forEach(function (toggle) { toggle.addEventListener("change", apply); });
  apply();

  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.dataset.confirm)) {
        event.preventDefault();
      }
    });
  });

  var pending = document.querySelector("[data-refresh]");
  if (pending) {
    var check = function () {
      fetch(pending.dataset.refresh, { credentials: "same-origin" })
        .then(function (response) { return response.json(); })
        .then(function (body) {
          var task = body.tasks && body.tasks[0];
          if (task && (task.status === "done" || task.status === "failed")) {
            window.location.reload();
          } else {
            window.setTimeout(check, 1500);
          }
        })
        .catch(function () { window.setTimeout(check, 5000); });
    };
    window.setTimeout(check, 1000);
  }
})();
