// The preferences page's time zone field: while it still holds the default (UTC), offer the
// browser's own zone in it, and say so; nothing is saved until the reader presses Save. The
// field is a plain text input and works the same without this script.
(function () {
  "use strict";
  var field = document.getElementById("timezone");
  if (!field || field.getAttribute("data-suggest") !== "browser") return;
  var zone = "";
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  } catch (error) {
    return;
  }
  if (!zone || zone === field.value || !/^[A-Za-z0-9_+\-\/]{1,64}$/.test(zone)) return;
  field.value = zone;
  var note = document.getElementById("timezone-note");
  if (note) {
    note.textContent = "Filled in from your browser: press Save to keep it.";
    note.hidden = false;
  }
})();
