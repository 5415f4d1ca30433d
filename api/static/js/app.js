// The pages work without JavaScript; this only adds conveniences (no inline scripts: CSP).
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // Print button of the score page.
  document.querySelectorAll("[data-print]").forEach((button) => {
    button.addEventListener("click", () => window.print());
  });

  // Drag and drop a file onto the upload box.
  document.querySelectorAll("[data-dropzone]").forEach((zone) => {
    const input = zone.querySelector("input[type=file]");
    const chosen = zone.querySelector("[data-chosen]");
    const show = () => { chosen.textContent = input.files.length ? input.files[0].name : ""; };
    input.addEventListener("change", show);
    ["dragenter", "dragover"].forEach((name) => zone.addEventListener(name, (event) => {
      event.preventDefault();
      zone.classList.add("dragging");
    }));
    ["dragleave", "drop"].forEach((name) => zone.addEventListener(name, () => {
      zone.classList.remove("dragging");
    }));
    zone.addEventListener("drop", (event) => {
      event.preventDefault();
      if (event.dataTransfer.files.length) {
        input.files = event.dataTransfer.files;
        show();
      }
    });
  });

  // A table wider than the page scrolls in its box: the box becomes a named region in the
  // tab order, so it can be scrolled with the keyboard too (WCAG 2.1.1). Only boxes that
  // scroll get a tab stop; a phone turned on its side is measured again.
  const tableBoxes = document.querySelectorAll(".table-wrap");
  const reachTables = () => tableBoxes.forEach((box) => {
    if (box.scrollWidth > box.clientWidth) {
      const caption = box.querySelector("caption");
      let heading = box.previousElementSibling;
      while (heading && !/^H[1-6]$/.test(heading.tagName)) heading = heading.previousElementSibling;
      box.setAttribute("tabindex", "0");
      box.setAttribute("role", "region");
      const name = caption || heading || document.querySelector("h1");
      box.setAttribute("aria-label", name.textContent.trim());
    } else {
      ["tabindex", "role", "aria-label"].forEach((name) => box.removeAttribute(name));
    }
  });
  reachTables();
  window.addEventListener("resize", reachTables);

  // A queued or running batch: poll its progress, reload when it is finished.
  document.querySelectorAll("[data-progress-url]").forEach((box) => {
    const bar = box.querySelector("progress");
    const text = box.querySelector("[data-progress-text]");
    const poll = async () => {
      const response = await fetch(box.dataset.progressUrl, { headers: { Accept: "application/json" } });
      if (!response.ok) return;
      const state = await response.json();
      if (state.status !== "queued" && state.status !== "running") {
        window.location.reload();
        return;
      }
      if (state.rows_total) bar.max = state.rows_total;
      bar.value = state.rows_done || 0;
      text.textContent = state.rows_total ? `${state.rows_done} / ${state.rows_total}` : `${state.rows_done}`;
      window.setTimeout(poll, 1500);
    };
    window.setTimeout(poll, 1000);
  });
});
