// Copy buttons: a button with data-copy="ID" copies the value (or text) of the element ID
// and says so in its data-copied text. Without JavaScript the link stays selectable.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-copy]").forEach((button) => {
    const source = document.getElementById(button.dataset.copy);
    button.hidden = !source || !navigator.clipboard;
    button.addEventListener("click", async () => {
      const text = source.value !== undefined ? source.value : source.textContent;
      try {
        await navigator.clipboard.writeText(text.trim());
        button.textContent = button.dataset.copied;
      } catch (error) {
        source.select && source.select();
      }
    });
  });
});
