// <button data-download-from="#id" data-filename="name.txt">: saves the element's text
// as a file, made in the browser (a blob URL), so the secret never travels again.

import { announce } from "./common.js";

for (const button of document.querySelectorAll("button[data-download-from]")) {
  const source = document.querySelector(button.dataset.downloadFrom);
  if (!source) continue;
  button.hidden = false;
  button.addEventListener("click", () => {
    const text = `${source.textContent.trim()}\n`;
    const url = URL.createObjectURL(new Blob([text], { type: "text/plain;charset=utf-8" }));
    const link = document.createElement("a");
    link.href = url;
    link.download = button.dataset.filename || "strongroom.txt";
    document.body.append(link);
    link.click();
    link.remove();
    window.setTimeout(() => URL.revokeObjectURL(url), 1000);
    announce(button, `Saved as ${link.download}.`);
  });
}
