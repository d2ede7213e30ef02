// Two read-outs of form fields: the Train button says how many steps it will train, the
// temperature slider shows its value.

import { thousands } from "./format.js";

// From the steps field, as typed; after every re-render of the buttons too (each status event
// re-renders them with the default). An invalid number leaves just "Train": the server names
// what is wrong when it is pressed.
function trainLabel() {
  const span = document.querySelector("[data-testid=train] .train-steps");
  const field = document.getElementById("steps");
  if (!span || !field) return;
  const n = Number(field.value);
  const ok = field.value.trim() !== "" && Number.isInteger(n) && n >= 1 && n <= Number(field.max);
  const text = ok ? `${thousands(n)} step${n === 1 ? "" : "s"}` : "";
  if (span.textContent !== text) span.textContent = text;
}

export function startReadouts() {
  const controlsBox = document.getElementById("controls");
  if (controlsBox) {
    // a morph may change only the label's text node: characterData, not childList
    const watch = { childList: true, subtree: true, characterData: true };
    new MutationObserver(trainLabel).observe(controlsBox, watch);
  }
  trainLabel();
  document.addEventListener("input", (evt) => {
    const t = evt.target;
    if (t.id === "temperature" && t.form?.elements.t_out) {
      t.form.elements.t_out.value = String(Number(t.value)); // as the server's %g: 0.5, 1, 0.07
    } else if (t.id === "steps") {
      trainLabel();
    }
  });
}
