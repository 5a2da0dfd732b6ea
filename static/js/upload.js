/* Upload page: drag-and-drop or pick many images / ZIPs, upload a few files per request
   with per-file progress (XHR upload events), then follow each task's status live by
   polling one batch status endpoint until it is done. No dependencies. */
(function () {
  "use strict";

  var configNode = document.getElementById("upload-config");
  var form = document.getElementById("upload-form");
  if (!configNode || !form) {
    return;
  }
  var config = JSON.parse(configNode.textContent);
  var dropzone = document.getElementById("dropzone");
  var input = document.getElementById("id_images");
  var section = document.getElementById("upload-progress");
  var list = document.getElementById("upload-list");
  var summary = document.getElementById("upload-summary");
  var template = document.getElementById("upload-row");
  var PARALLEL_REQUESTS = 2;
  var queue = [];
  var active = 0;
  var tracked = new Map();
  var pollTimer = null;
  var pollDelay = 800;

  function csrfToken() {
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    if (match) {
      return decodeURIComponent(match[1]);
    }
    var field = form.querySelector("input[name=csrfmiddlewaretoken]");
    return field ? field.value : "";
  }

  function extension(name) {
    var dot = name.lastIndexOf(".");
    return dot < 0 ? "" : name.slice(dot + 1).toLowerCase();
  }

  function isZip(file) {
    return extension(file.name) === "zip" || /zip/.test(file.type || "");
  }

  function rejection(file) {
    var ext = extension(file.name);
    var imageType = /^image\//.test(file.type || "");
    if (!isZip(file) && !imageType && config.extensions.indexOf(ext) < 0) {
      return "Not an image: send JPEG, PNG, WebP, BMP, TIFF or GIF files, or a ZIP of them.";
    }
    if (file.size === 0) {
      return "The file is empty.";
    }
    if (file.size > config.maxBytes) {
      return "Too large: " + Math.round(file.size / 1048576) + " MB, the limit is " +
        Math.round(config.maxBytes / 1048576) + " MB.";
    }
    return null;
  }

  function addRow(name, preview) {
    var row = template.content.firstElementChild.cloneNode(true);
    row.querySelector(".upload-name").textContent = name;
    if (preview) {
      var thumb = row.querySelector(".upload-thumb");
      thumb.src = preview;
      thumb.hidden = false;
    }
    row.querySelector(".upload-bar").setAttribute("aria-label", "Progress of " + name);
    list.appendChild(row);
    section.hidden = false;
    return row;
  }

  var LABELS = {
    waiting: "Waiting",
    uploading: "Uploading",
    queued: "Queued",
    running: "Running",
    done: "Done",
    failed: "Failed",
    rejected: "Rejected",
    error: "Error",
    archive: "Unpacked"
  };

  function setState(row, state, detail) {
    row.dataset.state = state;
    row.querySelector(".upload-state").textContent = LABELS[state] || state;
    var bar = row.querySelector(".upload-bar");
    if (state === "queued" || state === "running") {
      bar.removeAttribute("value");
    } else if (state === "done" || state === "archive") {
      bar.value = 100;
    } else if (state === "rejected" || state === "error" || state === "failed") {
      bar.value = 0;
    }
    var detailNode = row.querySelector(".upload-detail");
    detailNode.textContent = "";
    if (typeof detail === "string") {
      detailNode.textContent = detail;
    } else if (detail) {
      detailNode.appendChild(detail);
    }
    updateSummary();
  }

  function updateSummary() {
    var counts = {};
    var rows = list.querySelectorAll(".upload-row");
    rows.forEach(function (row) {
      counts[row.dataset.state] = (counts[row.dataset.state] || 0) + 1;
    });
    var parts = [];
    var images = rows.length - (counts.archive || 0) - (counts.rejected || 0);
    parts.push((counts.done || 0) + " of " + images + " done");
    ["uploading", "waiting", "queued", "running", "failed", "rejected", "error"].forEach(
      function (state) {
        if (counts[state]) {
          parts.push(counts[state] + " " + LABELS[state].toLowerCase());
        }
      }
    );
    summary.textContent = parts.join(" · ");
  }

  function handleFiles(files) {
    var images = [];
    Array.prototype.forEach.call(files, function (file) {
      var problem = rejection(file);
      var previewable = !problem && /^image\/(jpeg|png|webp|gif|bmp)$/.test(file.type || "");
      var row = addRow(file.name, previewable ? URL.createObjectURL(file) : null);
      if (problem) {
        setState(row, "rejected", problem);
        return;
      }
      setState(row, "waiting", "");
      if (isZip(file)) {
        queue.push({ field: "archive", items: [{ file: file, row: row }] });
      } else {
        images.push({ file: file, row: row });
      }
    });
    for (var start = 0; start < images.length; start += config.maxFilesPerRequest) {
      queue.push({ field: "image", items: images.slice(start, start + config.maxFilesPerRequest) });
    }
    pump();
  }

  function pump() {
    while (active < PARALLEL_REQUESTS && queue.length) {
      send(queue.shift());
    }
  }

  function send(batch) {
    active += 1;
    var data = new FormData();
    var offsets = [];
    var total = 0;
    batch.items.forEach(function (item) {
      data.append(batch.field, item.file, item.file.name);
      offsets.push(total);
      total += item.file.size;
      setState(item.row, "uploading", "");
    });
    var request = new XMLHttpRequest();
    request.open("POST", config.submitUrl);
    request.setRequestHeader("X-CSRFToken", csrfToken());
    request.setRequestHeader("Accept", "application/json");
    request.upload.addEventListener("progress", function (event) {
      var loaded = event.lengthComputable ? (event.loaded / event.total) * total : 0;
      batch.items.forEach(function (item, index) {
        var share = (loaded - offsets[index]) / (item.file.size || 1);
        item.row.querySelector(".upload-bar").value = Math.max(0, Math.min(1, share)) * 100;
      });
    });
    request.addEventListener("load", function () {
      var body = null;
      try {
        body = JSON.parse(request.responseText);
      } catch (ignored) {
        body = null;
      }
      if (body && (request.status === 202 || request.status === 400) && body.tasks) {
        settle(batch, body);
      } else {
        var message = body && body.error ? body.error.message : "The server answered " +
          request.status + "; please try again.";
        if (request.status === 403 || request.status === 401) {
          message = "Your session has expired: sign in again, then retry.";
        }
        batch.items.forEach(function (item) {
          setState(item.row, "error", message);
        });
      }
      finish();
    });
    request.addEventListener("error", function () {
      batch.items.forEach(function (item) {
        setState(item.row, "error", "Network error: check your connection and try again.");
      });
      finish();
    });
    request.send(data);
  }

  function finish() {
    active -= 1;
    pump();
  }

  function settle(batch, body) {
    var errors = (body.errors || []).slice();
    var tasks = (body.tasks || []).slice();
    if (batch.field === "archive") {
      var archive = batch.items[0];
      if (!tasks.length) {
        var reason = errors.map(function (e) { return e.file + ": " + e.error; }).join("; ");
        setState(archive.row, "rejected", reason || (body.error && body.error.message) || "");
        return;
      }
      setState(archive.row, "archive", tasks.length + " image(s) found in the archive.");
      errors.forEach(function (error) {
        setState(addRow(error.file), "rejected", error.error);
      });
      tasks.forEach(function (task) {
        track(addRow("Image " + task.id, config.thumbnailUrl.replace("/0/", "/" + task.id + "/")), task);
      });
      return;
    }
    batch.items.forEach(function (item) {
      var index = -1;
      for (var i = 0; i < errors.length; i += 1) {
        if (errors[i].file === item.file.name) {
          index = i;
          break;
        }
      }
      if (index >= 0) {
        setState(item.row, "rejected", errors.splice(index, 1)[0].error);
      } else if (tasks.length) {
        track(item.row, tasks.shift());
      } else {
        setState(item.row, "error", body.message || "Not accepted.");
      }
    });
  }

  function track(row, task) {
    row.dataset.taskId = task.id;
    tracked.set(String(task.id), row);
    show(row, task);
    schedulePoll(300);
  }

  function resultLink(id) {
    var link = document.createElement("a");
    link.href = config.detailUrl.replace("/0/", "/" + id + "/");
    link.textContent = "View result";
    link.className = "result-link";
    return link;
  }

  function show(row, task) {
    if (task.name && /^Image \d+$/.test(row.querySelector(".upload-name").textContent)) {
      row.querySelector(".upload-name").textContent = task.name;
    }
    if (task.status === "done") {
      var detail = document.createElement("span");
      var scene = task.scene_display || task.scene;
      var text = scene ? scene + " " + Math.round((task.scene_score || 0) * 100) + "%" : "";
      if (typeof task.objects === "number") {
        text += (text ? " · " : "") + task.objects + " object" + (task.objects === 1 ? "" : "s");
      }
      detail.textContent = text ? text + " — " : "";
      detail.appendChild(resultLink(task.id));
      setState(row, "done", detail);
      tracked.delete(String(task.id));
    } else if (task.status === "failed") {
      var failure = document.createElement("span");
      failure.textContent = (task.error || "Analysis failed.") + " — ";
      failure.appendChild(resultLink(task.id));
      setState(row, "failed", failure);
      tracked.delete(String(task.id));
    } else if (row.dataset.state !== task.status) {
      setState(row, task.status, task.status === "queued" ? "Waiting for a worker…" : "Analysing…");
    }
  }

  function schedulePoll(delay) {
    if (pollTimer === null) {
      pollTimer = window.setTimeout(poll, delay);
    }
  }

  function poll() {
    pollTimer = null;
    var ids = Array.from(tracked.keys()).slice(0, 200);
    if (!ids.length) {
      return;
    }
    fetch(config.statusUrl + "?ids=" + ids.join(","), {
      credentials: "same-origin",
      headers: { Accept: "application/json" }
    })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("status " + response.status);
        }
        return response.json();
      })
      .then(function (body) {
        pollDelay = 800;
        body.tasks.forEach(function (task) {
          var row = tracked.get(String(task.id));
          if (row) {
            show(row, task);
          }
        });
      })
      .catch(function () {
        // Keep trying, more slowly: a restarting server should not end the progress view.
        pollDelay = Math.min(pollDelay * 2, 10000);
      })
      .then(function () {
        if (tracked.size) {
          schedulePoll(pollDelay);
        }
      });
  }

  ["dragenter", "dragover"].forEach(function (name) {
    dropzone.addEventListener(name, function (event) {
      event.preventDefault();
      dropzone.classList.add("is-dragging");
    });
  });
  ["dragleave", "drop"].forEach(function (name) {
    dropzone.addEventListener(name, function (event) {
      event.preventDefault();
      dropzone.classList.remove("is-dragging");
    });
  });
  dropzone.addEventListener("drop", function (event) {
    if (event.dataTransfer && event.dataTransfer.files.length) {
      handleFiles(event.dataTransfer.files);
    }
  });
  // A file dropped beside the zone must not navigate away from the page.
  window.addEventListener("dragover", function (event) { event.preventDefault(); });
  window.addEventListener("drop", function (event) { event.preventDefault(); });
  input.addEventListener("change", function () {
    if (input.files.length) {
      handleFiles(input.files);
      input.value = "";
    }
  });
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (input.files.length) {
      handleFiles(input.files);
      input.value = "";
    }
  });
})();
