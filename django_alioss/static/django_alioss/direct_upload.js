/*
 * django-alioss direct uploads: a chosen file goes from the browser straight to the
 * OSS bucket (a PostObject form upload), with a progress bar. The Django form then
 * carries only the ticket's token and the object's file name, in a hidden input; the
 * server checks both before keeping the object. No dependencies.
 *
 * Each widget is a [data-alioss-upload] element holding its ticket as JSON
 * ({"url", "fields", "token"}), a file input without a name, a hidden input, a
 * <progress> and a status element. The bucket's CORS rules must let this page's
 * origin POST: manage.py alioss_cors set --origin <origin>.
 */
(function () {
  "use strict";

  var PLACEHOLDER = "${filename}";

  function safeName(name) {
    var cleaned = name.replace(/[^\p{L}\p{N}._-]+/gu, "_").replace(/^[._]+/, "");
    return (cleaned || "file").slice(-100);
  }

  // Each upload goes into a slot of its own under the ticket's prefix: rows of an admin
  // inline formset share one ticket, and two files of the same name must not collide.
  function newSlot() {
    var bytes = new Uint8Array(4);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }

  function errorText(xhr) {
    var text = xhr.status ? "HTTP " + xhr.status : "network error";
    try {
      var xml = new DOMParser().parseFromString(xhr.responseText || "", "application/xml");
      var code = xml.querySelector("Code");
      var message = xml.querySelector("Message");
      if (code) {
        text = code.textContent + (message ? ": " + message.textContent : "");
      }
    } catch (ignored) { /* not XML: keep the status */ }
    return text;
  }

  function hasField(fields, name) {
    return Object.keys(fields).some(function (key) {
      return key.toLowerCase() === name;
    });
  }

  function show(box, state, text) {
    box.dataset.state = state;
    box.querySelector(".alioss-direct-upload-status").textContent = text;
  }

  function upload(box, ticket, file) {
    var hidden = box.querySelector("input[type=hidden]");
    var progress = box.querySelector("progress");
    var fields = ticket.fields;
    var prefix = fields.key.slice(0, fields.key.length - PLACEHOLDER.length);
    var name = safeName(file.name);
    var stored = newSlot() + "/" + name;
    var data = new FormData();
    Object.keys(fields).forEach(function (key) {
      data.append(key, key === "key" ? prefix + stored : fields[key]);
    });
    if (!hasField(fields, "content-type")) {
      data.append("Content-Type", file.type || "application/octet-stream");
    }
    data.append("file", file); // OSS wants the file last

    var xhr = new XMLHttpRequest();
    hidden.value = "";
    progress.hidden = false;
    progress.value = 0;
    show(box, "uploading", "Uploading " + name + "...");
    xhr.upload.addEventListener("progress", function (event) {
      if (event.lengthComputable) {
        progress.value = Math.round((100 * event.loaded) / event.total);
        show(box, "uploading", "Uploading " + name + ": " + progress.value + "%");
      }
    });
    xhr.addEventListener("load", function () {
      if (xhr.status >= 200 && xhr.status < 300) {
        progress.value = 100;
        hidden.value = JSON.stringify({ token: ticket.token, name: stored });
        show(box, "done", "Uploaded " + name);
      } else {
        progress.hidden = true;
        show(box, "error", "Upload failed: " + errorText(xhr));
      }
    });
    xhr.addEventListener("error", function () {
      progress.hidden = true;
      show(box, "error", "Upload failed: the bucket did not answer this page (its CORS " +
        "rules must allow this origin: manage.py alioss_cors set)");
    });
    xhr.open("POST", ticket.url);
    xhr.send(data);
  }

  function setup(box) {
    // The admin's hidden template row (.empty-form) is set up once copied.
    if (box.dataset.aliossReady || !box.dataset.aliossUpload || box.closest(".empty-form")) {
      return;
    }
    box.dataset.aliossReady = "1";
    var ticket = JSON.parse(box.dataset.aliossUpload);
    var input = box.querySelector("input[type=file]");
    input.addEventListener("change", function () {
      if (input.files.length) {
        upload(box, ticket, input.files[0]);
      }
    });
    var form = box.closest("form");
    if (form) {
      form.addEventListener("submit", function (event) {
        if (box.dataset.state === "uploading") {
          event.preventDefault();
          show(box, "uploading", "Wait for the upload to finish, then save again.");
        }
      });
    }
  }

  function setupAll(root) {
    root.querySelectorAll("[data-alioss-upload]").forEach(setup);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { setupAll(document); });
  } else {
    setupAll(document);
  }
  // Rows the admin adds to inline formsets.
  document.addEventListener("formset:added", function (event) { setupAll(event.target); });
}());
