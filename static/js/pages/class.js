// The class pages (templates/class_base.html): the class chart (teacher's view, projector),
// the projector's waiting screen following the spotlight, and the Copy buttons.

import { startClassChart } from "../class-chart.js";
import { followSpotlight } from "../spotlight.js";

// A button with data-copy="ID" copies #ID's value; on a page not served over https (no
// clipboard API) it selects the text for the user to copy. It is served disabled, and enabled
// here, so that a click before this module has loaded is not silently lost.
const enableCopyButtons = () => {
  for (const button of document.querySelectorAll("[data-copy]")) button.disabled = false;
};
enableCopyButtons();
document.addEventListener("htmx:after:swap", enableCopyButtons);

document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const field = document.getElementById(button.dataset.copy);
  if (!field) return;
  field.select();
  try {
    await navigator.clipboard.writeText(field.value);
    button.textContent = "Copied";
  } catch (e) {
    button.textContent = "Selected: copy it";
  }
});

startClassChart();
followSpotlight();
