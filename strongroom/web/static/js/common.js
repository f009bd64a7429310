// Small behaviours every page may use; each one is opt-in by a data- attribute, so
// pages work without JavaScript and gain these when it runs.
//   <form data-confirm="Delete this file?">  asks before submitting
//   <button data-copy="text"> or data-copy-from="#id"  copies to the clipboard
//   <time datetime="...">  is shown in the reader's own time zone

export function announce(target, message) {
  const live = target.closest("[aria-live]") || document.querySelector(".flashes");
  if (!live) return;
  const note = document.createElement("p");
  note.className = "notice";
  note.setAttribute("role", "status");
  note.textContent = message;
  live.replaceChildren(note);
}

function confirmForms() {
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  }
}

function copyButtons() {
  for (const button of document.querySelectorAll("[data-copy], [data-copy-from]")) {
    button.hidden = false;
    button.addEventListener("click", async () => {
      const source = button.dataset.copyFrom && document.querySelector(button.dataset.copyFrom);
      const text = source ? (source.value ?? source.textContent) : button.dataset.copy;
      try {
        await navigator.clipboard.writeText(text.trim());
        announce(button, "Copied to the clipboard.");
      } catch {
        if (source && source.select) source.select();
        announce(button, "Could not copy: select the text and copy it yourself.");
      }
    });
  }
}

// Exported for pages that put new content in place (the uploader's refreshed list).
export function localTimes(root = document) {
  const format = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
  for (const element of root.querySelectorAll("time[datetime]")) {
    const moment = new Date(element.getAttribute("datetime"));
    if (Number.isNaN(moment.getTime())) continue;
    element.title = element.textContent.trim();
    element.textContent = format.format(moment);
  }
}

confirmForms();
copyButtons();
localTimes();
